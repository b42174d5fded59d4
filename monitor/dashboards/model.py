"""Dashboards as small typed values, turned into the JSON Grafana provisions.

Only what Dozor's dashboards use is modelled; everything else keeps Grafana's defaults.
Panels are laid out by ``Dashboard``: each row of the grid is a tuple of panels placed left
to right, so positions never overlap and ids follow reading order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DATASOURCE_UID = "dozor-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
GRID_WIDTH = 24
SCHEMA_VERSION = 39  # Grafana 10.4/11: what the panels' options below are written for


def _ref_id(index: int) -> str:
    """A, B, ..., Z, AA, AB, ... as Grafana names queries."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


@dataclass(frozen=True, slots=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False  # one value at the dashboard's end time (stat, table) vs a range
    table: bool = False  # Prometheus "table" format: labels become columns

    def to_dict(self, index: int) -> dict[str, Any]:
        out: dict[str, Any] = {"datasource": DATASOURCE, "refId": _ref_id(index),
                               "expr": self.expr, "instant": self.instant,
                               "range": not self.instant}
        if self.legend:
            out["legendFormat"] = self.legend
        if self.table:
            out["format"] = "table"
        return out


@dataclass(frozen=True, slots=True)
class Threshold:
    color: str
    value: float | None = None  # None is Grafana's "-Infinity", the base step


@dataclass(frozen=True, slots=True)
class Panel:
    """One visualisation. ``may_be_empty`` documents (and the e2e test honours) panels whose
    queries legitimately return nothing, such as firing alerts on a healthy day."""

    title: str
    type: str
    queries: tuple[Query, ...]
    width: int
    height: int = 8
    description: str = ""
    unit: str = ""
    decimals: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    thresholds: tuple[Threshold, ...] = ()
    color_mode: str = ""
    mappings: tuple[Mapping[str, Any], ...] = ()
    custom: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    overrides: tuple[Mapping[str, Any], ...] = ()
    transformations: tuple[Mapping[str, Any], ...] = ()
    may_be_empty: bool = False

    def field_defaults(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.unit:
            out["unit"] = self.unit
        if self.decimals is not None:
            out["decimals"] = self.decimals
        if self.minimum is not None:
            out["min"] = self.minimum
        if self.maximum is not None:
            out["max"] = self.maximum
        if self.thresholds:
            out["thresholds"] = {"mode": "absolute", "steps": [
                {"color": t.color, "value": t.value} for t in self.thresholds]}
        if self.color_mode:
            out["color"] = {"mode": self.color_mode}
        if self.mappings:
            out["mappings"] = [dict(m) for m in self.mappings]
        if self.custom:
            out["custom"] = dict(self.custom)
        return out

    def to_dict(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": panel_id, "type": self.type, "title": self.title,
            "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": self.width, "h": self.height},
            "targets": [q.to_dict(i) for i, q in enumerate(self.queries)],
            "fieldConfig": {"defaults": self.field_defaults(),
                            "overrides": [dict(o) for o in self.overrides]},
            "options": dict(self.options),
        }
        if self.description:
            out["description"] = self.description
        if self.transformations:
            out["transformations"] = [dict(t) for t in self.transformations]
        return out


@dataclass(frozen=True, slots=True)
class Variable:
    """A template variable: a Prometheus ``label_values`` query, or a fixed list."""

    name: str
    label: str
    query: str = ""  # label_values(...) for a query variable
    values: tuple[str, ...] = ()  # a custom variable's choices
    default: str = ""
    multi: bool = False  # multi-select with "All" (regex ".*"): queries use =~"$name"

    def to_dict(self) -> dict[str, Any]:
        if self.values:
            current = self.default or self.values[0]
            return {"type": "custom", "name": self.name, "label": self.label,
                    "query": ",".join(self.values),
                    "current": {"text": current, "value": current},
                    "options": [{"text": v, "value": v, "selected": v == current}
                                for v in self.values]}
        out: dict[str, Any] = {
            "type": "query", "name": self.name, "label": self.label,
            "datasource": DATASOURCE,
            "query": self.query, "definition": self.query,
            "refresh": 2, "sort": 1, "multi": self.multi, "includeAll": self.multi,
        }
        if self.multi:
            out["allValue"] = ".*"
            out["current"] = {"text": "All", "value": "$__all"}
        return out


@dataclass(frozen=True, slots=True)
class Annotation:
    name: str
    expr: str
    color: str
    title: str

    def to_dict(self) -> dict[str, Any]:
        # Prometheus annotation queries keep their query fields at the top level.
        return {"name": self.name, "datasource": DATASOURCE, "enable": True,
                "iconColor": self.color, "expr": self.expr, "step": "60s",
                "titleFormat": self.title, "useValueForTime": False}


@dataclass(frozen=True, slots=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[tuple[Panel, ...], ...]
    variables: tuple[Variable, ...] = ()
    annotations: tuple[Annotation, ...] = ()
    time_from: str = "now-24h"
    tags: tuple[str, ...] = ("dozor",)

    def placed(self) -> list[tuple[int, int, int, Panel]]:
        """(id, x, y, panel) in reading order; a row is as tall as its tallest panel."""
        out: list[tuple[int, int, int, Panel]] = []
        y = 0
        for row in self.rows:
            x = 0
            for panel in row:
                if x + panel.width > GRID_WIDTH:
                    raise ValueError(f"{self.uid}: row with {panel.title!r} is wider than 24")
                out.append((len(out) + 1, x, y, panel))
                x += panel.width
            y += max(p.height for p in row)
        return out

    def panel(self, panel_id: int) -> Panel:
        return self.placed()[panel_id - 1][3]

    def to_dict(self, links: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        builtin = {"name": "Annotations & Alerts", "builtIn": 1, "type": "dashboard",
                   "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                   "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)"}
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": list(self.tags), "timezone": "browser", "editable": False,
            "graphTooltip": 1, "refresh": "1m", "schemaVersion": SCHEMA_VERSION,
            "time": {"from": self.time_from, "to": "now"},
            "templating": {"list": [v.to_dict() for v in self.variables]},
            "annotations": {"list": [builtin, *(a.to_dict() for a in self.annotations)]},
            "links": [dict(link) for link in links],
            "panels": [p.to_dict(i, x, y) for i, x, y, p in self.placed()],
        }
