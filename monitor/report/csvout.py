"""CSV files with English column keys, for spreadsheets and further processing."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from monitor.report import fmt
from monitor.report.model import IMPACTS, Accessibility, Report

SERVICE_COLUMNS = (
    "service", "name", "region", "region_name", "curator", "level", "department", "mszu",
    "events", "failures",
    "availability", "availability_objective", "availability_met",
    "availability_maintenance_counted", "availability_maintenance_excluded",
    "offhours_availability", "offhours_availability_objective", "offhours_availability_met",
    "longest_outage_seconds", "max_outage_objective_seconds", "max_outage_met",
    "latency_p95_seconds", "latency_p95_objective_seconds", "latency_p95_met",
    "coverage", "coverage_sufficient", "compliant", "outages",
    # Last: not a part of the standard. Empty (audited false) for a service without an audit.
    "accessibility_audited",
    *(f"accessibility_{impact}_last" for impact in IMPACTS),
    *(f"accessibility_{impact}_max" for impact in IMPACTS),
    "accessibility_barrier_free_share",
    # Platform attribution (README "Monthly report"), after every older column so readers
    # by position keep working: the platforms the service goes through; failed runs they
    # explain, in all and per platform (``sso=24;bus=3``); the availability without them;
    # the month's outage time in all, its own and the platforms'.
    "depends_on", "platform_failures", "failures_by_platform",
    "availability_excluding_platforms", "outage_seconds", "outage_seconds_own",
    "outage_seconds_platforms",
)
OUTAGE_COLUMNS = ("service", "start", "end", "duration_seconds", "ongoing", "platforms",
                  "platform_seconds")
PLATFORM_COLUMNS = ("platform", "name", "curator", "region", "events", "failures",
                    "availability", "outages", "outage_seconds", "dependents",
                    "dependents_affected", "dependent_failures", "dependent_outage_seconds")
REGION_COLUMNS = ("rank", "region", "region_name", "mszu_ranked", "mszu_compliant", "share")
HEATMAP_COLUMNS = ("service", "timezone", "hour_of_week", "weekday", "hour", "events",
                   "failures", "availability")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _csv(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return out.getvalue()


def services_csv(report: Report) -> str:
    rows = []
    for s in report.services:
        f = s.facts
        parts: list[object] = []
        for p in s.parts:
            parts += [p.value, p.objective, p.met]
        rows.append([f.id, f.name, f.region, f.region_name, f.curator, f.level, f.department,
                     f.mszu, s.events, s.failures, *parts[:3], s.availability_counted,
                     s.availability_excluded, *parts[3:], s.coverage,
                     None if s.coverage is None else s.enough_data, s.compliant,
                     len(s.outages), *_accessibility(s.accessibility),
                     ";".join(f.platforms), s.platform_failures,
                     ";".join(f"{p}={_cell(n)}" for p, n in sorted(s.failures_by_platform.items())),
                     s.availability_own, s.outage_seconds, s.own_outage_seconds,
                     s.outage_seconds - s.own_outage_seconds])
    return _csv(SERVICE_COLUMNS, rows)


def _accessibility(a: Accessibility | None) -> list[object]:
    if a is None:
        return [False, *(None for _ in range(2 * len(IMPACTS) + 1))]
    return [True, *(a.last.get(i) for i in IMPACTS), *(a.worst.get(i) for i in IMPACTS),
            a.barrier_free_share]


def outages_csv(report: Report) -> str:
    return _csv(OUTAGE_COLUMNS, ([o.service, fmt.iso(o.start), fmt.iso(o.end), o.seconds,
                                  o.ongoing, ";".join(o.platforms), o.excused]
                                 for s in report.services for o in s.outages))


def platforms_csv(report: Report) -> str:
    """One row per platform: its own figures, and what its outages cost its dependents."""
    rows = []
    for r in report.platforms:
        p, dependents = r.facts, report.dependents(r.facts.id)
        rows.append([p.id, p.name, p.curator, p.region, r.events, r.failures, r.availability,
                     len(r.outages), r.outage_seconds, len(dependents),
                     sum(1 for s in dependents if s.affected_by(p.id)),
                     sum(s.failures_by_platform.get(p.id, 0.0) for s in dependents),
                     sum(s.outage_seconds_by(p.id) for s in dependents)])
    return _csv(PLATFORM_COLUMNS, rows)


def regions_csv(report: Report) -> str:
    return _csv(REGION_COLUMNS, ([i, r.code, r.name, r.ranked, r.compliant, r.share]
                                 for i, r in enumerate(report.regions, start=1)))


def heatmap_csv(report: Report) -> str:
    return _csv(HEATMAP_COLUMNS, (
        [s.facts.id, s.facts.timezone, i, fmt.WEEKDAYS[i // 24], i % 24, c.events, c.failures,
         c.availability]
        for s in report.services for i, c in enumerate(s.heatmap)))
