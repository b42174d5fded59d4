"""``load_catalog``: find the files, parse, validate every item, cross-check, build.

Nothing is built unless everything is valid; otherwise one ``CatalogError`` lists every issue.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from monitor.catalog.checks import check_catalog
from monitor.catalog.errors import CatalogError
from monitor.catalog.includes import collect_documents
from monitor.catalog.model import Catalog, Defaults, Standard
from monitor.catalog.sections import validate_documents


def load_catalog(path: str | Path, env: Mapping[str, str] | None = None) -> Catalog:
    """Load a catalog file, or every ``*.yaml``/``*.yml`` directly in a directory, merged.

    ``env`` supplies ``${NAME}`` values (default: ``os.environ``). Raises ``CatalogError``
    with every problem found, each with file, line and field.
    """
    documents, issues = collect_documents(Path(path), os.environ if env is None else env)
    sections, problems = validate_documents(documents)
    issues += problems
    issues += check_catalog(sections)
    if issues:
        raise CatalogError(issues)
    return Catalog(
        standard=sections.standard.value if sections.standard else Standard(),
        defaults=sections.defaults.value if sections.defaults else Defaults(),
        regions=tuple(r.value for r in sections.regions),
        curators=tuple(c.value for c in sections.curators),
        life_situations=tuple(s.value for s in sections.life_situations),
        services=tuple(s.value for s in sections.services),
    )
