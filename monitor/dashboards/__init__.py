"""Grafana dashboards for Dozor, generated from code (``dozor dashboards``).

Public surface: ``dashboards() -> tuple[Dashboard, ...]`` (the typed models),
``render_dashboards() -> dict[str, str]`` (file name -> JSON text) and
``write_dashboards(directory) -> list[Path]``. The dashboards are generic like the rules:
services, curators and regions come from ``dozor_service_info`` through template variables,
so no catalog is needed. Grafana provisions them from ``grafana/`` (README "Dashboards").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monitor.dashboards.curator import curator
from monitor.dashboards.health import health
from monitor.dashboards.life_situations import life_situations
from monitor.dashboards.model import DATASOURCE_UID, Dashboard
from monitor.dashboards.overview import overview
from monitor.dashboards.service import service

__all__ = ["DATASOURCE_UID", "Dashboard", "dashboards", "render_dashboards",
           "write_dashboards"]

# Every dashboard links to the others (tag "dozor"), carrying the time range and variables.
LINKS: tuple[dict[str, Any], ...] = (
    {"title": "Dozor", "type": "dashboards", "tags": ["dozor"], "asDropdown": True,
     "icon": "external link", "tooltip": "", "targetBlank": False, "includeVars": True,
     "keepTime": True},
)


def dashboards() -> tuple[Dashboard, ...]:
    return (overview(), service(), curator(), life_situations(), health())


def render_dashboards() -> dict[str, str]:
    """Deterministic JSON (sorted keys, two-space indent, UTF-8 kept), one file per uid."""
    return {f"{d.uid}.json": json.dumps(d.to_dict(LINKS), indent=2, sort_keys=True,
                                        ensure_ascii=False) + "\n"
            for d in dashboards()}


def write_dashboards(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_dashboards().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
