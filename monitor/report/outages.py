"""The month's outages, from the per-probe outage gauges the daemon exports
(``dozor_probe_outage_start_timestamp_seconds`` and ``dozor_probe_last_outage_seconds``).

Sampling ``dozor:service_outage_seconds`` once a step misses outages shorter than the step
and cuts every one to the step grid. Each of the daemon's outages is instead known exactly,
to its last run: its start (a gauge that stays put while it lasts) and its length as of the
last run (final once a run succeeds). So per probe series, every distinct start with the
largest length seen for it is one outage; a location is out while any of its probes is (the
recording's ``max by (service, location)``); a service while a strict majority of the
locations measuring it then are (the recording's lower-median quorum, of the locations
scraped at the time: an offline one is not counted either way). The longest outage and the
list are made from the same spans, so they agree, and agree with the recording to a probe
interval. Each step reads the last scrape in it, so start and length come from the same
scrape; of two outages of one probe that both start and end within one step, only the later
is seen.

Cost: one instant query over the period finds the services with any outage; only theirs are
read step by step, and only at the steps near an outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from monitor.metric_names import (
    PROBE_LAST_OUTAGE_SECONDS,
    PROBE_OUTAGE_START_TIMESTAMP_SECONDS,
    PROBE_SUCCESS,
)
from monitor.report import queries as q
from monitor.report.client import Prometheus, Series
from monitor.report.model import Outage
from monitor.report.period import Period
from monitor.report.spans import Span, majority, step_function, union

STEP = 60
SeriesKey = tuple[tuple[str, str], ...]  # every label: two daemons' series stay apart


async def month_outages(prom: Prometheus, svc: str, period: Period) -> dict[str, list[Outage]]:
    """Each service's outages in the period (services with none are left out)."""
    touched = await prom.instant(q.outage_probes(svc, period.seconds), period.end)
    services = sorted({m["service"] for m, _ in touched if "service" in m})
    if not services:
        return {}
    narrow = q.service_matcher(services)
    start, end = period.start + STEP, period.end
    starts, lengths, verdicts, measuring = await asyncio.gather(
        prom.range(q.outage_steps(PROBE_OUTAGE_START_TIMESTAMP_SECONDS, narrow, STEP),
                   start, end, STEP),
        prom.range(q.outage_steps(PROBE_LAST_OUTAGE_SECONDS, narrow, STEP), start, end, STEP),
        prom.range(q.outage_steps(PROBE_SUCCESS, narrow, STEP), start, end, STEP),
        prom.range(q.measuring_locations(narrow, STEP), start, end, STEP))
    per_location: dict[tuple[str, str], list[Span]] = {}
    for labels, spans in _probe_spans(starts, lengths, verdicts, period).items():
        found = dict(labels)
        per_location.setdefault((found.get("service", ""), found.get("location", "")),
                                []).extend(spans)
    counts = {s.labels.get("service", ""): s.points for s in measuring}
    by_service: dict[str, list[list[Span]]] = {}
    for (service, _), spans in sorted(per_location.items()):
        by_service.setdefault(service, []).append(union(spans))
    out = {}
    for service, locations in by_service.items():
        points = counts.get(service, ())
        # No count at all (no scrape near the outage): the locations that had one.
        measured = step_function(points, float(len(locations)))
        spans = majority(locations, _quorum(measured), changes=[t for t, _ in points])
        if spans:
            out[service] = [Outage(service, a, b, ongoing=b >= period.end) for a, b in spans]
    return out


def _quorum(measuring: Callable[[float], float]) -> Callable[[float], int]:
    """A strict majority of the locations measuring at t."""
    return lambda t: int(measuring(t)) // 2 + 1


def _key(s: Series) -> SeriesKey:
    # last_over_time keeps the metric's name; the three gauges of one probe differ only there.
    return tuple(sorted((k, v) for k, v in s.labels.items() if k != "__name__"))


def _probe_spans(starts: Sequence[Series], lengths: Sequence[Series],
                 verdicts: Sequence[Series], period: Period) -> dict[SeriesKey, list[Span]]:
    """Per probe series: each outage start with its longest length seen; one still failing
    at the period's last step runs to the period's end. Clipped to the period."""
    length_at = {_key(s): dict(s.points) for s in lengths}
    last_verdict = {_key(s): s.points[-1] for s in verdicts if s.points}
    out: dict[SeriesKey, list[Span]] = {}
    for s in starts:
        key = _key(s)
        known = length_at.get(key, {})
        longest: dict[float, float] = {}
        for t, begun in s.points:
            if begun > 0:
                longest[begun] = max(longest.get(begun, 0.0), known.get(t, 0.0))
        if not longest:
            continue
        ongoing_at, verdict = last_verdict.get(key, (0.0, 1.0))
        latest = max(longest)
        spans = []
        for begun, seconds in longest.items():
            finish = begun + seconds
            if begun == latest and verdict == 0 and ongoing_at >= period.end - STEP:
                finish = period.end
            a, b = max(begun, period.start), min(finish, period.end)
            if b > a:
                spans.append((a, b))
        out[key] = spans
    return out
