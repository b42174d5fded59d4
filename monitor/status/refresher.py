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
from collections.abc import Callable
from dataclasses import dataclass

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
        while True:
            await self.refresh()
            await asyncio.sleep(self.settings.interval)

    async def refresh(self) -> Snapshot:
        """One refresh: every part that is due, each kept on failure."""
        now = self._clock()
        snap = self._snapshot
        changes: dict[str, object] = {}
        failed = False
        s = self.settings
        async with Prometheus(s.prometheus, concurrency=s.concurrency, timeout=s.query_timeout,
                              on_done=self._count) as prom:
            period = collect.window_period(now, s.window)
            try:
                if self._catalog is not None:
                    found = directory.from_catalog(self._catalog, now)
                elif snap.window_at is None or now - snap.window_at >= s.window_interval:
                    found = await directory.from_metrics(prom, period)
                else:
                    found = snap.directory
                changes["directory"] = found
                changes["now"] = await collect.read_now(prom, now)
                changes["now_at"] = now
                if snap.window_at is None or now - snap.window_at >= s.window_interval:
                    facts = sorted(found.services.values(), key=lambda f: (f.region, f.id))
                    changes["window"] = await collect.read_window(prom, period, facts, s.chunk)
                    changes["days"] = await self._bars.read(prom, sorted(found.services),
                                                            now, s.chunk)
                    changes["window_at"] = now
                    label = collect.previous_label(now)
                    if snap.previous is None or snap.previous.label != label:
                        changes["previous"] = await collect.read_previous(prom, now, facts,
                                                                          s.chunk)
            except ReportError as exc:
                failed = True
                log.warning("status refresh failed; serving the last good data",
                            error=str(exc), data_at=snap.data_at)
        self.refreshes += 1
        if failed:
            changes["failed_at"] = now
        elif "now_at" in changes:
            changes["failed_at"] = None
        self._snapshot = dataclasses.replace(snap, version=snap.version + 1, **changes)  # type: ignore[arg-type]
        return self._snapshot
