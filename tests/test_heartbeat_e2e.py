"""Heartbeats through ``dozor run`` as a real process: a job that starts before a restart and
ends after it (``--state-file``: the duration spans the restart), a saved part the kind cannot
use (the start goes on), ``--heartbeat-listen``, and, under a pinned clock (libfaketime), a
working-days-only job that raises nothing on a public holiday."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness import clock
from harness.catalog_factory import catalog_dict, write_catalog
from harness.dozor_process import DozorProcess
from harness.stack import free_port, poll
from harness.tools import Samples, scrape

pytestmark = pytest.mark.e2e

TOKEN = "restart-job-token-0123456789"
DEADLINE = 30.0  # bounds waits for runs every 1 s on a shared two-core machine

def _catalog(path: Path, probes: dict[str, dict[str, Any]]) -> Path:
    data = catalog_dict(["http://127.0.0.1:1/"], interval="1s", timeout="500ms")
    data["services"][0]["probes"] = [{"name": n, "heartbeat": hb} for n, hb in probes.items()]
    return write_catalog(path, data)


async def _get(url: str, method: str = "GET") -> int:
    async with aiohttp.ClientSession() as s, s.request(method, url) as r:
        return r.status


def _value(found: Samples, name: str, probe: str, **extra: str) -> float | None:
    wanted = {"probe": probe, **extra}
    values = [v for (n, labels), v in found.items()
              if n == name and wanted.items() <= dict(labels).items()]
    return sum(values) if values else None


@pytest.fixture
async def dozor(tmp_path: Path) -> AsyncIterator[DozorProcess]:
    config = _catalog(tmp_path / "catalog.yaml",
                      {"export": {"token": TOKEN, "period": "1d", "max_duration": "1h"}})
    process = DozorProcess(config, "e2e", tmp_path / "dozor.log",
                           state_file=tmp_path / "state.json")
    try:
        yield process
    finally:
        await process.close()


async def test_a_run_started_before_a_restart_ends_after_it(dozor: DozorProcess) -> None:
    await dozor.start()
    assert await _get(f"{dozor.url}/ping/{TOKEN}/start?rid=nightly-1", "POST") == 200
    started_by = time.time()  # the daemon took the start at or before this
    assert await dozor.stop() == 0
    saved = json.loads(dozor.state_file.read_text()) if dozor.state_file else {}
    job = saved["kinds"]["heartbeat"]["jobs"][0]
    assert list(job["open_runs"]) == ["nightly-1"]
    assert TOKEN not in json.dumps(saved)  # the secret is not written down

    await dozor.start()
    found = await scrape(dozor.url)
    assert _value(found, "dozor_probe_failures_total", "export", reason="missed") in (None, 0)

    async def open_run_restored() -> bool | None:
        value = _value(await scrape(dozor.url), "dozor_heartbeat_runs_open", "export")
        return True if value == 1 else None

    await poll(open_run_restored, DEADLINE, "the open run restored and exported")
    ended_after = time.time()  # the daemon takes the end at or after this
    assert await _get(f"{dozor.url}/ping/{TOKEN}/0?rid=nightly-1", "POST") == 200

    async def ended() -> Samples | None:
        found = await scrape(dozor.url)
        return found if _value(found, "dozor_heartbeat_runs_open", "export") == 0 else None

    found = await poll(ended, DEADLINE, "the run closed")
    duration = _value(found, "dozor_heartbeat_job_duration_seconds", "export")
    assert duration is not None and duration >= ended_after - started_by  # spans the restart
    assert _value(found, "dozor_heartbeat_last_exit_code", "export") == 0
    assert _value(found, "dozor_probe_success", "export") == 1


async def test_a_saved_part_the_kind_cannot_use_costs_only_its_state(
        dozor: DozorProcess) -> None:
    assert dozor.state_file is not None
    dozor.state_file.write_text(json.dumps({
        "format": 1, "saved_at": time.time(), "probes": {},
        "kinds": {"heartbeat": {"jobs": [{"service": "svc-00000", "probe": "export",
                                          "since": "yesterday"}]}}}))
    await dozor.start()
    assert await _get(f"{dozor.url}/ping/{TOKEN}") == 200
    assert "saved kind state unusable; starting it fresh" in dozor.output()


async def test_the_listen_flag_moves_the_pings(tmp_path: Path) -> None:
    port = free_port()
    config = _catalog(tmp_path / "catalog.yaml", {"export": {"token": TOKEN, "period": "1d"}})
    process = DozorProcess(config, "e2e", tmp_path / "dozor.log",
                           extra=("--heartbeat-listen", f"127.0.0.1:{port}"))
    try:
        await process.start()
        assert await _get(f"http://127.0.0.1:{port}/ping/{TOKEN}") == 200
        assert await _get(f"{process.url}/ping/{TOKEN}") == 404
    finally:
        await process.close()


@pytest.mark.skipif(not clock.AVAILABLE, reason="needs Debian's faketime (make debs)")
async def test_no_alarm_on_a_public_holiday_under_a_pinned_clock(tmp_path: Path) -> None:
    # The daemon's wall clock starts at 06:00 Moscow time on 1 January 2027 (a holiday; the
    # same hour of a working day would be business hours); its monotonic clock stays real.
    config = _catalog(tmp_path / "catalog.yaml", {
        "report": {"token": TOKEN, "period": "1s", "grace": "1s", "business_hours_only": True},
        "control": {"token": "control-job-token-0123456789", "period": "1s", "grace": "1s"},
    })
    process = DozorProcess(config, "e2e", tmp_path / "dozor.log", env={
        **clock.pinned_clock("@2027-01-01 03:00:00"), "TZ": "UTC"})
    try:
        await process.start()

        async def control_missed() -> Samples | None:
            found = await scrape(process.url)
            missed = _value(found, "dozor_probe_failures_total", "control", reason="missed")
            return found if (missed or 0) >= 1 else None

        # Past the control's due time + grace (2 s of the daemon's clock), it has alarmed.
        found = await poll(control_missed, DEADLINE, "the calendar-free control missed")
        assert _value(found, "dozor_probe_failures_total", "report", reason="missed") == 0
        assert (_value(found, "dozor_probes_total", "report", result="success") or 0) >= 1
        # Proof the clock is pinned: every run so far counted as off-hours (the holiday).
        assert _value(found, "dozor_probes_total", "report", hours="business") == 0
        assert (_value(found, "dozor_probes_total", "report", hours="offhours") or 0) >= 1
    finally:
        await process.close()
