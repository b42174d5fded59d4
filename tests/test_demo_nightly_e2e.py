"""The demo's simulated nightly job against a real ``dozor run``: its nights drive a heartbeat
to success with a measured run (start and end paired by run id), and the night it skips turns
the heartbeat ``missed``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness.catalog_factory import catalog_dict, write_catalog
from harness.dozor_process import DozorProcess
from harness.stack import poll
from harness.tools import Samples, scrape
from monitor.demo.nightly import run_nights

pytestmark = pytest.mark.e2e

TOKEN = "demo-nightly-job-token-0123"
DEADLINE = 30.0  # bounds waits for runs every 1 s on a shared two-core machine


def _value(found: Samples, name: str, **wanted: str) -> float | None:
    """The sum of the matching series, or None when there is none."""
    values = [v for (n, labels), v in found.items()
              if n == name and wanted.items() <= dict(labels).items()]
    return sum(values) if values else None


@pytest.fixture
async def dozor(tmp_path: Path) -> AsyncIterator[DozorProcess]:
    data = catalog_dict(["http://127.0.0.1:1/"], interval="1s", timeout="500ms")
    data["services"][0]["probes"] = [{"name": "nightly", "heartbeat": {
        "token": TOKEN, "period": "3s", "grace": "1s", "max_duration": "2s"}}]
    process = DozorProcess(write_catalog(tmp_path / "catalog.yaml", data), "e2e",
                           tmp_path / "dozor.log")
    try:
        await process.start()
        yield process
    finally:
        await process.close()


async def test_the_nights_succeed_with_a_measured_run_and_the_skipped_one_is_missed(
        dozor: DozorProcess) -> None:
    said: list[str] = []
    # Two nights run (0.3 s each), the third is skipped; then nothing more is sent.
    await run_nights(f"{dozor.url}/ping/{TOKEN}", said.append, night=1.0, run_time=0.3,
                     missed_every=3, nights=3)
    assert len(said) == 1 and "night 3 skipped" in said[0]
    # The kind's gauges are set by the heartbeat's next run (every 1 s), not by the ping: wait
    # for a run after the last night's end. The run id paired each start with its end: the
    # daemon measured a run of at least the job's 0.3 s, and none is left open.
    async def measured() -> bool | None:
        found = await scrape(dozor.url)
        duration = _value(found, "dozor_heartbeat_job_duration_seconds", probe="nightly")
        done = (duration is not None and duration >= 0.3
                and _value(found, "dozor_heartbeat_runs_open", probe="nightly") == 0
                and _value(found, "dozor_heartbeat_last_exit_code", probe="nightly") == 0)
        return True if done else None

    await poll(measured, DEADLINE, "the nights' runs measured, none open, exit code 0")

    async def missed() -> float | None:
        count = _value(await scrape(dozor.url), "dozor_probe_failures_total",
                       probe="nightly", reason="missed")
        return count or None

    # The last success plus period and grace passes with no ping: the heartbeat says missed.
    await poll(missed, DEADLINE, "the skipped night reported as missed")
    found = await scrape(dozor.url)
    assert (_value(found, "dozor_probes_total", probe="nightly", result="success") or 0) > 0
