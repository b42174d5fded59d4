"""The status page's queries, all of them the rules' and the report's formulas:

- the state now: the location quorum of confirmed probe states (``dozor:service_down``),
  the current outage (``dozor:service_outage_seconds``), maintenance as the daemon exports it;
- the standard's rolling window: the monthly report's collection (``collect_services``) over
  the window instead of a calendar month, so its figures, outages, coverage and verdicts are
  the report's;
- 90 daily bars: the report's 5-minute steps summed per Moscow day (finished days are read
  once and kept; only today is read again);
- the previous calendar month's regional ranking, once per month.

Each is one query (or one per chunk of services) per refresh, whatever the number of visitors.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence

from monitor.metric_names import MAINTENANCE_ACTIVE
from monitor.promql import location_down, location_outage_seconds, quorum
from monitor.report import queries as q
from monitor.report.client import Prometheus
from monitor.report.collect import collect_platforms, collect_services, rank_regions
from monitor.report.model import PlatformFacts, ServiceFacts
from monitor.report.period import MOSCOW, STEP, Period, parse_period
from monitor.status.snapshot import Day, Now, Previous, Window

DAYS = 90
DAY = 86400
SVC = ("service",)
Counts = dict[tuple[str, bool], tuple[float, float]]  # (service, excluded) -> events, failures


async def read_now(prom: Prometheus, at: float) -> dict[str, Now]:
    down, outage, maintenance = await asyncio.gather(
        prom.instant(quorum(f"({location_down()})", SVC), at),
        prom.instant(quorum(f"({location_outage_seconds()})", SVC), at),
        prom.instant(f"max by (service) ({MAINTENANCE_ACTIVE})", at))
    downs = {m.get("service", ""): v for m, v in down}
    outages = {m.get("service", ""): v for m, v in outage}
    active = {m.get("service", "") for m, v in maintenance if v == 1}
    return {sid: Now(down=(downs[sid] == 1) if sid in downs else None,
                     outage_seconds=outages.get(sid), maintenance=sid in active)
            for sid in set(downs) | set(outages) | active if sid}


def window_period(now: float, window: float) -> Period:
    """The rolling window up to the last whole 5-minute step."""
    end = (now // STEP) * STEP
    return Period(label="window", start=end - round(window), end=end, complete=False)


async def read_window(prom: Prometheus, period: Period, facts: Sequence[ServiceFacts],
                      chunk: int, platforms: Sequence[PlatformFacts] = ()) -> Window:
    """The report's collection over the window: the platforms' first, so each service's
    failures and outages can be attributed to them."""
    found = await collect_platforms(prom, period, platforms) if facts else ()
    services = await collect_services(prom, period, facts, chunk, heatmap=False,
                                      platforms=found) if facts else ()
    return Window(start=period.start, end=period.end,
                  services={s.facts.id: s for s in services}, regions=rank_regions(services),
                  platforms={p.facts.id: p for p in found})


def previous_label(now: float) -> str:
    first = dt.datetime.fromtimestamp(now, MOSCOW).replace(day=1)
    last = first - dt.timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


async def read_previous(prom: Prometheus, now: float, facts: Sequence[ServiceFacts],
                        chunk: int) -> Previous:
    label = previous_label(now)
    services = await collect_services(prom, parse_period(label, now), facts, chunk,
                                      heatmap=False) if facts else ()
    return Previous(label=label, regions=rank_regions(services))


def midnight(at: float) -> float:
    local = dt.datetime.fromtimestamp(at, MOSCOW)
    return dt.datetime.combine(local.date(), dt.time(0), MOSCOW).timestamp()


class DailyBars:
    """The last ``DAYS`` Moscow days per service. A finished day is read once (its 5-minute
    steps never change); today is read again at every refresh."""

    def __init__(self) -> None:
        self._final: dict[float, Counts] = {}  # a day's end -> its counts

    async def read(self, prom: Prometheus, ids: Sequence[str], now: float,
                   chunk: int) -> dict[str, tuple[Day, ...]]:
        today = midnight(now)
        ends = [today - DAY * k for k in range(DAYS - 2, -1, -1)]  # then today, partial
        missing = [e for e in ends if e not in self._final]
        chunks = [ids[i:i + chunk] for i in range(0, len(ids), chunk)]
        if missing and ids:
            found = await asyncio.gather(*(_range(prom, c, missing[0], missing[-1])
                                           for c in chunks))
            for part in found:
                for end, counts in part.items():
                    self._final.setdefault(end, {}).update(counts)
            for end in missing:
                self._final.setdefault(end, {})
        for end in list(self._final):
            if end not in ends:
                del self._final[end]
        step_now = (now // STEP) * STEP
        partial: Counts = {}
        if step_now - today >= STEP and ids:
            for today_part in await asyncio.gather(*(_instant(prom, c, today, step_now)
                                                     for c in chunks)):
                partial.update(today_part)
        days = [(e, self._final[e]) for e in ends] + [(today + DAY, partial)]
        out = {}
        for sid in ids:
            out[sid] = tuple(Day(
                day=dt.datetime.fromtimestamp(end - DAY, MOSCOW).date(),
                counted=counts.get((sid, False), (0.0, 0.0)),
                excluded=counts.get((sid, True), (0.0, 0.0))) for end, counts in days)
        return out


def _queries(svc: str, seconds: int) -> list[tuple[bool, str, str]]:
    return [(excluded, kind, q.over(step(svc, "all", excluded), seconds))
            for excluded in (False, True)
            for kind, step in (("events", q.step_events), ("failures", q.step_failures))]


def _fold(found: Mapping[tuple[bool, str], Mapping[tuple[str, float], float]]) -> \
        dict[float, Counts]:
    out: dict[float, Counts] = {}
    for excluded in (False, True):
        events, failures = found[(excluded, "events")], found[(excluded, "failures")]
        for (sid, end), n in events.items():
            out.setdefault(end, {})[(sid, excluded)] = (n, failures.get((sid, end), 0.0))
    return out


async def _range(prom: Prometheus, ids: Sequence[str], first: float,
                 last: float) -> dict[float, Counts]:
    """Whole days ending at ``first``..``last``: one range query per count, a point a day."""
    plan = _queries(q.service_matcher(ids), DAY)
    series = await asyncio.gather(*(prom.range(text, first, last, DAY) for _, _, text in plan))
    found: dict[tuple[bool, str], dict[tuple[str, float], float]] = {}
    for (excluded, kind, _), result in zip(plan, series, strict=True):
        found[(excluded, kind)] = {(s.labels.get("service", ""), t): v
                                   for s in result for t, v in s.points}
    return _fold(found)


async def _instant(prom: Prometheus, ids: Sequence[str], start: float, at: float) -> Counts:
    """Today so far."""
    plan = _queries(q.service_matcher(ids), round(at - start))
    samples = await asyncio.gather(*(prom.instant(text, at) for _, _, text in plan))
    found: dict[tuple[bool, str], dict[tuple[str, float], float]] = {}
    for (excluded, kind, _), result in zip(plan, samples, strict=True):
        found[(excluded, kind)] = {(m.get("service", ""), at): v for m, v in result}
    return _fold(found).get(at, {})
