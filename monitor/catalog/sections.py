"""Validate each document's sections item by item, so one broken service does not hide the
errors of the others, and keep every valid item together with where it was written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from monitor.catalog.errors import Issue
from monitor.catalog.messages import describe, relevant, unknown_key
from monitor.catalog.model import (
    Catalog,
    Curator,
    Defaults,
    LifeSituation,
    Region,
    Service,
    Standard,
)
from monitor.catalog.source import DataPath, Document

M = TypeVar("M", bound=BaseModel)

INCLUDE_KEY = "include"
# Top-level keys starting with x- are ignored: a place for YAML anchors (the Compose convention).
EXTENSION_PREFIX = "x-"
TOP_LEVEL_KEYS = [*Catalog.model_fields, INCLUDE_KEY]
# Where each list item's id lives; used for references even when the item itself is invalid.
ID_KEYS = {"regions": "code", "curators": "id", "life_situations": "id", "services": "id"}


@dataclass(frozen=True)
class Located(Generic[M]):
    value: M
    doc: Document
    path: DataPath

    def issue(self, sub: DataPath, message: str) -> Issue:
        return self.doc.issue((*self.path, *sub), message)

    def where(self, sub: DataPath, seen_from: Document) -> str:
        """``line 8`` when seen from the same file, else ``path/file.yaml:8``."""
        line = self.doc.line((*self.path, *sub))
        if seen_from is self.doc:
            return f"line {line}"
        return f"{self.doc.file}:{line}"


@dataclass
class Sections:
    """The merged catalog's valid parts. ``standard``/``defaults`` stay None when absent; the
    ``*_ok`` flags say whether the one given validated, so later checks can skip rather than
    compare against a value the author did not mean."""

    standard: Located[Standard] | None = None
    defaults: Located[Defaults] | None = None
    standard_ok: bool = True
    defaults_ok: bool = True
    # Whether any file has a services: key (an explicit empty list counts).
    services_given: bool = False
    regions: list[Located[Region]] = field(default_factory=list)
    curators: list[Located[Curator]] = field(default_factory=list)
    life_situations: list[Located[LifeSituation]] = field(default_factory=list)
    services: list[Located[Service]] = field(default_factory=list)
    # Every id written, valid item or not: a typo inside a curator should not also report
    # every service that names that curator.
    known_ids: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in ID_KEYS})


def validate_documents(docs: list[Document]) -> tuple[Sections, list[Issue]]:
    sections = Sections()
    issues: list[Issue] = []
    single_seen: dict[str, str] = {}  # standard/defaults -> where first defined
    for doc in docs:
        data: dict[Any, Any] = doc.data
        for key in data:
            if key not in TOP_LEVEL_KEYS and not str(key).startswith(EXTENSION_PREFIX):
                issues.append(doc.issue((key,), unknown_key(str(key), TOP_LEVEL_KEYS)))
        given, standard = _validate_once(doc, "standard", Standard, single_seen, issues)
        if given:
            sections.standard, sections.standard_ok = standard, standard is not None
        given, defaults = _validate_once(doc, "defaults", Defaults, single_seen, issues)
        if given:
            sections.defaults, sections.defaults_ok = defaults, defaults is not None
        if data.get("services") is not None:
            sections.services_given = True
        issues += _validate_list(doc, "regions", Region, sections.regions, sections)
        issues += _validate_list(doc, "curators", Curator, sections.curators, sections)
        issues += _validate_list(
            doc, "life_situations", LifeSituation, sections.life_situations, sections
        )
        issues += _validate_list(doc, "services", Service, sections.services, sections)
    return sections, issues


def _validate_once(
    doc: Document, key: str, model: type[M], seen: dict[str, str], issues: list[Issue]
) -> tuple[bool, Located[M] | None]:
    """(whether this document defines the section, its value if valid). A section that may
    appear once overall and is repeated is reported and otherwise ignored."""
    if key not in doc.data:
        return False, None
    if key in seen:
        message = f"{key} is already defined at {seen[key]}; define it in one file only"
        issues.append(doc.issue((key,), message))
        return False, None
    seen[key] = f"{doc.file}:{doc.line((key,))}"
    located, problems = _validate(model, doc.data[key], doc, (key,))
    issues += problems
    return True, located


def _validate_list(
    doc: Document, key: str, model: type[M], into: list[Located[M]], sections: Sections
) -> list[Issue]:
    items = doc.data.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        return [
            doc.issue(
                (key,), f"expected a list of {key.replace('_', ' ')}, each starting with '- '"
            )
        ]
    issues: list[Issue] = []
    for index, item in enumerate(items):
        ident = item.get(ID_KEYS[key]) if isinstance(item, dict) else None
        if isinstance(ident, str):
            sections.known_ids[key].add(ident)
        located, problems = _validate(model, item, doc, (key, index))
        issues += problems
        if located is not None:
            into.append(located)
    return issues


def _validate(
    model: type[M], data: Any, doc: Document, path: DataPath
) -> tuple[Located[M] | None, list[Issue]]:
    try:
        return Located(model.model_validate(data), doc, path), []
    except ValidationError as exc:
        return None, [
            doc.issue((*path, *error["loc"]), describe(error, model))
            for error in relevant(exc.errors())
        ]
