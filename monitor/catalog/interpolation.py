"""``${NAME}`` and ``${NAME:-default}`` in string values, from the environment.

Secrets stay out of the catalog files this way. ``$${`` is a literal ``${``. As in the shell,
``:-`` also applies when the variable is set but empty. Keys are never interpolated.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from monitor.catalog.errors import Issue
from monitor.catalog.source import DataPath, Document

_TOKEN_RE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_NAME_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)

Substitution = tuple[str, str]  # (variable name, value used)


class InterpolationError(ValueError):
    pass


def expand(text: str, env: Mapping[str, str]) -> tuple[str, list[Substitution]]:
    """The text with every reference replaced; raises InterpolationError naming the problem."""
    used: list[Substitution] = []

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$${":
            return "${"
        if match.group(1) is None:
            raise InterpolationError("unclosed '${'; write ${NAME}, or $${ for a literal '${'")
        ref = _NAME_RE.match(match.group(1))
        if ref is None:
            raise InterpolationError(
                f"{token!r} is not a variable reference; write ${{NAME}} or ${{NAME:-default}} "
                "(NAME: letters, digits, _), or $${ for a literal '${'"
            )
        name, default = ref.group(1), ref.group(2)
        value = env.get(name)
        if default is not None and not value:
            return default
        if value is None:
            raise InterpolationError(
                f"environment variable {name} is not set; set it, or give a default: "
                f"${{{name}:-default}}"
            )
        used.append((name, value))
        return value

    return _TOKEN_RE.sub(replace, text), used


def interpolate(doc: Document, env: Mapping[str, str]) -> tuple[Document, list[Issue]]:
    issues: list[Issue] = []
    substitutions: dict[DataPath, tuple[Substitution, ...]] = {}

    def walk(value: Any, path: DataPath) -> Any:
        if isinstance(value, str):
            if "$" not in value:
                return value
            try:
                text, used = expand(value, env)
            except InterpolationError as exc:
                issues.append(doc.issue(path, str(exc)))
                return value
            if used:
                substitutions[path] = tuple(used)
            return text
        if isinstance(value, list):
            return [walk(item, (*path, i)) for i, item in enumerate(value)]
        if isinstance(value, dict):
            return {key: walk(item, (*path, key)) for key, item in value.items()}
        return value

    data = walk(doc.data, ())
    return dataclasses.replace(doc, data=data, substitutions=substitutions), issues
