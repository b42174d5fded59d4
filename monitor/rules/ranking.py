"""Window-long results under stable names (``:window``, whatever the catalog's window is),
compliance with every part of the standard, life situations and the regional ranking."""

from __future__ import annotations

from monitor.promql import COVERAGE_THRESHOLD, Group, Record, duration
from monitor.rules.windows import Windows


def _parts() -> tuple[tuple[str, str], ...]:
    """(part of the standard, expression giving 1 when met and 0 when not, per service)."""
    return (
        ("availability", "dozor:service_availability:window\n"
                         ">= bool on (service) dozor:service_availability_objective"),
        ("offhours_availability",
         "dozor:service_offhours_availability:window\n"
         ">= bool on (service) dozor:service_offhours_availability_objective"),
        ("max_outage", "dozor:service_longest_outage_seconds:window\n"
                       "<= bool on (service) dozor:service_max_outage_objective_seconds"),
        ("latency_p95", "dozor:service_latency_p95_seconds:window\n"
                        "<= bool on (service) dozor:service_latency_p95_objective_seconds"),
    )


def _members(series: str) -> str:
    return f"dozor:life_situation_member * on (service) group_left () {series}"


def ranking_group(windows: Windows) -> Group:
    w = duration(windows.standard)
    mszu = 'dozor:service_info{mszu="true"}'
    rules = [
        Record("dozor:service_availability:window",
               f'1 - max without (hours) (dozor:service_sli_error_ratio:{w}{{hours="all"}})'),
        # Both ways, as the standard asks: maintenance counted and excluded.
        Record("dozor:service_availability_by_maintenance:window",
               f'1 - max without (hours) (dozor:service_probe_error_ratio:{w}{{hours="all"}})'),
        Record("dozor:service_offhours_availability:window",
               f'1 - max without (hours) '
               f'(dozor:service_sli_error_ratio:{w}{{hours="offhours"}})'),
        Record("dozor:service_longest_outage_seconds:window",
               f"dozor:service_longest_outage_seconds:{w}"),
        Record("dozor:service_latency_p95_seconds:window",
               f"dozor:service_latency_p95_seconds:{w}"),
        Record("dozor:location_coverage:window", f"dozor:location_coverage:{w}"),
        Record("dozor:service_coverage:window", f"dozor:service_coverage:{w}"),
        *(Record("dozor:service_compliance:window", expr, {"part": part})
          for part, expr in _parts()),
        # Met only when every measured part is met; a service without an availability figure
        # (no probe ran in the window) is not ranked at all rather than ranked compliant, nor
        # is one whose runs cover too little of the window to judge it ("not enough data";
        # without a coverage figure, e.g. from daemons too old to export intervals, it is).
        Record("dozor:service_compliant:window",
               "min by (service) (dozor:service_compliance:window)\n"
               'and on (service) dozor:service_compliance:window{part="availability"}\n'
               f"unless on (service) (dozor:service_coverage:window < {COVERAGE_THRESHOLD:g})"),
        Record("dozor:region_compliance_share:window",
               f"avg by (region) (\n  dozor:service_compliant:window\n"
               f"  * on (service) group_left (region) {mszu}\n)"),
        Record("dozor:national_compliance_share:window",
               f"avg (\n  dozor:service_compliant:window\n"
               f"  * on (service) group_left () {mszu}\n)"),
        # A bundle serves the citizen only when every member service does: the worst member.
        Record("dozor:life_situation_up",
               f"min by (life_situation) ({_members('dozor:service_up')})"),
        Record("dozor:life_situation_availability:window",
               f"min by (life_situation) ({_members('dozor:service_availability:window')})"),
    ]
    return Group("dozor.ranking", "5m", tuple(rules))
