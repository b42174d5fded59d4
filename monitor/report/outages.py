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

Platforms: a probe's outage is its platform's while a platform it goes through
(``ServiceFacts.dependencies``) is itself out (the platform's own outages, found the same
way). The service's own outage time is found as above from each probe's spans less those
stretches; the rest of each outage is excused, and credited to every platform out during it.
A dependent's outage begins at the end of its last success, which may precede the platform's
by up to a probe interval: that much of it stays the service's own.

Cost: one instant query over the period finds the services with any outage; only theirs are
read step by step, and only at the steps near an outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from monitor.metric_names import (
    PROBE_LAST_OUTAGE_SECONDS,
    PROBE_OUTAGE_START_TIMESTAMP_SECONDS,
    PROBE_SUCCESS,
)
from monitor.report import queries as q
from monitor.report.client import Prometheus, Series
from monitor.report.model import Outage
from monitor.report.period import Period
from monitor.report.spans import (
    Span,
    length,
    majority,
    overlap,
    step_function,
    subtract,
    union,
)

STEP = 60
SeriesKey = tuple[tuple[str, str], ...]  # every label: two daemons' series stay apart


Dependencies = Callable[[str, str], tuple[str, ...]]  # (service, probe) -> platform ids


def _no_platforms(service: str, probe: str) -> tuple[str, ...]:
    return ()


async def month_outages(prom: Prometheus, svc: str, period: Period,
                        platforms: Mapping[str, Sequence[Span]] | None = None,
                        dependencies: Dependencies = _no_platforms) -> dict[str, list[Outage]]:
    """Each service's outages in the period (services with none are left out); with
    ``platforms`` (a platform's outage spans by id), each marked with the part of it that was
    a platform's."""
    platforms = platforms or {}
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
    own_location: dict[tuple[str, str], list[Span]] = {}
    used: dict[str, set[str]] = {}  # per service, the platforms its probes go through
    for labels, spans in _probe_spans(starts, lengths, verdicts, period).items():
        found = dict(labels)
        where = (found.get("service", ""), found.get("location", ""))
        per_location.setdefault(where, []).extend(spans)
        through = [p for p in dependencies(where[0], found.get("probe", "")) if p in platforms]
        used.setdefault(where[0], set()).update(through)
        holes = [h for p in through for h in platforms[p]]
        own_location.setdefault(where, []).extend(subtract(spans, holes))
    counts = {s.labels.get("service", ""): s.points for s in measuring}
    by_service: dict[str, list[list[Span]]] = {}
    own_by_service: dict[str, list[list[Span]]] = {}
    for where, spans in sorted(per_location.items()):
        by_service.setdefault(where[0], []).append(union(spans))
        own_by_service.setdefault(where[0], []).append(union(own_location[where]))
    out = {}
    for service, locations in by_service.items():
        points = counts.get(service, ())
        # No count at all (no scrape near the outage): the locations that had one.
        measured = step_function(points, float(len(locations)))
        need, changes = _quorum(measured), [t for t, _ in points]
        spans = majority(locations, need, changes=changes)
        own = majority(own_by_service[service], need, changes=changes)
        if spans:
            theirs = {p: platforms[p] for p in used.get(service, ())}
            out[service] = [_marked(Outage(service, a, b, ongoing=b >= period.end), own,
                                    theirs) for a, b in spans]
    return out


def _marked(outage: Outage, own: Sequence[Span],
            platforms: Mapping[str, Sequence[Span]]) -> Outage:
    """The outage with its excused part (not the service's own) and the platforms out then."""
    whole = [(outage.start, outage.end)]
    excused = subtract(whole, own)
    if not excused:
        return outage
    caused = tuple((p, seconds) for p, spans in sorted(platforms.items())
                   if (seconds := overlap(excused, spans)) > 0)
    return replace(outage, excused=length(excused), caused_by=caused)


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
