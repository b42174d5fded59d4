"""Catalog errors: every problem found, each with file, line, field and the fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    file: str
    line: int | None  # 1-based; None when the problem is not tied to one line
    field: str  # dotted path, e.g. services[3].probes[0].http.url
    message: str  # what is wrong and what is expected

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


class CatalogError(Exception):
    """The catalog is invalid; ``issues`` lists every problem found, in file and line order."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.file, i.line or 0, i.field))
        super().__init__("\n".join(str(i) for i in self.issues))
