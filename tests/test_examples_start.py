"""Every shipped example catalog starts the daemon: loads, serves /metrics with all its probes
configured, stops cleanly. No environment: the ${NAME:-default}s must be enough to start (the
probes may fail, nothing listens on the default ports)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.tools import metrics_body, promtool_check_metrics, samples, scrape
from monitor.catalog.loading import load_catalog
from monitor.runtime.daemon import Daemon, DaemonOptions
from monitor.supervisor import Supervisor, SupervisorOptions

EXAMPLES = Path(__file__).resolve().parent.parent / "config" / "examples"
ROOTS = sorted(p for p in EXAMPLES.iterdir() if p.is_dir() or p.suffix in (".yaml", ".yml"))


def test_there_are_examples() -> None:
    assert {"demo", "every-kind"} <= {p.name for p in ROOTS}


@pytest.mark.parametrize("root", ROOTS, ids=lambda p: p.name)
async def test_example_catalog_starts_the_daemon(root: Path) -> None:
    # Counted from an independent load, not from the daemon whose metric is checked; a
    # platform's probes run like a service's.
    configured = sum(len(s.probes) for s in load_catalog(root, env={}).probed)
    assert configured > 0
    daemon = Daemon(DaemonOptions(config=root, port=0, location="examples", env={}, grace=1.0))
    await daemon.start()
    try:
        assert daemon.catalog is not None
        found = await scrape(daemon.url)
        assert found["dozor_probes_configured", frozenset()] == configured
        assert found["dozor_config_last_reload_successful", frozenset()] == 1
    finally:
        await daemon.stop()


@pytest.mark.e2e  # worker processes
@pytest.mark.parametrize("root", ROOTS, ids=lambda p: p.name)
async def test_example_catalog_starts_under_workers(root: Path) -> None:
    """The same under ``dozor run --workers 2``: the workers' shares add up to the catalog,
    and the merged /metrics is promtool-clean."""
    configured = sum(len(s.probes) for s in load_catalog(root, env={}).probed)
    options = DaemonOptions(config=root, port=0, location="examples", env={}, grace=1.0)
    supervisor = Supervisor(SupervisorOptions(options, workers=2))
    await supervisor.start()
    try:
        body = await metrics_body(supervisor.url)
        check = promtool_check_metrics(body)
        assert check.returncode == 0, check.stdout + check.stderr
        found = samples(body)
        shares = [found["dozor_probes_configured", frozenset({("worker", w)})] for w in "01"]
        assert sum(shares) == configured
        assert all(found["dozor_config_last_reload_successful", frozenset({("worker", w)})]
                   == 1 for w in "01")
    finally:
        await supervisor.stop()
