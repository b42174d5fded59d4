"""What the status page knows after a refresh: immutable, shared by every visitor.

A refresh replaces only the parts it managed to read; each part keeps the time it was read,
so a page can say how old the data it shows is when Prometheus stops answering.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.report.model import (
    PlatformFacts,
    PlatformReport,
    RegionRank,
    ServiceFacts,
    ServiceReport,
)


@dataclass(frozen=True, slots=True)
class Curator:
    """What the public may see of a curator: the name always, the rest only when the
    catalog lists it under the curator's ``public``."""

    name: str
    photo: str | None = None
    email: str | None = None
    phone: str | None = None
    telegram: str | None = None


@dataclass(frozen=True, slots=True)
class LifeSituation:
    id: str
    name: str
    services: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Announcement:
    """An announced maintenance window of a service (from the catalog)."""

    service: str
    start: float
    end: float
    reason: str


@dataclass(frozen=True, slots=True)
class Directory:
    """Who and what the site is about: from the catalog, or without one from the info
    metrics (then without curators' contacts, public addresses or maintenance plans)."""

    services: Mapping[str, ServiceFacts]
    life_situations: Mapping[str, LifeSituation]
    curators: Mapping[str, Curator] = field(default_factory=dict)
    public_urls: Mapping[str, str] = field(default_factory=dict)
    announcements: tuple[Announcement, ...] = ()
    # Shared platforms (from the catalog only): their names are public, their probes are not.
    # They are never services: no list, ranking or region figure has them.
    platforms: Mapping[str, PlatformFacts] = field(default_factory=dict)

    def situations_of(self, service: str) -> list[LifeSituation]:
        return [s for s in self.life_situations.values() if service in s.services]


@dataclass(frozen=True, slots=True)
class Now:
    """A service's state at the last refresh, as the rules define it."""

    down: bool | None            # the location quorum of confirmed probe states; None: no data
    outage_seconds: float | None  # the current outage (0 while up)
    maintenance: bool


@dataclass(frozen=True, slots=True)
class Day:
    """One Moscow calendar day of a service: runs and failed runs (location quorum), with
    maintenance counted and with announced maintenance excluded."""

    day: dt.date
    counted: tuple[float, float]
    excluded: tuple[float, float]

    def availability(self, maintenance_counts: bool) -> float | None:
        events, failures = self.counted if maintenance_counts else self.excluded
        return None if events <= 0 else 1 - failures / events


@dataclass(frozen=True, slots=True)
class Window:
    """The standard's rolling window ending at ``end``: the monthly report's figures."""

    start: float
    end: float
    services: Mapping[str, ServiceReport]
    regions: tuple[RegionRank, ...]
    platforms: Mapping[str, PlatformReport] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Previous:
    """The previous calendar month's regional ranking, for the change shown beside it."""

    label: str
    regions: tuple[RegionRank, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    directory: Directory
    now: Mapping[str, Now] = field(default_factory=dict)
    now_at: float | None = None        # when the current state was read
    window: Window | None = None
    window_at: float | None = None
    days: Mapping[str, tuple[Day, ...]] = field(default_factory=dict)
    previous: Previous | None = None
    failed_at: float | None = None     # the last refresh that could not read Prometheus

    @property
    def data_at(self) -> float | None:
        """The age of what is shown is the age of its oldest part."""
        known = [t for t in (self.now_at, self.window_at) if t is not None]
        return min(known) if known else None
