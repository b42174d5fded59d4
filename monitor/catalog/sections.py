"""Validate each document's sections item by item, so one broken service does not hide the
errors of the others, and keep every item together with where it was written.

An item with errors is kept too, with the fields that are readable on their own, so that the
cross-checks (references, duplicate ids, timeouts, ...) still run on them: the author sees a
bad ``level`` and a dangling ``curator`` of one service at once, not one after the other.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from monitor.catalog.errors import Issue
from monitor.catalog.messages import describe, relevant, unknown_key
from monitor.catalog.model import (
    Catalog,
    Curator,
    Defaults,
    LifeSituation,
    Platform,
    Region,
    Service,
    Standard,
)
from monitor.catalog.source import DataPath, Document

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

INCLUDE_KEY = "include"
# Top-level keys starting with x- are ignored: a place for YAML anchors (the Compose convention).
EXTENSION_PREFIX = "x-"
TOP_LEVEL_KEYS = [*Catalog.model_fields, INCLUDE_KEY]
# Where each list item's id lives; used for references even when the item itself is invalid.
ID_KEYS = {"regions": "code", "curators": "id", "life_situations": "id", "services": "id",
           "platforms": "id"}


@dataclass(frozen=True)
class Located(Generic[M]):
    value: M
    doc: Document
    path: DataPath
    # None when the item validated. Otherwise the fields that could be read on their own: then
    # ``value`` is built with ``model_construct`` from just those (and defaults), and only they
    # may be looked at. Such an item has issues already, so it never reaches a built Catalog.
    readable: frozenset[str] | None = None
    # A list field of which only some items validated: the kept items' indices in the file.
    kept: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.readable is None

    def has(self, *names: str) -> bool:
        """Whether every one of these fields holds what the author wrote (or its default)."""
        return self.readable is None or all(name in self.readable for name in names)

    def indexed(self, name: str, items: Iterable[T]) -> list[tuple[int, T]]:
        """The items of list field ``name`` with their index in the file."""
        items = list(items)
        return list(zip(self.kept.get(name, range(len(items))), items, strict=True))

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
    """The merged catalog's items, valid or readable in part (``Located.readable``).
    ``standard``/``defaults`` stay None when absent; when given, later checks use only their
    readable fields rather than compare against a value the author did not mean."""

    standard: Located[Standard] | None = None
    defaults: Located[Defaults] | None = None
    # Whether any file has a services: key (an explicit empty list counts).
    services_given: bool = False
    regions: list[Located[Region]] = field(default_factory=list)
    curators: list[Located[Curator]] = field(default_factory=list)
    life_situations: list[Located[LifeSituation]] = field(default_factory=list)
    services: list[Located[Service]] = field(default_factory=list)
    platforms: list[Located[Platform]] = field(default_factory=list)
    @property
    def probed(self) -> list[Located[Any]]:  # Located is invariant: Service | Platform
        """Everything that has probes: the services, then the platforms."""
        return [*self.services, *self.platforms]

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
            sections.standard = standard
        given, defaults = _validate_once(doc, "defaults", Defaults, single_seen, issues)
        if given:
            sections.defaults = defaults
        if data.get("services") is not None:
            sections.services_given = True
        issues += _validate_list(doc, "regions", Region, sections.regions, sections)
        issues += _validate_list(doc, "curators", Curator, sections.curators, sections)
        issues += _validate_list(
            doc, "life_situations", LifeSituation, sections.life_situations, sections
        )
        issues += _validate_list(doc, "services", Service, sections.services, sections)
        issues += _validate_list(doc, "platforms", Platform, sections.platforms, sections)
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
    # Given but not even a mapping: nothing of it is known.
    return True, located or Located(model.model_construct(), doc, (key,), frozenset())


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
    """The item (complete, or readable in part; None when not even a mapping) and its issues."""
    try:
        return Located(model.model_validate(data), doc, path), []
    except ValidationError as exc:
        errors = exc.errors()
        issues = [
            doc.issue((*path, *error["loc"]), describe(error, model)) for error in relevant(errors)
        ]
        return _readable_part(model, data, errors, doc, path), issues


def _readable_part(
    model: type[M], data: Any, errors: list[ErrorDetails], doc: Document, path: DataPath
) -> Located[M] | None:
    """What can be read of an invalid item: each field without an error, validated on its own;
    of a list field with errors, the items that validate on their own."""
    if not isinstance(data, dict):
        return None
    bad = {error["loc"][0] for error in errors if error["loc"]}
    values: dict[str, Any] = {}
    readable: set[str] = set()
    kept: dict[str, tuple[int, ...]] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in data:
            if key not in bad:  # the default applies (a required key missing is in ``bad``)
                readable.add(name)
            continue
        raw = data[key]
        if key not in bad:
            try:
                values[name] = _field_adapter(model, name).validate_python(raw)
            except ValidationError:
                continue
            readable.add(name)
            continue
        element = _list_element(info)
        if element is not None and isinstance(raw, list):
            good: list[tuple[int, Any]] = []
            for index, item in enumerate(raw):
                try:
                    good.append((index, _adapter(element).validate_python(item)))
                except ValidationError:
                    continue
            values[name] = tuple(value for _, value in good)
            kept[name] = tuple(index for index, _ in good)
            readable.add(name)
    return Located(model.model_construct(**values), doc, path, frozenset(readable), kept)


_ANNOTATED: Any = Annotated  # subscripted with a runtime tuple, which type checkers refuse


@functools.cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:  # the field's constraints: pattern, min_length, ...
        annotation = _ANNOTATED[(annotation, *info.metadata)]
    return TypeAdapter(annotation)


@functools.cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _list_element(info: FieldInfo) -> Any | None:
    """``X`` for a field of type ``tuple[X, ...]``, else None."""
    args = get_args(info.annotation)
    if get_origin(info.annotation) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None
