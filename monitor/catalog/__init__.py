"""The catalog: YAML in, a typed frozen ``Catalog`` out, or a ``CatalogError`` listing every
problem with file and line.

Public surface: ``load_catalog``, ``dump_catalog``, ``Catalog`` and its parts, ``CatalogError``,
``Issue``.
"""

from monitor.catalog.dump import dump_catalog
from monitor.catalog.errors import CatalogError, Issue
from monitor.catalog.loading import load_catalog
from monitor.catalog.model import (
    Catalog,
    Curator,
    Defaults,
    LifeSituation,
    Platform,
    Probe,
    Region,
    Service,
    Standard,
)

__all__ = [
    "Catalog",
    "CatalogError",
    "Curator",
    "Defaults",
    "Issue",
    "LifeSituation",
    "Platform",
    "Probe",
    "Region",
    "Service",
    "Standard",
    "dump_catalog",
    "load_catalog",
]
