"""Pieces every Dozor dashboard shares: variables, colours, links, the service filter."""

from __future__ import annotations

from typing import Any

from monitor.dashboards.model import Threshold, Variable
from monitor.metric_names import SERVICE_INFO
from monitor.promql import COVERAGE_THRESHOLD

SERVICE_DASHBOARD = "dozor-service"
RED, ORANGE, YELLOW, GREEN = "red", "orange", "yellow", "green"
# The national standard (order 837-р): 99.5 % by default; a service may only tighten it.
STANDARD = 0.995
AVAILABILITY = (Threshold(RED), Threshold(GREEN, STANDARD))
# The national goal: share of МСЗУ services meeting the standard, 95 % then 99 %.
GOAL = (Threshold(RED), Threshold(YELLOW, 0.95), Threshold(GREEN, 0.99))
BUDGET = (Threshold(RED), Threshold(ORANGE, 0.0), Threshold(YELLOW, 0.25),
          Threshold(GREEN, 0.5))
UP_DOWN = ({"type": "value", "options": {
    "0": {"text": "DOWN", "color": RED, "index": 0},
    "1": {"text": "up", "color": GREEN, "index": 1}}},)
# Coverage (share of scheduled runs done): below the threshold a service's figures are "not
# enough data". Orange, never red: missing runs are the monitor's gap, not the service's fault.
COVERAGE = (Threshold(ORANGE), Threshold(GREEN, COVERAGE_THRESHOLD))
# Red at 0, green at 1: colours a 0/1 state (up, reload ok, scraped).
UP = (Threshold(RED), Threshold(GREEN, 1))


def info_variable(name: str, label: str, *, multi: bool = True, filters: str = "") -> Variable:
    """A variable over a label of ``dozor_service_info``; ``filters`` chains it to others."""
    selector = f"{{{filters}}}" if filters else ""
    return Variable(name, label, f"label_values({SERVICE_INFO}{selector}, {name})",
                    multi=multi)


REGION = info_variable("region", "Region")
LEVEL = info_variable("level", "Level")
DEPARTMENT = info_variable("department", "Department", filters='region=~"$region"')
CURATOR = info_variable("curator", "Curator", filters='region=~"$region"')
FILTERS = (REGION, LEVEL, DEPARTMENT, CURATOR)
# The matchers the overview's filters add to dozor:service_info.
FILTERED = ('region=~"$region",level=~"$level",department=~"$department",'
            'curator=~"$curator"')


def filtered_info(extra: str = "") -> str:
    return f"dozor:service_info{{{FILTERED}{',' + extra if extra else ''}}}"


def service_link(field: str = "service") -> dict[str, Any]:
    """An override making the ``field`` column link to the service dashboard."""
    url = (f"/d/{SERVICE_DASHBOARD}/{SERVICE_DASHBOARD}?var-service=${{__value.raw}}"
           "&${__url_time_range}")
    return {"matcher": {"id": "byName", "options": field},
            "properties": [{"id": "links", "value": [
                {"title": "Open the service dashboard", "url": url}]}]}


def color_cells(field: str, mode: str = "color-background") -> dict[str, Any]:
    """Colour a table column by the panel's thresholds or value mappings."""
    return {"matcher": {"id": "byName", "options": field},
            "properties": [{"id": "custom.cellOptions", "value": {"type": mode}}]}


def up_down_cells(field: str) -> dict[str, Any]:
    """Show a 0/1 table column as DOWN/up on a red/green background."""
    return {"matcher": {"id": "byName", "options": field},
            "properties": [{"id": "mappings", "value": list(UP_DOWN)},
                           {"id": "custom.cellOptions", "value": {"type": "color-background"}}]}


def organize(rename: dict[str, str], hide: tuple[str, ...] = ("Time",),
             order: tuple[str, ...] = ()) -> dict[str, Any]:
    options: dict[str, Any] = {"excludeByName": {h: True for h in hide},
                               "renameByName": rename}
    if order:
        options["indexByName"] = {name: i for i, name in enumerate(order)}
    return {"id": "organize", "options": options}


MERGE = {"id": "merge", "options": {}}
TABLE = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
STAT = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background", "graphMode": "none", "textMode": "value_and_name",
        "justifyMode": "auto", "orientation": "auto"}
BARS = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "displayMode": "gradient", "orientation": "horizontal", "showUnfilled": True}
LEGEND = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
          "tooltip": {"mode": "multi", "sort": "none"}}
TIMELINE = {"showValue": "never", "mergeValues": True, "rowHeight": 0.9,
            "alignValue": "left", "legend": {"displayMode": "list", "placement": "bottom",
                                             "showLegend": False},
            "tooltip": {"mode": "single", "sort": "none"}}
