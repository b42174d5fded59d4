"""The demo's browser pages through the real daemon, judged by the demo catalog's own probes.

doctor-khv's http probe (on the single-page app's shell) and its browser probe (which runs the
page's script, as a citizen's browser does) are up together outside the Khabarovsk hourly
window and apart inside it, where the JSON API behind the page answers 503; the browser probe
comes back when the window ends. address-assignment-smo's form works (fill, submit) but fails
its accessibility audit at every run, with the world's three violations counted by impact.

The probes are the shipped ones (URLs, steps, expectations, audits) with shorter intervals;
the world's clock is moved across the window's edges while the daemon runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.catalog_factory import write_catalog
from harness.stack import poll
from harness.tools import Samples, scrape
from monitor.demo import demo_env, spa, start_world
from monitor.runtime.daemon import Daemon, DaemonOptions

pytestmark = pytest.mark.e2e

DEMO = Path(__file__).resolve().parent.parent / "config" / "examples" / "demo"
PORTAL, SLOTS, FORM = ("doctor-khv", "portal"), ("doctor-khv", "slots"), (
    "address-assignment-smo", "form")
DEADLINE = 60.0  # generous: a shared two-core machine, and Chromium's first start
Ref = tuple[str, str]


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def set_khabarovsk(self, hour: int, minute: int) -> None:
        self.now = datetime(2025, 6, 11, hour, minute, tzinfo=spa.ZONE).astimezone(UTC)


def _catalog() -> dict[str, Any]:
    """The demo catalog's root with the two services that have browser probes, unexpanded
    (the daemon expands ${DOZOR_DEMO_*} with the world's own). http probes every second;
    browser probes every 9 s with a timeout of 8 s, of which the kind keeps 20 % for the
    failure's evidence: the slots step's own 5 s wait must end first, as in the shipped
    catalog, so that its failure is the step's (assertion), not the run's (timeout)."""
    data: dict[str, Any] = yaml.safe_load((DEMO / "catalog.yaml").read_text(encoding="utf-8"))
    data.pop("include")
    data.pop("platforms")  # none of the two services goes through one
    data["defaults"] = {"interval": "1s", "timeout": "900ms"}
    data["regions"], data["services"] = [], []
    for name in ("khabarovsk.yaml", "smolensk.yaml"):
        doc = yaml.safe_load((DEMO / "services.d" / name).read_text(encoding="utf-8"))
        data["regions"] += doc["regions"]
        data["services"] += [s for s in doc["services"] if s["id"] in (PORTAL[0], FORM[0])]
    for service in data["services"]:
        service["probes"] = [p for p in service["probes"]
                             if (service["id"], p["name"]) in (PORTAL, SLOTS, FORM)]
        for probe in service["probes"]:
            probe.pop("interval", None)
            probe.pop("timeout", None)
            if "browser" in probe:
                probe.update(interval="9s", timeout="8s")
    return data


def _value(found: Samples, name: str, ref: Ref, **extra: str) -> float | None:
    wanted = {"service": ref[0], "probe": ref[1], **extra}
    values = [v for (n, labels), v in found.items()
              if n == name and wanted.items() <= dict(labels).items()]
    return sum(values) if values else None


@dataclass
class Running:
    clock: Clock
    daemon: Daemon

    async def until(self, what: str, **success: float) -> Samples:
        """Scrapes until each probe's dozor_probe_success is as given (portal=1, slots=0)."""
        refs = {"portal": PORTAL, "slots": SLOTS, "form": FORM}

        async def check() -> Samples | None:
            found = await scrape(self.daemon.url)
            reached = all(_value(found, "dozor_probe_success", refs[probe]) == value
                          for probe, value in success.items())
            return found if reached else None

        return await poll(check, DEADLINE, what)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    clock = Clock(datetime(2025, 6, 11, 7, 30, tzinfo=UTC))
    clock.set_khabarovsk(14, 30)
    async with await start_world(clock=clock, time_scale=0.01) as world:
        config = write_catalog(tmp_path / "catalog.yaml", _catalog())
        daemon = Daemon(DaemonOptions(config=config, port=0, location="e2e",
                                      env=demo_env(world)))
        await daemon.start()
        try:
            yield Running(clock, daemon)
        finally:
            await daemon.stop()


async def test_spa_pair_splits_in_the_hourly_window_and_the_form_fails_its_audit(
    running: Running,
) -> None:
    # Outside the window: the page renders its slots, and both probes say up.
    found = await running.until("both doctor-khv probes up, the form audited",
                                portal=1, slots=1, form=0)
    assert (_value(found, "dozor_probe_failures_total", FORM, reason="accessibility") or 0) >= 1
    assert _value(found, "dozor_browser_accessibility_violations", FORM,
                  impact="critical") == 2  # image-alt, label
    assert _value(found, "dozor_browser_accessibility_violations", FORM, impact="serious") == 1
    for impact in ("critical", "serious"):  # the shell passes the same audit
        assert not _value(found, "dozor_browser_accessibility_violations", SLOTS, impact=impact)

    # Inside: the shell still answers 200, the API 503, the page never shows its slots.
    running.clock.set_khabarovsk(15, 5)
    found = await running.until("the browser probe down, the http probe still up",
                                portal=1, slots=0)
    assert (_value(found, "dozor_probe_failures_total", SLOTS, reason="assertion") or 0) >= 1
    assert not _value(found, "dozor_probes_total", PORTAL, result="failure")

    # After the window the page renders again.
    running.clock.set_khabarovsk(15, 10)
    await running.until("the browser probe up again", portal=1, slots=1)
