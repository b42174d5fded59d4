"""The month's outages, from the per-probe outage gauges the daemon exports
(``dozor_probe_outage_start_timestamp_seconds`` and ``dozor_probe_last_outage_seconds``).

Sampling ``dozor:service_outage_seconds`` once a step misses outages shorter than the step
and cuts every one to the step grid. Each of the daemon's outages is instead known exactly,
to its last run: its start (a gauge that stays put while it lasts) and its length as of the
last run (final once a run succeeds). So per probe, every distinct start with the largest
length seen for it is one outage; a location is out while any of its probes is (the
recording's ``max by (service, location)``); a service while a strict majority of its
locations are (the recording's lower-median quorum). The longest outage and the list are
made from the same spans, so they agree, and agree with the recording to a probe interval.
Each step reads the last scrape in it, so start and length come from the same scrape; of two
outages of one probe that both start and end within one step, only the later is seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from monitor.metric_names import (
    PROBE_LAST_OUTAGE_SECONDS,
    PROBE_OUTAGE_START_TIMESTAMP_SECONDS,
    PROBE_SUCCESS,
)
from monitor.report import queries as q
from monitor.report.client import Prometheus, Series
from monitor.report.model import Outage
from monitor.report.period import Period

STEP = 60
Span = tuple[float, float]


async def month_outages(prom: Prometheus, svc: str, period: Period) -> dict[str, list[Outage]]:
    """Each service's outages in the period (services with none are left out)."""
    start, end = period.start + STEP, period.end
    starts, lengths, verdicts, counts = await asyncio.gather(
        prom.range(q.outage_steps(PROBE_OUTAGE_START_TIMESTAMP_SECONDS, svc, STEP),
                   start, end, STEP),
        prom.range(q.outage_steps(PROBE_LAST_OUTAGE_SECONDS, svc, STEP),
                   start, end, STEP),
        prom.range(q.outage_steps(PROBE_SUCCESS, svc, STEP), start, end, STEP),
        prom.instant(q.locations(svc, period.seconds), end))
    located = {m["service"]: int(v) for m, v in counts if "service" in m}
    per_location: dict[tuple[str, str], list[Span]] = {}
    for key, spans in _probe_spans(starts, lengths, verdicts, period).items():
        per_location.setdefault((key[0], key[2]), []).extend(spans)
    by_service: dict[str, list[list[Span]]] = {}
    for (service, _), spans in sorted(per_location.items()):
        by_service.setdefault(service, []).append(union(spans))
    out = {}
    for service, locs in by_service.items():
        need = max(located.get(service, len(locs)), len(locs)) // 2 + 1
        spans = majority(locs, need)
        if spans:
            out[service] = [Outage(service, a, b, ongoing=b >= period.end) for a, b in spans]
    return out


def _key(s: Series) -> tuple[str, str, str]:
    return (s.labels.get("service", ""), s.labels.get("probe", ""),
            s.labels.get("location", ""))


def _probe_spans(starts: Sequence[Series], lengths: Sequence[Series],
                 verdicts: Sequence[Series], period: Period
                 ) -> dict[tuple[str, str, str], list[Span]]:
    """Per probe: each outage start with its longest length seen; one still failing at the
    period's last step runs to the period's end. Clipped to the period."""
    length_at = {_key(s): dict(s.points) for s in lengths}
    last_verdict = {_key(s): s.points[-1] for s in verdicts if s.points}
    out: dict[tuple[str, str, str], list[Span]] = {}
    for s in starts:
        key, known = _key(s), length_at.get(_key(s), {})
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


def union(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def majority(locations: Sequence[Sequence[Span]], need: int) -> list[Span]:
    """The stretches during which at least ``need`` locations were out at once."""
    edges = sorted((t, delta) for spans in locations for a, b in spans
                   for t, delta in ((a, 1), (b, -1)))
    out: list[Span] = []
    level, opened = 0, 0.0
    for t, delta in edges:  # at equal times ends (-1) sort before starts: touching ≠ overlap
        before = level
        level += delta
        if before < need <= level:
            opened = t
        elif level < need <= before and t > opened:
            out.append((opened, t))
    return out
