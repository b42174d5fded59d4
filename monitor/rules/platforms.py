"""Recording rules for shared platforms (single sign-on, the exchange bus): whether a platform
is down, and whether a service that depends on one is down *because* of it.

A platform's probes are exported like a service's, under the platform's id in ``service``, so
``dozor:service_down`` already holds its quorum state; ``dozor:platform_down`` renames it and
keeps only ids the daemons describe as platforms (``dozor_platform_info``). A service's probe
is *excused* while a platform it goes through (``dozor_probe_depends_on``) is down, and after
that while it is still down, for a short hold at most (its own recovery needs its next runs);
the service's *own* state is the location quorum of its unexcused probes. Down but not on its
own is down by platform.
"""

from __future__ import annotations

from monitor.metric_names import PLATFORM_INFO, PROBE_DEPENDS_ON, PROBE_UP
from monitor.promql import Record, duration, location_down_own, quorum

PLATFORM_INFO_LABELS = ("platform", "name", "curator", "region")


def platform_facts() -> list[Record]:
    """For ``dozor.facts``: one series per platform and per dependency edge, collapsed across
    the daemons (locations) exporting them, as ``dozor:service_info`` is."""
    labels = ", ".join(PLATFORM_INFO_LABELS)
    return [
        Record("dozor:platform_info",
               f"topk by (platform) (1, max by ({labels}) ({PLATFORM_INFO}))"),
        Record("dozor:probe_depends_on",
               f"max by (service, probe, platform) ({PROBE_DEPENDS_ON})"),
    ]


def _excused(hold: int) -> str:
    """Per (service, probe): 1 while a platform the probe goes through is down. Once the
    platform is back the probe stays excused while it is still down somewhere (its own
    recovery needs its next runs), carried from this rule's previous evaluation, so a probe
    that was up meanwhile is not; and never past ``hold`` after the platform's recovery, so a
    failure of its own that outlasts the platform's outage pages."""
    edges = "dozor:probe_depends_on"
    return ("max by (service, probe) (\n"
            f"  {edges} and on (platform) (dozor:platform_down == 1)\n"
            ")\n"
            "or\n"
            "(\n"
            "  dozor:probe_excused_by_platform\n"
            f"    and on (service, probe) (min by (service, probe) ({PROBE_UP}) == 0)\n"
            "    and on (service, probe) max by (service, probe) (\n"
            f"      {edges}\n"
            f"      and on (platform) (max_over_time(dozor:platform_down[{duration(hold)}]) == 1)\n"
            "    )\n"
            ")")


def platform_5m(hold: int) -> list[Record]:
    """For ``dozor.sli.5m``, after ``dozor:service_down``: platform state, then each service's
    own state and the part of its state a platform explains."""
    return [
        Record("dozor:platform_down",
               "max by (platform) (\n"
               '  label_replace(dozor:service_down, "platform", "$1", "service", "(.*)")\n'
               "  and on (platform) dozor:platform_info\n"
               ")"),
        Record("dozor:probe_excused_by_platform", _excused(hold)),
        Record("dozor:location_down_own", location_down_own("dozor:probe_excused_by_platform")),
        Record("dozor:service_down_own", quorum("dozor:location_down_own", ("service",))),
        # 1 while down and not on its own, 0 otherwise; only for services with a dependency.
        Record("dozor:service_down_by_platform",
               "dozor:service_down * on (service) (1 - dozor:service_down_own)\n"
               "and on (service) dozor:probe_depends_on"),
    ]
