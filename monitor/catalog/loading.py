"""Placeholder; being written."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from monitor.catalog.model import Catalog


def load_catalog(path: str | Path, env: Mapping[str, str] | None = None) -> Catalog:
    raise NotImplementedError
