"""Life situations: a bundle serves the citizen only when every member service does."""

from __future__ import annotations

from monitor.dashboards.model import Dashboard, Panel, Query, Variable
from monitor.dashboards.parts import (
    AVAILABILITY,
    BARS,
    TABLE,
    TIMELINE,
    UP,
    UP_DOWN,
    color_cells,
    organize,
    service_link,
)
from monitor.metric_names import LIFE_SITUATION_INFO, LIFE_SITUATION_MEMBER

LS = 'life_situation=~"$life_situation"'
NAMES = f"max by (life_situation, name) ({LIFE_SITUATION_INFO})"
MEMBERS = f"dozor:life_situation_member{{{LS}}}"
SERVICE_INFO = "* on (service) group_left (name, curator) dozor:service_info"


def _members(expr: str) -> str:
    """``expr`` per member service of the chosen bundles, with the service's name/curator."""
    return f"(\n  {MEMBERS}\n  * on (service) group_left () ({expr})\n)\n{SERVICE_INFO}"


def life_situations() -> Dashboard:
    availability = Panel(
        "Bundle availability over the window (worst member)", "bargauge",
        (Query(f"dozor:life_situation_availability:window{{{LS}}}\n"
               f"* on (life_situation) group_left (name) {NAMES}", "{{name}}", instant=True),),
        width=12, height=9, unit="percentunit", decimals=3, minimum=0.9, maximum=1,
        thresholds=AVAILABILITY, color_mode="thresholds", options=BARS)
    up = Panel(
        "Bundle up now", "state-timeline",
        (Query(f"dozor:life_situation_up{{{LS}}}\n"
               f"* on (life_situation) group_left (name) {NAMES}", "{{name}}"),),
        width=12, height=9, mappings=UP_DOWN, color_mode="thresholds",
        thresholds=UP, options=TIMELINE)
    breakers = Panel(
        "Members breaking their bundle", "table",
        (Query(_members("dozor:service_availability:window\n"
                        "  < on (service) dozor:service_availability_objective"),
               instant=True, table=True),),
        width=12, height=9, unit="percentunit", decimals=3, thresholds=AVAILABILITY,
        color_mode="thresholds", options=TABLE, may_be_empty=True,
        description="Member services whose availability over the window is below their "
                    "objective: each one pulls its bundle down.",
        transformations=(organize({"Value": "availability (window)"}),),
        overrides=(service_link(), color_cells("availability (window)")))
    down = Panel(
        "Members down now", "table",
        (Query(_members("dozor:service_up == 0"), instant=True, table=True),),
        width=12, height=9, options=TABLE, may_be_empty=True,
        mappings=UP_DOWN, color_mode="thresholds",
        transformations=(organize({"Value": "up now"}),),
        overrides=(service_link(), color_cells("up now")))
    members = Panel(
        "Every member's availability", "table",
        (Query(_members("dozor:service_availability:window"), instant=True, table=True),),
        width=24, height=10, unit="percentunit", decimals=3, thresholds=AVAILABILITY,
        color_mode="thresholds", options=TABLE,
        transformations=(organize({"Value": "availability (window)"}),
                         {"id": "sortBy", "options": {"sort": [
                             {"field": "availability (window)"}]}}),
        overrides=(service_link(), color_cells("availability (window)")))
    return Dashboard(
        "dozor-life-situations", "Dozor: life situations",
        "Bundles of services a citizen needs together, and which member breaks each.",
        rows=((availability, up), (breakers, down), (members,)),
        variables=(Variable("life_situation", "Life situation",
                            f"label_values({LIFE_SITUATION_MEMBER}, life_situation)",
                            multi=True),))
