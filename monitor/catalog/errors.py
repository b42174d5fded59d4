"""Catalog errors: every problem found, each with file, line, field and the fix.

Every issue renders as ``file:line: field: message`` on one line. A problem with a file as a
whole (missing, too large, not UTF-8, YAML it cannot read, a top level that is not a mapping)
has no key path: its field is ``(file)``, and its line is where the YAML text goes wrong, or 1
when no line applies.
"""

from __future__ import annotations

from dataclasses import dataclass

FILE_FIELD = "(file)"
WHOLE_FILE_LINE = 1


@dataclass(frozen=True, slots=True)
class Issue:
    file: str
    line: int  # 1-based; WHOLE_FILE_LINE when the problem is not tied to one line
    field: str  # dotted path, e.g. services[3].probes[0].http.url, or FILE_FIELD
    message: str  # what is wrong and what is expected

    def __post_init__(self) -> None:
        # The shape holds whoever builds the issue: a positive line, a field, and one line of
        # printable text (a key or value with a line break or a terminal escape in it must
        # neither split the report nor reach the author's terminal raw).
        object.__setattr__(self, "line", max(self.line, WHOLE_FILE_LINE))
        object.__setattr__(self, "field", one_line(self.field) or FILE_FIELD)
        object.__setattr__(self, "message", one_line(self.message))
        object.__setattr__(self, "file", one_line(self.file))

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


def clip(text: str, limit: int = 64) -> str:
    """``text`` cut to ``limit`` characters: a hostile or mistaken 1 MB key or value must not
    become a 1 MB error line."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped as in Python."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class CatalogError(Exception):
    """The catalog is invalid; ``issues`` lists every problem found, in file and line order."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.file, i.line, i.field))
        super().__init__("\n".join(str(i) for i in self.issues))
