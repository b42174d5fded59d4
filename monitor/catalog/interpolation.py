"""``${NAME}``, ``${NAME:-default}`` and ``${file:/path}`` in string values.

Secrets stay out of the catalog files this way. ``$${`` is a literal ``${``. As in the shell,
``:-`` also applies when the variable is set but empty. Keys are never interpolated.
``${file:PATH}`` is the file's contents without trailing newlines (Docker/Kubernetes secret
files); a relative PATH is relative to the catalog file's directory.

Inside a ``journey:`` mapping, ``${name}`` of a variable that one of its steps extracts is
left as written: the journey fills it at run time (see probes/journey/extract.py). So is a
lower-case ``${name}`` set neither way: the journey's own validation reports it, once.

Every substitution is recorded (name, value) so that messages can show ``${NAME}`` instead
of the value, and the loader can treat the values as secrets.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from monitor.catalog.errors import Issue
from monitor.catalog.source import DataPath, Document

_TOKEN_RE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_NAME_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)
_FILE_PREFIX = "file:"
_JOURNEY_VAR_RE = re.compile(r"^[a-z_][a-z0-9_]*$")  # probes.journey.extract.VAR_NAME_PATTERN
MAX_SECRET_FILE_BYTES = 64 * 1024

Substitution = tuple[str, str]  # (variable name or "file:PATH", value used)


class InterpolationError(ValueError):
    pass


def expand(
    text: str,
    env: Mapping[str, str],
    *,
    base: Path | None = None,
    keep: Collection[str] | None = None,
) -> tuple[str, list[Substitution]]:
    """The text with every reference replaced; raises InterpolationError naming the problem.

    ``base``: the directory relative ``${file:...}`` paths start from (default: the current
    directory). ``keep``: inside a journey, the names left as written (its own variables)."""
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
        if default is None and keep is not None and name in keep:
            return token
        value = env.get(name)
        if default is not None and not value:
            return default
        if value is None:
            if keep is not None and _JOURNEY_VAR_RE.match(name):
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


def _journey_variables(journey: Any) -> frozenset[str]:
    """Names extracted by any step of a ``journey:`` mapping, however malformed otherwise."""
    steps = journey.get("steps") if isinstance(journey, dict) else None
    if not isinstance(steps, list):
        return frozenset()
    return frozenset(
        name
        for step in steps
        if isinstance(step, dict) and isinstance(step.get("extract"), dict)
        for name in step["extract"]
        if isinstance(name, str)
    )


def _scope(key: object, value: Any, keep: frozenset[str] | None) -> frozenset[str] | None:
    """The journey variables in scope below ``key``: a ``journey:`` mapping opens its own."""
    return _journey_variables(value) if key == "journey" else keep


def interpolate(doc: Document, env: Mapping[str, str]) -> tuple[Document, list[Issue]]:
    issues: list[Issue] = []
    substitutions: dict[DataPath, tuple[Substitution, ...]] = {}
    base = Path(doc.file).parent

    def walk(value: Any, path: DataPath, keep: frozenset[str] | None) -> Any:
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
