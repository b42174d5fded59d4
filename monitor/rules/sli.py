"""Recording rules for the service level indicators: availability (all hours and off-hours,
maintenance counted and excluded), current and longest outage, latency p95, up/down.

Event-based: every scheduled probe run is one event. Per location, the 5m error ratio is
failed runs over all runs of the service's probes; the service's ratio is the location
quorum of those (``monitor.promql.quorum``), and its failures are that ratio times the quorum's run
count. A longer window averages a shorter recording and scales counts by the length ratio
(``windows.chain``); since the overlapping 5m windows count every event equally often, the
ratio of the averaged counts is still the event ratio over the window. No events give no
sample: ratios divide by ``events > 0``, never by zero.
"""

from __future__ import annotations

from monitor.metric_names import (
    PROBE_DURATION_SECONDS,
    PROBES_TOTAL,
)
from monitor.promql import (
    DAY,
    HOUR,
    Group,
    Record,
    braces,
    duration,
    location_down,
    location_outage_seconds,
    quorum,
)
from monitor.rules.coverage import coverage_5m, coverage_window
from monitor.rules.platforms import platform_5m
from monitor.rules.windows import Windows, chain

SVC = ("service", "hours")


def effective(name: str) -> str:
    """The variant the service's standard asks for: maintenance counted unless the service
    says ``maintenance_counts: false``. Without that fact the stricter (counted) one stands."""
    return (f'max without (maintenance) (\n'
            f'  {name}{{maintenance="counted"}}\n'
            f'    unless on (service) (dozor:service_maintenance_counts == 0)\n'
            f'  or\n'
            f'  {name}{{maintenance="excluded"}}\n'
            f'    and on (service) (dozor:service_maintenance_counts == 0)\n'
            f')')


def _location_counts() -> list[Record]:
    rules = []
    for hours, match in (("all", []), ("offhours", ['hours="offhours"'])):
        for kind, matchers in (("events", match), ("failures", [*match, 'result="failure"'])):
            rules.append(Record(
                f"dozor:location_probe_{kind}:increase5m",
                f"sum by (service, location) (increase({PROBES_TOTAL}{braces(*matchers)}[5m]))",
                {"hours": hours}))
    rules.append(Record("dozor:location_probe_error_ratio:5m",
                        "dozor:location_probe_failures:increase5m\n"
                        "/\n"
                        "(dozor:location_probe_events:increase5m > 0)"))
    return rules


def _service_5m() -> list[Record]:
    events, ratio = "dozor:service_probe_events:increase5m", "dozor:service_probe_error_ratio:5m"
    counted, excluded = {"maintenance": "counted"}, {"maintenance": "excluded"}
    drop = "unless on (service) (dozor:service_maintenance_active == 1)"
    return [
        Record(events, quorum("dozor:location_probe_events:increase5m", SVC), counted),
        Record(ratio, quorum("dozor:location_probe_error_ratio:5m", SVC), counted),
        # Maintenance excluded: the minutes under announced maintenance are not events at all.
        Record(events, f'{events}{{maintenance="counted"}}\n{drop}', excluded),
        Record(ratio, f'{ratio}{{maintenance="counted"}}\n{drop}', excluded),
        # Zero, not absent, where the ratio is absent (no events in the step): the longer
        # windows average both series over the same samples, and a failures average that
        # skipped the empty steps the events average counts would exceed the events (an
        # error ratio above 1, "availability -2 %", in the first hour after a start).
        Record("dozor:service_probe_failures:increase5m", f"{ratio} * {events}\nor\n{events} * 0"),
        Record("dozor:service_sli_error_ratio:5m", effective(ratio)),
    ]


def _service_window(window: int, base: int, offhours: bool) -> list[Record]:
    w, b = duration(window), duration(base)
    sel = "" if offhours else braces('hours="all"')
    factor = window // base
    rules = [
        Record(f"dozor:service_probe_{kind}:increase{w}",
               f"avg_over_time(dozor:service_probe_{kind}:increase{b}{sel}[{w}]) * {factor}")
        for kind in ("events", "failures")
    ]
    ratio = f"dozor:service_probe_error_ratio:{w}"
    rules += [
        Record(ratio, f"dozor:service_probe_failures:increase{w}\n/\n"
                      f"(dozor:service_probe_events:increase{w} > 0)"),
        Record(f"dozor:service_sli_error_ratio:{w}", effective(ratio)),
    ]
    return rules


def _outage_5m() -> list[Record]:
    # Only time the monitor measured (monitor.promql.formulas): a location whose daemon is
    # away has no sample, so the quorum is of the locations that measure.
    return [
        Record("dozor:location_outage_seconds", location_outage_seconds()),
        Record("dozor:service_outage_seconds",
               quorum("dozor:location_outage_seconds", ("service",))),
    ]


def _outage_window(window: int, base: int) -> Record:
    source = ("dozor:service_outage_seconds" if base < HOUR
              else f"dozor:service_longest_outage_seconds:{duration(base)}")
    return Record(f"dozor:service_longest_outage_seconds:{duration(window)}",
                  f"max_over_time({source}[{duration(window)}])")


def _up_5m() -> list[Record]:
    # dozor_probe_up is the confirmed state (failure/success thresholds applied).
    return [
        Record("dozor:location_down", location_down()),
        Record("dozor:service_down", quorum("dozor:location_down", ("service",))),
        Record("dozor:service_up", "1 - dozor:service_down"),
    ]


def _latency_5m() -> Record:
    return Record("dozor:location_probe_duration_bucket:increase5m",
                  "sum by (service, location, le) (\n"
                  f"  increase({PROBE_DURATION_SECONDS}_bucket[5m])\n)")


def _latency_window(window: int, base: int, with_p95: bool) -> list[Record]:
    w, b = duration(window), duration(base)
    buckets = f"dozor:location_probe_duration_bucket:increase{w}"
    rules = [Record(buckets, f"avg_over_time(dozor:location_probe_duration_bucket:increase{b}"
                             f"[{w}]) * {window // base}")]
    if with_p95:
        location = f"dozor:location_latency_p95_seconds:{w}"
        rules += [
            # histogram_quantile of empty buckets is NaN: only where some run was observed.
            Record(location, f"histogram_quantile(0.95, {buckets})\n"
                             f'and on (service, location) ({buckets}{{le="+Inf"}} > 0)'),
            Record(f"dozor:service_latency_p95_seconds:{w}", quorum(location, ("service",))),
        ]
    return rules


def sli_groups(windows: Windows) -> tuple[Group, ...]:
    """Three groups by cost: raw 5m reads every 30s, windows up to 6h every minute, day-long
    windows every 5 minutes (their inputs move slowly)."""
    short: list[Record] = []
    long: list[Record] = []
    offhours = set(windows.offhours)
    for window, base in chain(windows.availability):
        target = short if window < DAY else long
        target += _service_window(window, base, window in offhours)
    for window, base in chain((HOUR, DAY, windows.standard)):
        (short if window < DAY else long).extend([
            _outage_window(window, base),
            *_latency_window(window, base, window in (HOUR, windows.standard)),
            *coverage_window(window, base)])
    five = [*_location_counts(), *_service_5m(), *_outage_5m(), *_up_5m(),
            *platform_5m(windows.platform_hold), _latency_5m(),
            *coverage_5m(windows)]
    return (
        Group("dozor.sli.5m", "30s", tuple(five)),
        Group("dozor.sli.short", "1m", tuple(short)),
        Group("dozor.sli.long", "5m", tuple(long)),
    )
