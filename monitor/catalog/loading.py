"""``load_catalog``: find the files, parse, validate every item, cross-check, build.

Nothing is built unless everything is valid; otherwise one ``CatalogError`` lists every issue.

Every value taken from the environment or a ``${file:...}`` is a secret (defaults are not):
the built catalog carries them in ``Catalog.secrets`` for the log redaction, and no issue
message may contain one. Messages about the field holding a secret already show ``${NAME}``
(``Document.issue``); a last pass here blanks a secret wherever else a message quotes it.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from monitor.catalog.checks import check_catalog
from monitor.catalog.errors import CatalogError, Issue
from monitor.catalog.includes import collect_documents
from monitor.catalog.model import Catalog, Defaults, Standard
from monitor.catalog.sections import Sections, validate_documents
from monitor.catalog.source import Document

# Shorter values are too likely to occur by chance ("on", "80") to blank them everywhere.
MIN_SECRET_LENGTH = 4
REDACTED = "***"


def load_catalog(path: str | Path, env: Mapping[str, str] | None = None) -> Catalog:
    """Load a catalog file, or every ``*.yaml``/``*.yml`` directly in a directory, merged.

    ``env`` supplies ``${NAME}`` values (default: ``os.environ``). Raises ``CatalogError``
    with every problem found, each with file, line and field.
    """
    collected = collect_documents(Path(path), os.environ if env is None else env)
    documents, issues = collected.documents, collected.issues
    secrets = secret_values(documents)
    sections, problems = validate_documents(documents)
    issues += problems
    issues += check_catalog(sections)
    if collected.complete:  # else the services may be in a file that could not be read
        issues += _services_given(documents, sections)
    if issues:
        raise CatalogError([_redact(issue, secrets) for issue in issues])
    assert all(s.complete for s in sections.probed), "an item with errors but no issue"
    catalog = Catalog(
        standard=sections.standard.value if sections.standard else Standard(),
        defaults=sections.defaults.value if sections.defaults else Defaults(),
        regions=tuple(r.value for r in sections.regions),
        curators=tuple(c.value for c in sections.curators),
        life_situations=tuple(s.value for s in sections.life_situations),
        services=tuple(s.value for s in sections.services),
        platforms=tuple(p.value for p in sections.platforms),
    )
    catalog._secrets = secrets  # a private attribute: not part of the schema or any dump
    return catalog


def _services_given(documents: list[Document], sections: Sections) -> list[Issue]:
    """A catalog must say which services it has: a file truncated by a deploy, or emptied by
    mistake, must not silently stop every probe. ``services: []`` is an empty catalog on
    purpose. Decided on all files merged: the services may come from an included file."""
    if sections.services_given or not documents:
        return []
    if any(_looks_like_services(key) for doc in documents for key in doc.data):
        return []  # a misspelt services: key, reported as an unknown key already
    return [
        Issue(
            documents[0].file,
            1,
            "services",
            "the catalog lists no services: no services: key, or one with nothing under it "
            "(a truncated or emptied file?); list them under services:, in this file or an "
            "included one, or write services: [] for a catalog with no services on purpose",
        )
    ]


def _looks_like_services(key: object) -> bool:
    return key != "services" and bool(difflib.get_close_matches("services", [str(key)], n=1))


def secret_values(documents: Iterable[Document]) -> frozenset[str]:
    """Every non-trivial value substituted from the environment or a secret file."""
    return frozenset(
        value
        for doc in documents
        for pairs in doc.substitutions.values()
        for _, value in pairs
        if len(value) >= MIN_SECRET_LENGTH
    )


def _redact(issue: Issue, secrets: frozenset[str]) -> Issue:
    message, field = issue.message, issue.field
    for secret in sorted(secrets, key=len, reverse=True):  # longest first: overlapping values
        message = message.replace(secret, REDACTED)
        field = field.replace(secret, REDACTED)
    if (message, field) == (issue.message, issue.field):
        return issue
    return dataclasses.replace(issue, message=message, field=field)
