"""Prometheus rules generated from the catalog (being written)."""

from monitor.catalog import Catalog


def render_rules(catalog: Catalog) -> str:
    raise NotImplementedError
