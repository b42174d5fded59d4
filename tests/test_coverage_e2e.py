"""Coverage through a real daemon going away and coming back, on Prometheus 2.42.

The promtool scenarios in test_rules.py write the stale markers themselves; here Prometheus
writes them, as it does when a scrape of the daemon fails, and the generated rules (every
group's interval rewritten to 1s) must still count the runs the stopped daemon owed: its
schedule carried, its runs missed, counted once when it is back under the same address.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.catalog_factory import catalog_dict, write_catalog
from harness.stack import free_port, poll, prometheus, query, shortened_rules
from monitor.catalog import load_catalog
from monitor.rules import render_rules
from monitor.runtime.daemon import Daemon, DaemonOptions

pytestmark = pytest.mark.e2e

SERVICES = ("svc-00000", "svc-00001")
RUNS_PER_5M = 300  # a run every second


async def _values(prom: str, expr: str) -> dict[str, float]:
    """Per service, the value of ``expr`` now."""
    return {r["metric"].get("service", ""): float(r["value"][1])
            for r in await query(prom, expr)}


async def _each(prom: str, expr: str) -> dict[str, float] | None:
    """``expr`` for every service, or None while one is missing."""
    values = await _values(prom, expr)
    return values if set(SERVICES) <= set(values) else None


def _daemon(catalog: Path, port: int) -> Daemon:
    return Daemon(DaemonOptions(config=catalog, port=port, location="e2e", grace=1.0))


async def test_a_stopped_daemon_owes_its_runs(tmp_path: Path) -> None:
    closed = free_port()  # the probes fail fast; coverage counts runs, not successes
    data = catalog_dict([f"http://127.0.0.1:{closed}/{i}" for i in range(len(SERVICES))],
                        interval="1s", timeout="500ms")
    catalog = write_catalog(tmp_path / "catalog.yaml", data)
    rules = tmp_path / "rules.yml"
    rules.write_text(shortened_rules(render_rules(load_catalog(catalog)), 1.0),
                     encoding="utf-8")
    port = free_port()
    due, done = "dozor:location_runs_due:increase5m", "dozor:location_runs_done:increase5m"
    daemon = _daemon(catalog, port)
    await daemon.start()
    try:
        async with prometheus(tmp_path / "prom", scrape=f"127.0.0.1:{port}",
                              rule_files=[rules], alertmanager_url=None) as prom:
            async def covered() -> dict[str, float] | None:
                found = await _each(prom.url, 'dozor:location_coverage:1h{location="e2e"}')
                return found if found and min(found.values()) == 1 else None

            await poll(covered, 30, "full coverage while the daemon runs", every=0.5)
            await daemon.stop()

            async def missed() -> dict[str, float] | None:
                gap = await _each(prom.url, f"{due} - on (service, location) {done}")
                return gap if gap and min(gap.values()) >= 5 else None

            # Its series are stale at the first failed scrape, yet its runs stay due.
            await poll(missed, 30, "runs due and not done while the daemon is away", every=0.5)
            assert await _values(prom.url, "dozor_probe_interval_seconds") == {}
            assert await _values(prom.url, "dozor_build_info") == {}
            assert await _values(prom.url, "dozor:daemon_last_seen_timestamp_seconds < time()")

            daemon = _daemon(catalog, port)
            await daemon.start()

            async def running() -> dict[str, float] | None:
                return await _each(prom.url, 'sum by (service) (increase(dozor_probes_total'
                                             '{location="e2e"}[3s])) > 0')

            await poll(running, 30, "runs again after the restart", every=0.5)
            # Counted once: the schedule carried for the stopped daemon gave way to the
            # same daemon's, back under the same address.
            schedule = await _each(prom.url, "sum by (service) (dozor:daemon_schedule_runs:5m)")
            assert schedule == {s: RUNS_PER_5M for s in SERVICES}
            hour = await _each(prom.url, 'dozor:location_coverage:1h{location="e2e"}')
            assert hour is not None and all(0 < v < 1 for v in hour.values()), hour
    finally:
        await daemon.stop()
