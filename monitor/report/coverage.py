"""The month's coverage: the share of the scheduled runs that happened, per service and
location, as the rules' ``dozor:location_coverage`` counts it (``monitor.rules.coverage``),
over the calendar month's 5-minute steps.

Runs due and done at the steps where a daemon exports the schedule come from PromQL sums
(``queries.step_due``, ``queries.step_done``). The rules carry a schedule over its daemon's
absence by reading back their own recording, which a one-off query cannot; the absences are
few, so they are found as events instead and counted here. An absence begins at the step
where a daemon that exported the schedule is no longer scraped and no other daemon of the
location exports it (``queries.step_dropped``, a step or two per absence); its runs stay due
until the first of: the daemon is scraped again, the location's schedule appears again under
any daemon (``queries.step_appeared``), the standard's window has passed since the daemon
was last seen, the period ends. An absence that began before the period (its daemon away at
the start) is found from the daemon's last step seen before it.

Unlike the rules, a schedule seen for the first time is due from its first step, not one
interval later (a new probe may read as having missed up to one run). Unlike the rules, the
report also counts the time Prometheus itself was down: it has no
samples then, which reads as every daemon away, while the rules are not evaluated at all.

A service's figure is the location quorum of its locations' (the lower median); its gaps,
drawn grey in the timeline, are the stretches in which every location probing it was away.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from monitor.catalog import Standard
from monitor.promql import COVERAGE_STEP as STEP
from monitor.promql import daemon_present
from monitor.report import queries as q
from monitor.report.client import Labels, Prometheus, Series
from monitor.report.period import Period
from monitor.report.spans import Span, intersect, union

Key = tuple[tuple[str, str], ...]   # a daemon: its target labels
Place = tuple[str, str]             # (service, location)


def _place(labels: Labels) -> Place:
    return labels.get("service", ""), labels.get("location", "")


def _daemon(labels: Labels) -> Key:
    return tuple(sorted((k, v) for k, v in labels.items() if k not in ("service", "location")))


@dataclass(frozen=True, slots=True)
class Daemons:
    """When each daemon was scraped: the period's steps, and its last step seen in the
    window before the period."""

    steps: dict[Key, list[float]]
    before: dict[Key, float]
    window: float

    def last_seen(self, key: Key, at: float) -> float | None:
        steps = self.steps.get(key, [])
        i = bisect.bisect_left(steps, at)
        return steps[i - 1] if i else self.before.get(key)

    def back(self, key: Key, after: float) -> float | None:
        steps = self.steps.get(key, [])
        i = bisect.bisect_right(steps, after)
        return steps[i] if i < len(steps) else None

    def away_at_start(self, period: Period) -> dict[Key, float]:
        """Daemons not scraped at the period's first step, by their last step seen."""
        first = period.start + STEP
        return {key: seen for key, seen in self.before.items()
                if first not in self.steps.get(key, ()) and seen > first - self.window}


async def daemon_timeline(prom: Prometheus, period: Period) -> Daemons:
    found = await prom.instant(q.window_seconds(period.seconds), period.end)
    window = found[0][1] if found else Standard().window
    present, before = await asyncio.gather(
        prom.range(daemon_present(), period.start + STEP, period.end, STEP),
        prom.instant(q.daemons_last_seen(round(window)), period.start))
    return Daemons(steps={_daemon(s.labels): [t for t, _ in s.points] for s in present},
                   before={_daemon(m): v for m, v in before}, window=window)


@dataclass(frozen=True, slots=True)
class Absence:
    """A daemon away from the step ``start`` on, owing ``rate`` runs a step to a place."""

    place: Place
    daemon: Key
    start: float
    rate: float


def absences(series: Iterable[Series]) -> list[Absence]:
    """One absence per run of consecutive steps of ``queries.step_dropped``."""
    out = []
    for s in series:
        place = _place(s.labels)
        previous = None
        for t, rate in s.points:
            if previous is None or t - previous > STEP:
                out.append(Absence(place, _daemon(s.labels), t, rate))
            previous = t
    return out


