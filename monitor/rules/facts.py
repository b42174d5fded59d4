"""One series per service for each catalog fact the other rules join on.

Every daemon (one per location) exports the same info and objective gauges, each under its own
``instance``/``job``; these recordings collapse them so joins stay one-to-one.
"""

from __future__ import annotations

from monitor.metric_names import (
    LIFE_SITUATION_MEMBER,
    MAINTENANCE_ACTIVE,
    SERVICE_INFO,
    SERVICE_OBJECTIVES,
)
from monitor.promql import Group, Record
from monitor.rules.platforms import platform_facts

INFO_LABELS = ("service", "name", "level", "region", "department", "curator", "mszu")

# (recorded name, source metric): the service's effective standard (the window is national,
# read from the rules' own Windows), and its maintenance now.
OBJECTIVES = (
    *((f"dozor:{name.removeprefix('dozor_')}", name)
      for part, name in SERVICE_OBJECTIVES.items() if part != "window"),
    ("dozor:service_maintenance_active", MAINTENANCE_ACTIVE),
)


def facts_group() -> Group:
    rules = [
        # topk keeps exactly one info series per service even while locations disagree
        # mid-reload (a curator just changed), so group_left joins never see duplicates.
        Record("dozor:service_info",
               f"topk by (service) (1, max by ({', '.join(INFO_LABELS)}) ({SERVICE_INFO}))"),
        *(Record(name, f"max by (service) ({source})") for name, source in OBJECTIVES),
        Record("dozor:service_error_budget", "1 - dozor:service_availability_objective"),
        Record("dozor:service_offhours_error_budget",
               "1 - dozor:service_offhours_availability_objective"),
        # Maintenance that does not count: the SLI drops these minutes, alerts stay quiet.
        Record("dozor:service_maintenance_suppressed",
               "dozor:service_maintenance_active == 1\n"
               "and on (service)\n"
               "dozor:service_maintenance_counts == 0"),
        Record("dozor:life_situation_member",
               f"max by (life_situation, service) ({LIFE_SITUATION_MEMBER})"),
        *platform_facts(),
    ]
    return Group("dozor.facts", "1m", tuple(rules))
