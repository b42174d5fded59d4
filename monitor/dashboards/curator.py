"""A curator's view: only their services, what is firing for them, their error budgets."""

from __future__ import annotations

from monitor.dashboards.model import Dashboard, Panel, Query
from monitor.dashboards.parts import (
    AVAILABILITY,
    BUDGET,
    LEGEND,
    MERGE,
    RED,
    TABLE,
    TIMELINE,
    UP,
    UP_DOWN,
    color_cells,
    info_variable,
    organize,
    service_link,
    up_down_cells,
)

MINE = 'dozor:service_info{curator="$curator"}'
BUDGET_LEFT = ("1 - (1 - dozor:service_availability:window)\n"
               "/ on (service) dozor:service_error_budget")


def _mine(expr: str, labels: str = "name, region, level") -> str:
    return f"(\n  {expr}\n)\n* on (service) group_left ({labels}) {MINE}"


def curator() -> Dashboard:
    services = Panel(
        "Services of $curator", "table",
        (Query(_mine("dozor:service_availability:window"), instant=True, table=True),
         Query(_mine(BUDGET_LEFT), instant=True, table=True),
         Query(_mine("dozor:service_up"), instant=True, table=True),
         Query(_mine("dozor:service_compliant:window"), instant=True, table=True)),
        width=24, height=9, unit="percentunit", decimals=3, thresholds=AVAILABILITY,
        color_mode="thresholds", options=TABLE,
        description="Click a service for its dashboard.",
        transformations=(MERGE, organize(
            {"Value #A": "availability (window)", "Value #B": "error budget left",
             "Value #C": "up now", "Value #D": "meets the standard"},
            order=("service", "name", "region", "level"))),
        overrides=(service_link(), color_cells("availability (window)"),
                   {"matcher": {"id": "byName", "options": "error budget left"},
                    "properties": [{"id": "thresholds", "value": {"mode": "absolute", "steps": [
                        {"color": t.color, "value": t.value} for t in BUDGET]}},
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}}]},
                   up_down_cells("up now"), up_down_cells("meets the standard")))
    firing = Panel(
        "Firing alerts", "table",
        (Query('ALERTS{curator="$curator",alertstate="firing"}', instant=True, table=True),),
        width=24, height=7, options=TABLE, may_be_empty=True,
        description="Nothing here is good news.",
        transformations=(organize({}, hide=("Time", "Value", "__name__", "alertstate")),),
        overrides=(service_link(), {"matcher": {"id": "byName", "options": "severity"},
                                    "properties": [
                                        {"id": "mappings", "value": [{"type": "value", "options": {
                                            "page": {"color": RED, "index": 0},
                                            "ticket": {"color": "orange", "index": 1}}}]},
                                        {"id": "custom.cellOptions",
                                         "value": {"type": "color-background"}}]}))
    budgets = Panel(
        "Error budgets remaining", "timeseries",
        (Query(f"{BUDGET_LEFT}\n* on (service) group_left () {MINE}", "{{service}}"),),
        width=12, height=8, unit="percentunit", thresholds=BUDGET, options=LEGEND,
        custom={"thresholdsStyle": {"mode": "line"}, "fillOpacity": 0})
    up = Panel(
        "Up or down", "state-timeline",
        (Query(f"dozor:service_up * on (service) group_left () {MINE}", "{{service}}"),),
        width=12, height=8, mappings=UP_DOWN, color_mode="thresholds",
        thresholds=UP, options=TIMELINE)
    return Dashboard(
        "dozor-curator", "Dozor: curator",
        "Everything one curator answers for.",
        rows=((services,), (firing,), (budgets, up)),
        variables=(info_variable("curator", "Curator", multi=False),),
        time_from="now-7d")