def under_way(series: Iterable[Series], away: dict[Key, float]) -> list[Absence]:
    """The absences of the daemons away at the period's start, each found at the step after
    its own last one: another daemon's absence at that step is a different one (already
    ended, or found at its own step), not to be counted twice."""
    return [a for a in absences(series) if a.daemon in away and a.start == away[a.daemon] + STEP]


@dataclass(slots=True)
class _Tally:
    due: float = 0.0
    done: float = 0.0
    gaps: list[Span] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Coverage:
    value: float                        # the location quorum
    locations: dict[str, float]         # each location's (those with runs due)
    gaps: tuple[Span, ...]              # every location probing the service away


def absence_end(absence: Absence, daemons: Daemons, appeared: dict[Place, list[float]],
                period: Period) -> float:
    """The first step at which the absence's runs are no longer due (see the module)."""
    ends = [period.end + STEP]
    back = daemons.back(absence.daemon, absence.start)
    if back is not None:
        ends.append(back)
    again = appeared.get(absence.place, [])
    i = bisect.bisect_right(again, absence.start)
    if i < len(again):
        ends.append(again[i])
    seen = daemons.last_seen(absence.daemon, absence.start)
    if seen is not None:
        ends.append(seen + daemons.window)
    return min(ends)


def tally(due: dict[Place, float], done: dict[Place, float], dropped: Sequence[Absence],
          appeared: dict[Place, list[float]], daemons: Daemons,
          period: Period) -> dict[str, Coverage]:
    """Each service's coverage from the present sums and the absences."""
    places: dict[Place, _Tally] = {}
    for place, value in due.items():
        places.setdefault(place, _Tally()).due += value
    for absence in dropped:
        first = max(absence.start, period.start + STEP)
        last = min(absence_end(absence, daemons, appeared, period), period.end + STEP)
        if last <= first:
            continue
        entry = places.setdefault(absence.place, _Tally())
        entry.due += (last - first) // STEP * absence.rate
        # A step's runs are the 5 minutes before it.
        entry.gaps.append((first - STEP, last - STEP))
    for place, value in done.items():
        if place in places:
            places[place].done += value
    by_service: dict[str, dict[str, _Tally]] = {}
    for (service, location), entry in places.items():
        if entry.due > 0:
            by_service.setdefault(service, {})[location] = entry
    return {service: _service(locations) for service, locations in by_service.items()}


def _service(locations: dict[str, _Tally]) -> Coverage:
    figures = {loc: min(e.done / e.due, 1.0) for loc, e in locations.items()}
    ordered = sorted(figures.values())
    # The lower median: what a strict majority of the locations reach (monitor.promql.quorum).
    value = ordered[(len(ordered) - 1) // 2]
    return Coverage(value, figures, tuple(intersect([union(e.gaps)
                                                     for e in locations.values()])))


def _by_place(samples: list[tuple[Labels, float]]) -> dict[Place, float]:
    return {_place(m): v for m, v in samples}


async def month_coverage(prom: Prometheus, svc: str, period: Period,
                         daemons: Daemons) -> dict[str, Coverage]:
    """Each service's coverage in the period (services with no runs due are left out)."""
    start, end, seconds = period.start + STEP, period.end, period.seconds
    due, done, dropped, appeared = await asyncio.gather(
        prom.instant(q.over(q.step_due(svc), seconds), end),
        prom.instant(q.over(q.step_done(svc), seconds), end),
        prom.range(q.step_dropped(svc), start, end, STEP),
        prom.range(q.step_appeared(svc), start, end, STEP))
    # Absences under way when the period began: the step after their daemon's last one.
    away = daemons.away_at_start(period)
    earlier = await asyncio.gather(*(prom.range(q.step_dropped(svc), seen + STEP, seen + STEP,
                                                STEP) for seen in sorted(set(away.values()))))
    before = under_way([s for found in earlier for s in found], away)
    return tally(_by_place(due), _by_place(done), [*absences(dropped), *before],
                 {_place(s.labels): [t for t, _ in s.points] for s in appeared},
                 daemons, period)
