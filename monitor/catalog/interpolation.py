"""``${NAME}``, ``${NAME:-default}`` and ``${file:/path}`` in string values.

Secrets stay out of the catalog files this way. ``$${`` is a literal ``${``. As in the shell,
``:-`` also applies when the variable is set but empty. Keys are never interpolated.
``${file:PATH}`` is the file's contents without trailing newlines (Docker/Kubernetes secret
files); a relative PATH is relative to the catalog file's directory.

Inside a probe kind's mapping (a key named after a kind in ``probes.KINDS``), the variables
the kind fills at run time are left as written: its spec's ``run_variables`` says which.

Every substitution is recorded (name, value) so that messages can show ``${NAME}`` instead
of the value, and the loader can treat the values as secrets.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitor.catalog.errors import Issue
from monitor.catalog.source import DataPath, Document
from probes import KINDS, RunVariables

_RUN_VARIABLES = {kind.name: kind.spec.run_variables for kind in KINDS}

_TOKEN_RE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_NAME_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)
_FILE_PREFIX = "file:"
MAX_SECRET_FILE_BYTES = 64 * 1024

Substitution = tuple[str, str]  # (variable name or "file:PATH", value used)


class InterpolationError(ValueError):
    pass


def expand(
    text: str,
    env: Mapping[str, str],
    *,
    base: Path | None = None,
    keep: RunVariables | None = None,
) -> tuple[str, list[Substitution]]:
    """The text with every reference replaced; raises InterpolationError naming the problem.

    ``base``: the directory relative ``${file:...}`` paths start from (default: the current
    directory). ``keep``: inside a kind's mapping, the variables it fills at run time, left as
    written."""
    used: list[Substitution] = []

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$${":
            return "${"
        if match.group(1) is None:
            raise InterpolationError("unclosed '${'; write ${NAME}, or $${ for a literal '${'")
        if match.group(1).startswith(_FILE_PREFIX):
            contents = _read_secret_file(match.group(1)[len(_FILE_PREFIX) :], base)
            used.append((match.group(1), contents))
            return contents
        ref = _NAME_RE.match(match.group(1))
        if ref is None:
            raise InterpolationError(
                f"{token!r} is not a variable reference; write ${{NAME}}, ${{NAME:-default}} "
                "or ${file:/path/to/secret} (NAME: letters, digits, _), or $${ for a literal '${'"
            )
        name, default = ref.group(1), ref.group(2)
        if default is None and keep is not None and name in keep.names:
            return token
        value = env.get(name)
        if default is not None and not value:
            return default
        if value is None:
            if keep is not None and re.match(keep.pattern, name):
                return token
            raise InterpolationError(
                f"environment variable {name} is not set; set it, or give a default: "
                f"${{{name}:-default}}"
            )
        used.append((name, value))
        return value

    return _TOKEN_RE.sub(replace, text), used


def _read_secret_file(path: str, base: Path | None) -> str:
    if not path:
        raise InterpolationError("${file:} needs a path, e.g. ${file:/run/secrets/portal}")
    file = Path(path)
    if base is not None and not file.is_absolute():
        file = base / file
    try:
        with file.open("rb") as fh:
            raw = fh.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:  # the message names the path, never any content
        raise InterpolationError(
            f"cannot read secret file {str(file)!r}: {exc.strerror or type(exc).__name__}"
        ) from None
    if len(raw) > MAX_SECRET_FILE_BYTES:
        raise InterpolationError(
            f"secret file {str(file)!r} is larger than {MAX_SECRET_FILE_BYTES // 1024} KiB"
        )
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise InterpolationError(f"secret file {str(file)!r} is not UTF-8 text") from None


def _scope(key: object, value: Any, keep: RunVariables | None) -> RunVariables | None:
    """The run-time variables in scope below ``key``: a kind's mapping may open its own."""
    run_variables = _RUN_VARIABLES.get(key) if isinstance(key, str) else None
    scope = run_variables(value) if run_variables is not None else None
    return keep if scope is None else scope


def interpolate(doc: Document, env: Mapping[str, str]) -> tuple[Document, list[Issue]]:
    issues: list[Issue] = []
    substitutions: dict[DataPath, tuple[Substitution, ...]] = {}
    base = Path(doc.file).parent

    def walk(value: Any, path: DataPath, keep: RunVariables | None) -> Any:
        if isinstance(value, str):
            if "$" not in value:
                return value
            try:
                text, used = expand(value, env, base=base, keep=keep)
            except InterpolationError as exc:
                issues.append(doc.issue(path, str(exc)))
                return value
            if used:
                substitutions[path] = tuple(used)
            return text
        if isinstance(value, list):
            return [walk(item, (*path, i), keep) for i, item in enumerate(value)]
        if isinstance(value, dict):
            return {
                key: walk(item, (*path, key), _scope(key, item, keep))
                for key, item in value.items()
            }
        return value

    data = walk(doc.data, (), None)
    return dataclasses.replace(doc, data=data, substitutions=substitutions), issues
