"""A reload neither misses nor doubles a run: 1,000 services on the real daemon, each run seen
by a real local target and placed on its probe's grid (offset + k * interval).

Across the reload, unchanged and updated probes (same interval, new timeout) keep exactly one
run per grid point; added probes start on their grid and keep it; removed probes stop.
No timing assertion: a run belongs to grid point k when it arrives before point k + 1.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness.catalog_factory import catalog_dict, write_catalog
from harness.stack import recording_target
from monitor.runtime.daemon import Daemon, DaemonOptions
from monitor.runtime.plan import start_offset

pytestmark = pytest.mark.e2e  # a live reload of 1,000 services, every run checked

SERVICES = 1000
INTERVAL = 4.0  # 250 probes/s: quick, and far from this shared machine's limits
KEEP, UPDATE, REMOVE, ADD = range(0, 600), range(600, 900), range(900, 1000), range(1000, 1100)


@pytest.fixture
async def arrivals() -> AsyncIterator[tuple[str, dict[str, list[float]]]]:
    async with recording_target() as target:
        yield target


def _catalog(url: str, services: range | list[int], timeout_of: dict[int, str]) -> dict:  # type: ignore[type-arg]
    data = catalog_dict([f"{url}/svc-{i:05d}" for i in services], interval=f"{INTERVAL:g}s",
                        timeout="3s")
    for spec, i in zip(data["services"], services, strict=True):
        spec["id"] = f"svc-{i:05d}"  # the factory numbers from 0; keep ids tied to the path
        if i in timeout_of:
            spec["probes"][0]["timeout"] = timeout_of[i]
    return data


def _grid_points(service: str, times: list[float]) -> list[int]:
    offset = start_offset(f"{service}/portal", INTERVAL)
    return [math.floor((t - offset) / INTERVAL) for t in times]


async def test_reload_keeps_one_run_per_grid_point(
    tmp_path: Path, arrivals: tuple[str, dict[str, list[float]]]
) -> None:
    url, seen = arrivals
    config = tmp_path / "catalog.yaml"
    write_catalog(config, _catalog(url, range(SERVICES), {}))
    daemon = Daemon(DaemonOptions(config=config, port=0, location="test", grace=3.0))
    await daemon.start()
    try:
        await asyncio.sleep(1.5 * INTERVAL)  # every probe has run at least once
        kept = [*KEEP, *UPDATE, *ADD]
        write_catalog(config, _catalog(url, kept, dict.fromkeys(UPDATE, "2s")))
        before = time.time()
        assert await daemon.reload() is True
        reloaded = time.time()
        # The reload really applied: updated probes carry the new timeout, removed ones left.
        jobs = daemon.scheduler.jobs
        assert {jobs[f"svc-{i:05d}/portal"].timeout for i in UPDATE} == {2.0}
        assert set(jobs) == {f"svc-{i:05d}/portal" for i in kept}
        await asyncio.sleep(2.5 * INTERVAL)
        stopped_at = time.time()
    finally:
        await daemon.stop()

    # No figure is asserted; the margins are the 4 s interval (a run must be a whole interval
    # late to land on the next point) and 3 s for removed probes, vs ms of lag: only a hang.
    problems: list[str] = []
    for i in [*KEEP, *UPDATE]:
        service = f"svc-{i:05d}"
        points = _grid_points(service, seen[service])
        if not (seen[service][0] < before and seen[service][-1] > reloaded + INTERVAL):
            problems.append(f"{service} did not run on both sides of the reload: {points}")
        if points != list(range(points[0], points[0] + len(points))):
            problems.append(f"{service} (kept) missed or doubled a run: {points}")
    for i in ADD:
        service = f"svc-{i:05d}"
        points = _grid_points(service, seen[service])
        # Runs start at the first grid point after the reload and keep to the grid.
        if not points or points != list(range(points[0], points[0] + len(points))):
            problems.append(f"{service} (added) missed or doubled a run: {points}")
        elif seen[service][0] < before or len(points) < math.floor(
                (stopped_at - reloaded) / INTERVAL) - 1:
            problems.append(f"{service} (added) ran too few times: {points}")
    for i in REMOVE:
        service = f"svc-{i:05d}"
        late = [t for t in seen[service] if t > reloaded + 3.0]  # 3 s: an in-flight run's timeout
        if late:
            problems.append(f"{service} (removed) still ran {len(late)} time(s)")
    assert not problems, f"{len(problems)} problems, first: {problems[:5]}"
    [family] = daemon.metrics.skipped_runs.collect()
    skipped = {s.labels["reason"]: s.value for s in family.samples if s.name.endswith("_total")}
    assert skipped == {"overlap": 0, "overload": 0}
