"""Admission control through the real daemon (in-process, a real local target, the real
APScheduler): a run that cannot start within its lag budget is shed, counted as
``reason="overload"`` and logged in aggregate, and leaves its probe's state, runs and
failures alone; a probe overlapping itself is still counted as ``overlap``; a daemon with room
sheds nothing. The overload is made structurally (one concurrency slot, more probing due than
it can serve), not by a timing threshold; no timing figure is asserted."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from harness.catalog_factory import catalog_dict, write_catalog
from harness.stack import until
from harness.target import Target
from harness.tools import samples
from monitor.metric_names import (
    PROBE_FAILURES_TOTAL,
    PROBES_TOTAL,
    SCHEDULER_SKIPPED_RUNS_TOTAL,
    SkipReason,
)
from monitor.runtime.daemon import Daemon, DaemonOptions
from monitor.runtime.scheduler import SHED_LOG_EVERY

SHED_EVENT = "probe runs shed: overloaded"


def _skipped(daemon: Daemon, reason: SkipReason) -> float:
    value = daemon.metrics.registry.get_sample_value(
        SCHEDULER_SKIPPED_RUNS_TOTAL, {"reason": reason.value})
    assert value is not None  # pre-set to 0 for every reason
    return value


def _runs(daemon: Daemon, result: str) -> float:
    return sum(value for (name, labels), value in samples(daemon.metrics.render()).items()
               if name == PROBES_TOTAL and dict(labels)["result"] == result)


async def _start(path: Path, **kw: Any) -> Daemon:
    daemon = Daemon(DaemonOptions(config=path, port=0, location="test-loc", **kw))
    await daemon.start()
    return daemon


@pytest.mark.e2e
async def test_runs_that_cannot_get_a_slot_in_time_are_shed_not_failed(
        tmp_path: Path, target: Target) -> None:
    # Six probes due every 2 s, each answered in 0.5 s, one slot: 3 s of probing due per 2 s,
    # so at most four of every six runs can start, whatever the machine's speed. A run waits
    # for the slot up to its lag budget (min(1 s, half of 2 s)) and is then shed; it cannot
    # overlap its own next run (1 s of waiting + 0.5 s of probing < 2 s): the rest are shed.
    target.delay = 0.5
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(
        [f"{target.url}/{i}" for i in range(6)], interval="2s", timeout="1500ms"))
    with capture_logs() as logs:
        started = time.monotonic()
        daemon = await _start(cfg, max_concurrency=1)
        try:
            # A hang check: a few runs of each kind take ~4 s.
            await until(lambda: _skipped(daemon, SkipReason.OVERLOAD) >= 3
                        and _runs(daemon, "success") >= 3, timeout=30, what="shed runs")
        finally:
            await daemon.stop()
        took = time.monotonic() - started
    shed = _skipped(daemon, SkipReason.OVERLOAD)
    assert shed >= 3
    # The gap is the monitor's: no shed run is a failed run, a failure reason or a state change.
    found = samples(daemon.metrics.render())
    assert _runs(daemon, "failure") == 0
    assert not [k for k, v in found.items() if k[0] == PROBE_FAILURES_TOTAL and v], found
    for key in daemon.scheduler.jobs:
        state = daemon.scheduler.state(key)
        assert state.consecutive_failures == 0 and state.outage_start is None, key
        # Up once it ran; a probe whose every run so far was shed is still unknown.
        assert state.up is not False, key
    # Every shed run is in the logs, a line per SHED_LOG_EVERY at most (the first at once, the
    # rest flushed by a timer, which never fires early, and by stop()).
    lines = [e for e in logs if e["event"] == SHED_EVENT]
    assert sum(e["shed"] for e in lines) == shed
    assert all(e["log_level"] == "warning" for e in lines)
    assert len(lines) <= 2 + took // SHED_LOG_EVERY


@pytest.mark.e2e
async def test_a_daemon_with_room_sheds_nothing_and_an_overlap_stays_an_overlap(
        tmp_path: Path, target: Target) -> None:
    target.delay = 1.0
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(
        [f"{target.url}/{i}" for i in range(3)], interval="2s", timeout="1500ms"))
    with capture_logs() as logs:
        daemon = await _start(cfg)
        try:
            await until(lambda: target.in_flight >= 1, timeout=5, what="a run in flight")
            # While a run is in flight (the target answers in 1 s), fire its job again now,
            # APScheduler's own way: the previous run of the same probe is still going.
            [key] = [k for k in daemon.scheduler.jobs
                     if k.split("/")[0] == f"svc-{int(target.paths[-1].strip('/')):05d}"]
            daemon.scheduler._aps.modify_job(key, next_run_time=dt.datetime.now(dt.UTC))
            await until(lambda: _skipped(daemon, SkipReason.OVERLAP) >= 1, what="an overlap")
            # A hang check: every probe's first two grid points pass in 4 s.
            await until(lambda: _runs(daemon, "success") >= 6, timeout=15, what="runs")
        finally:
            await daemon.stop()
    # The lag budget is 1 s here: ~6x the worst lag seen on a loaded machine (173 ms, see
    # bench/README.md), with three probes and a thousand slots.
    assert _skipped(daemon, SkipReason.OVERLOAD) == 0
    assert _skipped(daemon, SkipReason.OVERLAP) >= 1
    skipped = [e for e in logs if e["event"].startswith("probe run skipped")]
    assert key in {e["job"] for e in skipped}
    assert not [e for e in logs if e["event"] == SHED_EVENT]
