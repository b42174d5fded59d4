"""What a report holds: per service the facts, figures, objectives and verdicts; outages;
hour-of-week cells; the regional ranking."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.promql import COVERAGE_THRESHOLD
from monitor.report.period import Period

HOURS_OF_WEEK = 168
# The ``impact`` label values of the accessibility violations gauge, most severe first (the
# kind that exports it defines them; tests/test_report_accessibility.py keeps the two equal).
IMPACTS = ("critical", "serious", "moderate", "minor")
# The impacts the report counts as barriers: some citizens cannot do the task at all, or only
# with great difficulty. The bar is the same for every service (a probe's own limits are its
# operator's choice and not exported), and it is the audit's default limit.
BARRIERS = IMPACTS[:2]


@dataclass(frozen=True, slots=True)
class ServiceFacts:
    id: str
    name: str
    region: str
    region_name: str
    timezone: str
    curator: str
    curator_name: str
    level: str
    department: str
    mszu: bool
    # The shared platforms its probes go through (catalog ``depends_on``): every probe's, and
    # per probe name its own on top of them. Empty without a catalog (the info metrics do not
    # carry them): then nothing is attributed to a platform.
    depends_on: tuple[str, ...] = ()
    probe_depends_on: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def dependencies(self, probe: str) -> tuple[str, ...]:
        own = dict(self.probe_depends_on).get(probe, ())
        return tuple(dict.fromkeys((*self.depends_on, *own)))

    @property
    def platforms(self) -> tuple[str, ...]:
        """Every platform some probe of the service goes through."""
        return tuple(dict.fromkeys((*self.depends_on,
                                    *(p for _, ps in self.probe_depends_on for p in ps))))


@dataclass(frozen=True, slots=True)
class PlatformFacts:
    """A shared platform (catalog ``platforms:``): probed like a service, under its id in the
    ``service`` label, but in no service list, ranking or region figure."""

    id: str
    name: str
    curator: str
    curator_name: str
    region: str


@dataclass(frozen=True, slots=True)
class Part:
    """One part of the standard: ``met`` is None when either figure is missing."""

    key: str            # availability, offhours_availability, max_outage, latency_p95
    value: float | None
    objective: float | None

    @property
    def met(self) -> bool | None:
        if self.value is None or self.objective is None:
            return None
        if self.key in ("availability", "offhours_availability"):
            return self.value >= self.objective
        return self.value <= self.objective


@dataclass(frozen=True, slots=True)
class Outage:
    service: str
    start: float
    end: float
    ongoing: bool       # still down when the period ended
    # The part of it during which every failing probe's failures were a platform's (the
    # platform itself out then), and per platform how much of that part it was out.
    excused: float = 0.0
    caused_by: tuple[tuple[str, float], ...] = ()

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def own_seconds(self) -> float:
        return self.seconds - self.excused

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(p for p, _ in self.caused_by)


@dataclass(frozen=True, slots=True)
class Cell:
    events: float
    failures: float

    @property
    def availability(self) -> float | None:
        return None if self.events <= 0 else 1 - self.failures / self.events


@dataclass(frozen=True, slots=True)
class Accessibility:
    """A service's accessibility audits in the period; only a service that had one has this.
    Counts are violated rules per impact of its worst audited page."""

    last: Mapping[str, float]   # at the period's last step with an audit
    worst: Mapping[str, float]  # the most at any time in the period
    audited_steps: float        # the period's 5m steps with an audit
    barrier_free_steps: float   # of them, those with no violation of a barrier impact

    @property
    def barrier_free_share(self) -> float | None:
        return None if self.audited_steps <= 0 else self.barrier_free_steps / self.audited_steps

    @property
    def barrier_free(self) -> bool | None:
        """The last audit found no barrier; None when it lacks a barrier impact's count."""
        found = [self.last.get(impact) for impact in BARRIERS]
        return None if None in found else not any(found)


@dataclass(slots=True)
class ServiceReport:
    facts: ServiceFacts
    parts: tuple[Part, ...]
    maintenance_counts: bool
    events: float | None                    # runs in the month (location quorum)
    failures: float | None
    availability_counted: float | None      # maintenance counted
    availability_excluded: float | None     # announced maintenance excluded
    business_availability: float | None = None  # working hours only (the off-hours' complement)
    outages: list[Outage] = field(default_factory=list)
    heatmap: tuple[Cell, ...] = ()          # 168 cells, Monday 00:00 local first
    coverage: float | None = None           # share of scheduled runs done (location quorum)
    gaps: tuple[tuple[float, float], ...] = ()  # no location measured: no data, not outages
    accessibility: Accessibility | None = None  # None: not audited in the period (not 0)
    # Platform attribution (``monitor.report.queries``): failed runs some platform explains
    # (maintenance counted), per platform, and the availability without them under the
    # service's maintenance policy (None: no figure; the measured one without dependencies).
    platform_failures: float = 0.0
    failures_by_platform: Mapping[str, float] = field(default_factory=dict)
    availability_own: float | None = None

    @property
    def outage_seconds(self) -> float:
        return sum(o.seconds for o in self.outages)

    @property
    def own_outage_seconds(self) -> float:
        return sum(o.own_seconds for o in self.outages)

    def outage_seconds_by(self, platform: str) -> float:
        return sum(s for o in self.outages for p, s in o.caused_by if p == platform)

    def affected_by(self, platform: str) -> bool:
        return self.failures_by_platform.get(platform, 0.0) > 0 or \
            self.outage_seconds_by(platform) > 0

    @property
    def enough_data(self) -> bool:
        """False below the coverage threshold; a service without a coverage figure (no
        schedule exported, e.g. by daemons too old to) is judged as before."""
        return self.coverage is None or self.coverage >= COVERAGE_THRESHOLD

    @property
    def compliant(self) -> bool | None:
        """As ``dozor:service_compliant:window``: every measured part met; not ranked
        without an availability figure, nor with not enough data (neither met nor not)."""
        if self.parts[0].value is None or not self.enough_data:
            return None
        return all(p.met is not False for p in self.parts)


@dataclass(frozen=True, slots=True)
class RegionRank:
    code: str
    name: str
    ranked: int         # МСЗУ services with figures
    compliant: int

    @property
    def share(self) -> float | None:
        return None if self.ranked == 0 else self.compliant / self.ranked


@dataclass(frozen=True, slots=True)
class PlatformReport:
    """A platform over the period: its own availability and outages (as a service's)."""

    facts: PlatformFacts
    events: float | None
    failures: float | None
    outages: list[Outage] = field(default_factory=list)

    @property
    def availability(self) -> float | None:
        return None if not self.events else 1 - (self.failures or 0.0) / self.events

    @property
    def outage_seconds(self) -> float:
        return sum(o.seconds for o in self.outages)


@dataclass(frozen=True, slots=True)
class Report:
    period: Period
    selection: str                          # "все услуги", "регион RU-MOW", "куратор ivanova"
    prometheus: str
    generated_at: float
    services: tuple[ServiceReport, ...]
    regions: tuple[RegionRank, ...]
    platforms: tuple[PlatformReport, ...] = ()

    def dependents(self, platform: str) -> list[ServiceReport]:
        """The report's services some probe of which goes through ``platform``."""
        return [s for s in self.services if platform in s.facts.platforms]
