"""The 24/7 overview: the national goal, who breaks the standard now, regions, breakdowns."""

from __future__ import annotations

from monitor.dashboards.model import Dashboard, Panel, Query, Threshold
from monitor.dashboards.parts import (
    AVAILABILITY,
    BARS,
    FILTERS,
    GOAL,
    GREEN,
    LEGEND,
    MERGE,
    RED,
    STAT,
    TABLE,
    color_cells,
    filtered_info,
    organize,
    service_link,
    up_down_cells,
)
from monitor.metric_names import REGION_INFO

BREAKING = ("(dozor:service_compliant:window == 0)\n"
            "or on (service) (dozor:service_up == 0)")
INFO = "name, curator, region, level"
COUNT = (Threshold(GREEN), Threshold(RED, 1))


def _breaking(expr: str) -> str:
    """``expr`` per service, for the filtered services that break the standard or are down,
    with the columns the table shows."""
    return (f"(\n  ({expr})\n  and on (service) ({BREAKING})\n)\n"
            f"* on (service) group_left ({INFO}) {filtered_info()}")


def _share_by(label: str) -> str:
    return (f"avg by ({label}) (\n  dozor:service_compliant:window\n"
            f"  * on (service) group_left ({label}) {filtered_info()}\n)")


def overview() -> Dashboard:
    goal = Panel(
        "National goal: МСЗУ services meeting the 24/7 standard", "stat",
        (Query("dozor:national_compliance_share:window", "share compliant", instant=True),),
        width=6, height=7, unit="percentunit", decimals=1, thresholds=GOAL, options=STAT,
        description="Share of socially significant services (mszu) meeting every part of the "
                    "standard over its window. Targets: 95 %, then 99 %.")
    goal_trend = Panel(
        "National goal over time", "timeseries",
        (Query("dozor:national_compliance_share:window", "share compliant"),
         Query("vector(0.95)", "target 95 %"), Query("vector(0.99)", "target 99 %")),
        width=10, height=7, unit="percentunit", minimum=0, maximum=1, options=LEGEND,
        custom={"lineWidth": 2, "fillOpacity": 0})
    down = Panel(
        "Services down now", "stat",
        (Query(f"count(dozor:service_up == 0 and on (service) {filtered_info()})"
               " or vector(0)", "down", instant=True),),
        width=4, height=7, thresholds=COUNT, options=STAT)
    breaking_count = Panel(
        "Services breaking the standard", "stat",
        (Query("count(dozor:service_compliant:window == 0 and on (service) "
               f"{filtered_info()}) or vector(0)", "breaking", instant=True),),
        width=4, height=7, thresholds=COUNT, options=STAT)
    breaking = Panel(
        "Services breaking the standard now", "table",
        (Query(_breaking("dozor:service_availability:window"), instant=True, table=True),
         Query(_breaking("dozor:service_up"), instant=True, table=True),
         Query(_breaking("count by (service) (dozor:service_compliance:window == 0)"),
               instant=True, table=True)),
        width=24, height=9, unit="percentunit", decimals=3, thresholds=AVAILABILITY,
        color_mode="thresholds", options=TABLE, may_be_empty=True,
        description="Services failing a part of the standard over its window, or down now, "
                    "with their curator. Click a service for its dashboard.",
        transformations=(MERGE, organize(
            {"Value #A": "availability (window)", "Value #B": "up now",
             "Value #C": "parts failed"},
            order=("service", "name", "curator", "region", "level"))),
        overrides=(service_link(), color_cells("availability (window)"),
                   color_cells("service", "color-text"),
                   up_down_cells("up now"),
                   {"matcher": {"id": "byName", "options": "parts failed"},
                    "properties": [{"id": "unit", "value": "none"},
                                   {"id": "decimals", "value": 0}]}))
    regions = Panel(
        "Region ranking: share of МСЗУ services meeting the standard", "table",
        (Query('dozor:region_compliance_share:window{region=~"$region"}\n'
               f"* on (region) group_left (name) max by (region, name) ({REGION_INFO})",
               instant=True, table=True),),
        width=12, height=10, unit="percentunit", decimals=1, thresholds=GOAL,
        color_mode="thresholds", options={**TABLE, "sortBy": [{"displayName": "share"}]},
        transformations=(organize({"Value": "share", "name": "region name"}),
                         {"id": "sortBy", "options": {"sort": [{"field": "share"}]}}),
        overrides=(color_cells("share"),))
    by_level = Panel(
        "Share meeting the standard, by level", "bargauge",
        (Query(_share_by("level"), "{{level}}", instant=True),),
        width=6, height=10, unit="percentunit", minimum=0, maximum=1, thresholds=GOAL,
        color_mode="thresholds", options=BARS)
    by_department = Panel(
        "Share meeting the standard, by department", "bargauge",
        (Query(_share_by("department"), "{{department}}", instant=True),),
        width=6, height=10, unit="percentunit", minimum=0, maximum=1, thresholds=GOAL,
        color_mode="thresholds", options=BARS)
    return Dashboard(
        "dozor-overview", "Dozor: 24/7 overview",
        "Which e-services break the 24/7 standard now, where, and the national goal.",
        rows=((goal, goal_trend, down, breaking_count), (breaking,),
              (regions, by_level, by_department)),
        variables=FILTERS)
