"""Reads Prometheus on a timer and keeps the last good ``Snapshot``.

Visitors never cause a query: every page is made from the snapshot, so the query rate is one
set per refresh whatever the traffic. The state now is read every ``interval``; the window's
figures and the daily bars every ``window_interval`` (they move in 5-minute steps); the
previous month's ranking once a month. A part that cannot be read keeps its last good value
and its age; the pages say how old it is.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from monitor.catalog import Catalog
from monitor.report.client import Prometheus
from monitor.report.errors import ReportError
from monitor.status import collect, directory
from monitor.status.snapshot import Directory, Snapshot

log = structlog.get_logger("dozor.status")
DEFAULT_WINDOW = 30 * 86400.0  # the catalog model's default standard window


@dataclass(frozen=True, slots=True)
class RefreshSettings:
    prometheus: str
    interval: float = 30.0
    window_interval: float = 300.0
    window: float = DEFAULT_WINDOW   # the standard's window (the catalog's, when given)
    chunk: int = 100                 # services per query
    query_timeout: float = 60.0
    concurrency: int = 4


class Refresher:
    def __init__(self, settings: RefreshSettings, catalog: Catalog | None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._catalog = catalog
        self._clock = clock
        self._bars = collect.DailyBars()
        start = clock()
        self._snapshot = Snapshot(version=0, directory=directory.from_catalog(catalog, start)
                                  if catalog is not None else Directory({}, {}))
        self.refreshes = 0
        self.queries = 0

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def _count(self) -> None:
        self.queries += 1

    async def run(self) -> None:
        """Two loops, so a slow read of the window (minutes at thousands of services) never
        holds back the state now."""
        await self.refresh()
        await asyncio.gather(self._loop(self.refresh_now, self.settings.interval),
                             self._loop(self.refresh_window, self.settings.window_interval))

    async def _loop(self, step: Callable[[], Awaitable[Snapshot]], every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await step()

    async def refresh(self) -> Snapshot:
        """Everything once: the window first (it also finds the services), then the state."""
        await self.refresh_window()
        return await self.refresh_now()

    def _prometheus(self) -> Prometheus:
        s = self.settings
        return Prometheus(s.prometheus, concurrency=s.concurrency, timeout=s.query_timeout,
                          on_done=self._count)

    def _apply(self, changes: dict[str, Any], failed: bool, now: float) -> Snapshot:
        """Replace what was read; on failure only mark when it failed. The snapshot is
        replaced whole (visitors keep the one they started with)."""
        self.refreshes += 1
        if failed:
            changes["failed_at"] = now
        snap = dataclasses.replace(self._snapshot, version=self._snapshot.version + 1, **changes)
        if not failed and snap.failed_at is not None and snap.data_at is not None \
                and snap.data_at > snap.failed_at:
            snap = dataclasses.replace(snap, failed_at=None)   # every part read since
        self._snapshot = snap
        return snap

    async def refresh_now(self) -> Snapshot:
        now = self._clock()
        changes: dict[str, Any] = {}
        try:
            async with self._prometheus() as prom:
                changes["now"] = await collect.read_now(prom, now)
            changes["now_at"] = now
        except ReportError as exc:
            log.warning("status refresh failed; serving the last good data",
                        part="now", error=str(exc), data_at=self._snapshot.data_at)
            return self._apply(changes, True, now)
        return self._apply(changes, False, now)

    async def refresh_window(self) -> Snapshot:
        now = self._clock()
        s = self.settings
        changes: dict[str, Any] = {}
        failed = False
        try:
            async with self._prometheus() as prom:
                period = collect.window_period(now, s.window)
                found = (directory.from_catalog(self._catalog, now) if self._catalog is not None
                         else await directory.from_metrics(prom, period))
                changes["directory"] = found
                facts = sorted(found.services.values(), key=lambda f: (f.region, f.id))
                changes["window"] = await collect.read_window(
                    prom, period, facts, s.chunk, list(found.platforms.values()))
                changes["days"] = await self._bars.read(prom, sorted(found.services), now,
                                                        s.chunk)
                changes["window_at"] = now
                label = collect.previous_label(now)
                previous = self._snapshot.previous
                if previous is None or previous.label != label:
                    changes["previous"] = await collect.read_previous(prom, now, facts, s.chunk)
        except ReportError as exc:
            failed = True
            log.warning("status refresh failed; serving the last good data",
                        part="window", error=str(exc), data_at=self._snapshot.data_at)
        return self._apply(changes, failed, now)
