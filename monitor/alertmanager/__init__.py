"""Alertmanager configuration generated from the catalog (being written)."""

from monitor.catalog import Catalog


def render_alertmanager(catalog: Catalog) -> str:
    raise NotImplementedError
