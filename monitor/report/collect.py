"""Queries Prometheus for a month and assembles the ``Report``.

Services are queried in chunks (``service=~"..."``) so a catalog of thousands stays within
what one query should scan; the client bounds how many requests run at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.catalog import Catalog, CatalogError, load_catalog
from monitor.metric_names import (
    CURATOR_INFO,
    REGION_INFO,
    SERVICE_INFO,
    SERVICE_OBJECTIVES,
)
from monitor.report import queries as q
from monitor.report.client import Prometheus, Series
from monitor.report.coverage import Daemons, daemon_timeline, month_coverage
from monitor.report.errors import ReportError
from monitor.report.model import (
    HOURS_OF_WEEK,
    Accessibility,
    Cell,
    Outage,
    Part,
    PlatformFacts,
    PlatformReport,
    RegionRank,
    Report,
    ServiceFacts,
    ServiceReport,
)
from monitor.report.outages import month_outages
from monitor.report.period import Period, parse_period
from monitor.report.progress import Progress

HEAT_STEP = 3600
ALL = "все услуги"
# The parts of the standard a report judges (the window is the report's own period).
OBJECTIVES = tuple((part, name) for part, name in SERVICE_OBJECTIVES.items() if part != "window")


@dataclass(frozen=True, slots=True)
class ReportOptions:
    prometheus: str
    period: str                 # YYYY-MM
    region: str | None = None
    curator: str | None = None
    config: Path | None = None  # the catalog: names and time zones from it, not from metrics
    concurrency: int = 4
    timeout: float = 120.0      # per query
    chunk: int = 100            # services per query


async def collect_report(options: ReportOptions, progress: Progress | None = None) -> Report:
    period = parse_or_fail(options.period)
    on_done = progress.query_done if progress is not None else None
    async with Prometheus(options.prometheus, concurrency=options.concurrency,
                          timeout=options.timeout, on_done=on_done) as prom:
        catalog = _load(options.config) if options.config is not None else None
        facts = catalog_facts(catalog) if catalog is not None else await metric_facts(prom,
                                                                                     period)
        chosen, selection = _select(facts, options, period)
        platforms = await collect_platforms(prom, period, _platforms_of(catalog, chosen,
                                                                        selection))
        services = await collect_services(prom, period, chosen, options.chunk, progress,
                                          platforms=platforms)
    return Report(period=period, selection=selection, prometheus=options.prometheus,
                  generated_at=time.time(), services=services, regions=rank_regions(services),
                  platforms=platforms)


def _platforms_of(catalog: Catalog | None, chosen: Sequence[ServiceFacts],
                  selection: str) -> list[PlatformFacts]:
    """Every platform of the catalog; for a selection, those its services go through.
    Without a catalog none (the info metrics do not say what depends on what)."""
    if catalog is None:
        return []
    used = {p for f in chosen for p in f.platforms}
    return [p for p in catalog_platforms(catalog)
            if selection == ALL or p.id in used]


async def collect_platforms(prom: Prometheus, period: Period,
                            platforms: Sequence[PlatformFacts]) -> tuple[PlatformReport, ...]:
    """Each platform's runs, failed runs and outages over ``period``, as a service's (the
    location quorum of its own probes' series, which carry its id as ``service``)."""
    if not platforms:
        return ()
    svc = q.service_matcher([p.id for p in platforms])
    seconds, at = period.seconds, period.end
    events, failures, outages = await asyncio.gather(
        prom.instant(q.over(q.step_events(svc, "all", False), seconds), at),
        prom.instant(q.over(q.step_failures(svc, "all", False), seconds), at),
        month_outages(prom, svc, period))
    runs, failed = _by_service(events), _by_service(failures)
    return tuple(PlatformReport(facts=p, events=runs.get(p.id), failures=failed.get(p.id),
                                outages=outages.get(p.id, [])) for p in platforms)


async def collect_services(prom: Prometheus, period: Period, chosen: Sequence[ServiceFacts],
                           chunk: int = 100, progress: Progress | None = None,
                           heatmap: bool = True, platforms: Sequence[PlatformReport] = ()
                           ) -> tuple[ServiceReport, ...]:
    """Every figure of the chosen services over ``period`` (any span of whole 5-minute
    steps: a calendar month for the report, the standard's rolling window for the status
    page), in chunks of ``chunk`` services per query; the hour-of-week heatmaps only with
    ``heatmap`` (two range queries per chunk that the status page does not show). With
    ``platforms`` (``collect_platforms`` over the same period), what of each service's
    failures and outages was the platforms' (``monitor.report.queries``)."""
    if progress is not None:
        progress.total = len(chosen)
    chunks = [chosen[i:i + chunk] for i in range(0, len(chosen), chunk)]
    daemons = await daemon_timeline(prom, period)

    known = {p.facts.id: p for p in platforms}

    async def one(part: Sequence[ServiceFacts]) -> list[ServiceReport]:
        done = await _chunk(prom, period, part, daemons, heatmap, known)
        if progress is not None:
            progress.services_done(len(part))
        return done

    results = await asyncio.gather(*(one(c) for c in chunks))
    return tuple(s for part in results for s in part)


def parse_or_fail(text: str) -> Period:
    try:
        return parse_period(text, time.time())
    except ValueError as exc:
        raise ReportError(str(exc)) from None


def _load(config: Path) -> Catalog:
    try:
        return load_catalog(config)
    except CatalogError as exc:
        raise ReportError("\n".join(str(i) for i in exc.issues)) from None


def catalog_facts(catalog: Catalog) -> list[ServiceFacts]:
    regions = {r.code: r for r in catalog.regions}
    curators = {c.id: c.name for c in catalog.curators}
    return [ServiceFacts(
        id=s.id, name=s.name, region=s.region,
        region_name=regions[s.region].name if s.region in regions else s.region,
        timezone=regions[s.region].timezone if s.region in regions else "Europe/Moscow",
        curator=s.curator, curator_name=curators.get(s.curator, s.curator), level=s.level,
        department=s.department, mszu=s.mszu, depends_on=s.depends_on,
        probe_depends_on=tuple((p.name, p.depends_on) for p in s.probes if p.depends_on))
        for s in catalog.services]


def catalog_platforms(catalog: Catalog) -> list[PlatformFacts]:
    curators = {c.id: c.name for c in catalog.curators}
    return [PlatformFacts(id=p.id, name=p.name, curator=p.curator,
                          curator_name=curators.get(p.curator, p.curator), region=p.region)
            for p in catalog.platforms]


async def metric_facts(prom: Prometheus, period: Period) -> list[ServiceFacts]:
    """From the info metrics last exported in the month (one series per service)."""
    seconds, at = period.seconds, period.end
    services, regions, curators = await asyncio.gather(
        prom.instant(q.info(SERVICE_INFO, seconds), at),
        prom.instant(q.info(REGION_INFO, seconds), at),
        prom.instant(q.info(CURATOR_INFO, seconds), at))
    zones = {m.get("region", ""): (m.get("name", ""), m.get("timezone", "")) for m, _ in regions}
    names = {m.get("curator", ""): m.get("name", "") for m, _ in curators}
    out: dict[str, ServiceFacts] = {}
    for m, _ in sorted(services, key=lambda s: sorted(s[0].items())):
        sid, region = m.get("service", ""), m.get("region", "")
        name, zone = zones.get(region, (region, "Europe/Moscow"))
        out.setdefault(sid, ServiceFacts(
            id=sid, name=m.get("name", sid), region=region, region_name=name or region,
            timezone=zone or "Europe/Moscow", curator=m.get("curator", ""),
            curator_name=names.get(m.get("curator", ""), m.get("curator", "")),
            level=m.get("level", ""), department=m.get("department", ""),
            mszu=m.get("mszu") == "true"))
    if not out:
        raise ReportError(f"no {SERVICE_INFO} in Prometheus for {period.label}: "
                          "is it scraping the daemon, and was it then?")
    return list(out.values())


def _select(facts: list[ServiceFacts], options: ReportOptions,
            period: Period) -> tuple[list[ServiceFacts], str]:
    chosen, selection = facts, ALL
    if options.region is not None:
        chosen = [f for f in facts if f.region == options.region]
        selection = f"регион {options.region}"
    if options.curator is not None:
        chosen = [f for f in chosen if f.curator == options.curator]
        selection = f"куратор {options.curator}" if options.region is None else \
            f"{selection}, куратор {options.curator}"
    if not chosen:
        raise ReportError(f"no service matches {selection} in {period.label}")
    return sorted(chosen, key=lambda f: (f.region, f.id)), selection


def _by_service(samples: list[tuple[dict[str, str], float]]) -> dict[str, float]:
    return {m["service"]: v for m, v in samples if "service" in m}


def _dependents(chunk: Sequence[ServiceFacts], platforms: Iterable[str]) -> list[q.Dependents]:
    """Per platform, the chunk's services going through it, wholly or by some probes."""
    out = []
    for platform in sorted(platforms):
        whole = tuple(f.id for f in chunk if platform in f.depends_on)
        by_probe: dict[str, list[str]] = {}
        for f in chunk:
            if platform not in f.depends_on:
                for probe, deps in f.probe_depends_on:
                    if platform in deps:
                        by_probe.setdefault(probe, []).append(f.id)
        if whole or by_probe:
            out.append(q.Dependents(platform, whole, tuple(
                (probe, tuple(ids)) for probe, ids in sorted(by_probe.items()))))
    return out


async def _attributed(prom: Prometheus, period: Period, parts: Sequence[q.Dependents]
                      ) -> tuple[dict[str, dict[str, float]], dict[bool, dict[str, float]]]:
    """Failed runs the platforms explain: per service and platform (maintenance counted),
    and per service from any platform with maintenance counted and excluded."""
    if not parts:
        return {}, {False: {}, True: {}}
    seconds, at = period.seconds, period.end
    split, counted, excluded = await asyncio.gather(
        prom.instant(q.attributed_by_platform(parts, seconds), at),
        prom.instant(q.attributed_any(parts, seconds, False), at),
        prom.instant(q.attributed_any(parts, seconds, True), at))
    by: dict[str, dict[str, float]] = {}
    for m, v in split:
        if v > 0 and "service" in m and "platform" in m:
            by.setdefault(m["service"], {})[m["platform"]] = v
    return by, {False: _by_service(counted), True: _by_service(excluded)}


async def _chunk(prom: Prometheus, period: Period, chunk: Sequence[ServiceFacts],
                 daemons: Daemons, heatmap: bool,
                 platforms: Mapping[str, PlatformReport]) -> list[ServiceReport]:
    svc = q.service_matcher([f.id for f in chunk])
    seconds, at = period.seconds, period.end
    counts = [(hours, excluded, kind) for hours in ("all", "offhours")
              for excluded in (False, True) for kind in ("events", "failures")]

    def count_query(hours: str, excluded: bool, kind: str) -> str:
        step = q.step_events if kind == "events" else q.step_failures
        return q.over(step(svc, hours, excluded), seconds)

    instant = [*(q.last_value(metric, svc, seconds) for _, metric in OBJECTIVES),
               *(count_query(*c) for c in counts),
               q.latency_p95(svc, seconds)]
    found = await asyncio.gather(*(prom.instant(text, at) for text in instant))
    async def hourly(step: Callable[[str, str, bool], str]) -> list[Series]:
        if not heatmap:
            return []
        return await prom.range(q.over(step(svc, "all", False), HEAT_STEP),
                                period.start + HEAT_STEP, at, HEAT_STEP)

    deps = {f.id: f for f in chunk}
    spans = {p: [(o.start, o.end) for o in r.outages] for p, r in platforms.items()}
    outages, coverage, audits, heat_events, heat_failures, attributed = await asyncio.gather(
        month_outages(prom, svc, period, spans,
                      lambda sid, probe: deps[sid].dependencies(probe) if sid in deps else ()),
        month_coverage(prom, svc, period, daemons),
        _accessibility(prom, svc, period),
        hourly(q.step_events), hourly(q.step_failures),
        _attributed(prom, period, _dependents(chunk, platforms)))
    split, excused = attributed
    values = [_by_service(f) for f in found]
    objectives = dict(zip((k for k, _ in OBJECTIVES), values[:len(OBJECTIVES)], strict=True))
    count = dict(zip(counts, values[len(OBJECTIVES):len(OBJECTIVES) + len(counts)], strict=True))
    p95 = values[-1]
    heat = _heatmaps(heat_events, heat_failures, {f.id: f.timezone for f in chunk})

    reports = []
    for f in chunk:
        excluded_policy = objectives["maintenance_counts"].get(f.id) == 0
        events = count[("all", False, "events")].get(f.id)
        cov = coverage.get(f.id)

        def availability(hours: str, excluded: bool, sid: str = f.id) -> float | None:
            events = count[(hours, excluded, "events")].get(sid)
            failures = count[(hours, excluded, "failures")].get(sid, 0.0)
            return None if not events else 1 - failures / events

        def business(sid: str = f.id, excluded: bool = excluded_policy) -> float | None:
            """Working hours: every run less the off-hours ones (maintenance as the policy)."""
            key = ("all", excluded), ("offhours", excluded)
            events = [count[(*k, "events")].get(sid, 0.0) for k in key]
            failures = [count[(*k, "failures")].get(sid, 0.0) for k in key]
            runs = events[0] - events[1]
            return None if runs <= 0 else 1 - (failures[0] - failures[1]) / runs

        parts = (
            Part("availability", availability("all", excluded_policy),
                 objectives["availability"].get(f.id)),
            Part("offhours_availability", availability("offhours", excluded_policy),
                 objectives["offhours_availability"].get(f.id)),
            Part("max_outage", _longest(outages.get(f.id, []), events),
                 objectives["max_outage"].get(f.id)),
            Part("latency_p95", p95.get(f.id), objectives["latency_p95"].get(f.id)),
        )
        reports.append(ServiceReport(
            facts=f, parts=parts, maintenance_counts=not excluded_policy,
            events=events,
            failures=count[("all", False, "failures")].get(f.id),
            availability_counted=availability("all", False),
            availability_excluded=availability("all", True),
            business_availability=business(),
            outages=outages.get(f.id, []),
            heatmap=heat.get(f.id, ()),
            coverage=cov.value if cov is not None else None,
            gaps=cov.gaps if cov is not None else (),
            accessibility=audits.get(f.id),
            platform_failures=excused[False].get(f.id, 0.0),
            failures_by_platform=split.get(f.id, {}),
            availability_own=_own(availability("all", excluded_policy),
                                  count[("all", excluded_policy, "events")].get(f.id),
                                  excused[excluded_policy].get(f.id, 0.0))))
    return reports


def _own(measured: float | None, events: float | None, excused: float) -> float | None:
    """The availability with the failed runs platforms explain counted as successes."""
    if measured is None or not events:
        return None
    return min(1.0, measured + excused / events)


async def _accessibility(prom: Prometheus, svc: str, period: Period) -> dict[str, Accessibility]:
    """Only the services with an audit series in the period: one without has no figures at
    all (not zero violations)."""
    seconds, at = period.seconds, period.end
    worst, last, audited, barrier_free = await asyncio.gather(
        prom.instant(q.accessibility_worst(svc, seconds), at),
        prom.instant(q.accessibility_last(svc, seconds), at),
        prom.instant(q.accessibility_steps(svc, seconds, barrier_free=False), at),
        prom.instant(q.accessibility_steps(svc, seconds, barrier_free=True), at))

    def by_impact(samples: list[tuple[dict[str, str], float]]) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for m, v in samples:
            if "service" in m and "impact" in m:
                out.setdefault(m["service"], {})[m["impact"]] = v
        return out

    worst_by, last_by = by_impact(worst), by_impact(last)
    steps, free = _by_service(audited), _by_service(barrier_free)
    return {sid: Accessibility(last=last_by.get(sid, {}), worst=counts,
                               audited_steps=steps.get(sid, 0.0),
                               barrier_free_steps=free.get(sid, 0.0))
            for sid, counts in worst_by.items()}


def _longest(outages: list[Outage], events: float | None) -> float | None:
    """No runs, no figure; runs and no outage, 0."""
    if not events:
        return None
    return max((o.seconds for o in outages), default=0.0)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Moscow")


def hour_of_week(at: float, zone: ZoneInfo) -> int:
    local = dt.datetime.fromtimestamp(at, zone)
    return local.weekday() * 24 + local.hour


def _heatmaps(events: list[Series], failures: list[Series],
              zones: dict[str, str]) -> dict[str, tuple[Cell, ...]]:
    """Each hourly evaluation covers the hour before it; it goes to that hour's cell of the
    week in the service region's local time."""
    sums: dict[str, list[list[float]]] = {}
    for index, series in ((0, events), (1, failures)):
        for s in series:
            sid = s.labels.get("service", "")
            zone = _zone(zones.get(sid, "Europe/Moscow"))
            cells = sums.setdefault(sid, [[0.0, 0.0] for _ in range(HOURS_OF_WEEK)])
            for t, v in s.points:
                cells[hour_of_week(t - HEAT_STEP, zone)][index] += v
    return {sid: tuple(Cell(e, f) for e, f in cells) for sid, cells in sums.items()}


def rank_regions(services: Sequence[ServiceReport]) -> tuple[RegionRank, ...]:
    """As ``dozor:region_compliance_share:window``: the share of МСЗУ services meeting every
    part, among those with figures; best first."""
    names: dict[str, str] = {}
    ranked: dict[str, list[bool]] = {}
    for s in services:
        names[s.facts.region] = s.facts.region_name
        verdict = s.compliant
        if s.facts.mszu and verdict is not None:
            ranked.setdefault(s.facts.region, []).append(verdict)
        else:
            ranked.setdefault(s.facts.region, [])
    ranks = [RegionRank(code, names[code], len(v), sum(v)) for code, v in ranked.items()]
    return tuple(sorted(ranks, key=lambda r: (-(r.share if r.share is not None else -1),
                                              r.code)))
