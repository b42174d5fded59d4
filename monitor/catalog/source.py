"""A parsed catalog file that remembers where every key and list item was written.

Paths are tuples of mapping keys and list indices, the same shape as a pydantic error ``loc``,
so an error anywhere in the data can be traced back to a line by its longest known prefix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.catalog.errors import WHOLE_FILE_LINE, Issue, clip

PathKey = str | int
DataPath = tuple[PathKey, ...]

# List items are named by their id rather than their index, so a message still points at the
# right service after someone inserts another one above it.
_ITEM_KEYS = {
    "services": "id",
    "curators": "id",
    "life_situations": "id",
    "regions": "code",
    "probes": "name",
}
_LABEL_RE = re.compile(r"^[^\[\]\s]{1,80}$")
# A key written as is in a field path; any other (blank, padded, with a colon) is quoted.
_PLAIN_KEY_RE = re.compile(r"^[^\s:'\"](?:[^:]*[^\s:])?$")


@dataclass(frozen=True)
class Document:
    file: str  # as shown to the author: the path they gave, joined with include patterns
    data: Any  # plain dicts, lists and scalars
    lines: Mapping[DataPath, int]  # 1-based line of every mapping key and list item
    # Environment values substituted at a path, so messages can show ${NAME} instead of a secret.
    substitutions: Mapping[DataPath, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def line(self, path: DataPath) -> int:
        """The line of ``path``, else of its longest prefix written in the file."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return WHOLE_FILE_LINE

    def field(self, path: DataPath) -> str:
        return format_field(self.data, path)

    def issue(self, path: DataPath, message: str) -> Issue:
        return Issue(self.file, self.line(path), self.field(path), self._redact(path, message))

    def _redact(self, path: DataPath, message: str) -> str:
        for where, pairs in self.substitutions.items():
            related = where[: len(path)] == path or path[: len(where)] == where
            if not related:
                continue
            for name, value in pairs:
                if value:
                    message = message.replace(value, "${" + name + "}")
        return message


def format_field(data: Any, path: DataPath) -> str:
    """``services[kindergarten-smo].probes[portal].http.url``; indices where no id is known."""
    parts: list[str] = []
    node: Any = data
    parent: PathKey | None = None
    for key in path:
        if isinstance(key, int):
            item = node[key] if isinstance(node, list) and 0 <= key < len(node) else None
            label = str(key)
            id_key = _ITEM_KEYS.get(parent) if isinstance(parent, str) else None
            if id_key is not None and isinstance(item, dict):
                ident = item.get(id_key)
                if isinstance(ident, str) and _LABEL_RE.match(ident):
                    label = ident
            if parts:
                parts[-1] += f"[{label}]"
            else:
                parts.append(f"[{label}]")
            node = item
        else:
            text = str(key)
            text = clip(text)
            # A key that is blank, padded or holds a colon is quoted, so that the error still
            # reads as file:line: field: message (hypothesis found the key ' ').
            parts.append(text if _PLAIN_KEY_RE.match(text) else repr(text))
            node = node.get(key) if isinstance(node, dict) else None
        parent = key
    return ".".join(parts)
