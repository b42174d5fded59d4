"""Browser probes through the real daemon (``dozor run`` as a subprocess, as an operator runs
it): the HTTP probe of a single-page app's shell says up while its browser probe says down,
the browser's series pass promtool, failed runs leave artifacts, and no Chromium outlives
the daemon — after SIGTERM, and after kill -9."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness.browser_site import BrowserSite
from harness.catalog_factory import catalog_dict, write_catalog
from harness.dozor_process import DozorProcess
from harness.processes import chromium, descendants
from harness.stack import poll, until
from harness.tools import Samples, metrics_body, promtool_check_metrics, samples

pytestmark = pytest.mark.e2e

SERVICE = "svc-00000"


@pytest.fixture
async def site() -> AsyncIterator[BrowserSite]:
    running = await BrowserSite(api_down=True).start()
    yield running
    await running.close()


def _catalog(path: Path, site: BrowserSite) -> Path:
    # 3 s: room for a screenshot after the 800 ms wait fails, on a loaded machine too.
    data = catalog_dict([site.url], interval="4s", timeout="3s")
    data["services"][0]["probes"] = [
        {"name": "shell", "http": {"url": f"{site.url}/spa",
                                   "expect": {"body_contains": "Запись к врачу"}}},
        {"name": "slots", "browser": {"steps": [
            {"goto": f"{site.url}/spa"}, {"wait_for": "#slots li", "timeout": "800ms"}]}},
        {"name": "home", "browser": {"steps": [
            {"goto": f"{site.url}/"}, {"expect": {"text": "Запись к врачу"}}],
            "accessibility": {}}},
    ]
    return write_catalog(path, data)


def _value(found: Samples, name: str, **labels: str) -> float | None:
    values = [v for (n, have), v in found.items()
              if n == name and labels.items() <= dict(have).items()]
    return sum(values) if values else None


async def _until_both_ran(dozor: DozorProcess) -> Samples:
    async def check() -> Samples | None:
        found = samples(await metrics_body(dozor.url))
        ran = all(_value(found, "dozor_probe_success", probe=p) is not None
                  for p in ("shell", "slots", "home"))
        return found if ran else None

    return await poll(check, 60.0, "every probe ran")


async def test_shell_up_browser_down_artifacts_and_no_straychromium(
        site: BrowserSite, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    dozor = DozorProcess(_catalog(tmp_path / "catalog.yaml", site), "e2e", tmp_path / "log",
                         extra=("--artifacts-dir", str(artifacts), "--browser-concurrency", "2"))
    await dozor.start()
    try:
        found = await _until_both_ran(dozor)
        assert _value(found, "dozor_probe_success", probe="shell") == 1
        assert _value(found, "dozor_probe_success", probe="slots") == 0
        assert _value(found, "dozor_probe_failures_total", probe="slots", reason="assertion")
        assert _value(found, "dozor_probe_success", probe="home") == 1
        assert _value(found, "dozor_browser_web_vital_seconds", probe="home", vital="fcp")
        assert _value(found, "dozor_browser_accessibility_violations", probe="home",
                      impact="critical") == 0
        assert _value(found, "dozor_browser_page_problems", probe="slots",
                      problem="failed_request") == 1
        assert _value(found, "dozor_browser_launches_total") == 1
        assert (_value(found, "dozor_browser_processes") or 0) > 0
        assert (_value(found, "dozor_browser_memory_bytes") or 0) > 0
        check = promtool_check_metrics(await metrics_body(dozor.url))
        assert check.returncode == 0, check.stdout + check.stderr
        runs = list((artifacts / SERVICE / "slots").iterdir())
        assert runs and all((run / "screenshot.png").is_file() for run in runs)
        assert not (artifacts / SERVICE / "home").exists()
        assert f"(artifacts: {artifacts / SERVICE / 'slots'}" in dozor.output()
        browsers = chromium(descendants(dozor.pid))
        assert browsers
    finally:
        status = await dozor.stop(signal.SIGTERM)
    assert status == 0, dozor.output()
    await until(lambda: not chromium(browsers), 10.0, "no Chromium after SIGTERM")


async def test_chromium_dies_with_a_killed_daemon(site: BrowserSite, tmp_path: Path) -> None:
    dozor = DozorProcess(_catalog(tmp_path / "catalog.yaml", site), "e2e", tmp_path / "log")
    await dozor.start()
    try:
        await _until_both_ran(dozor)
        browsers = chromium(descendants(dozor.pid))
        assert browsers
    finally:
        await dozor.stop(signal.SIGKILL)
    # No cleanup code ran: the parent-death signal and the browser's own exit do it.
    await until(lambda: not chromium(browsers), 10.0, "no Chromium after kill -9")
