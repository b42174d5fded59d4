"""1,000 browser checks through one runtime, with the browser killed mid-run and a page that
hangs its renderer on the way: afterwards no Chromium process is left, the daemon's own
memory has not grown with the checks, and the browser tree stayed under 1 GiB.

The memory bounds are sizes, not timings: growth of this process's RSS between check 200
and check 1,000 (after warm-up), and the browser tree's largest PSS seen (pages its
processes share counted once)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from harness.browser_site import BrowserSite
from harness.processes import chromium, descendants, pss_bytes
from harness.stack import until
from harness.vitals import rss_bytes
from probes import ProbeContext, Reason, RuntimeSettings, run_probe
from probes.browser import BrowserRuntime, BrowserSpec, probe_browser

pytestmark = pytest.mark.e2e

CHECKS = 1000
CONCURRENCY = 4
KILL_AT, HANG_AT, WARM_AT = 300, 600, 200
MiB = 1 << 20


@pytest.fixture
async def site() -> AsyncIterator[BrowserSite]:
    running = await BrowserSite().start()
    yield running
    await running.close()


async def test_a_thousand_checks_a_kill_and_a_hang_leave_nothing_behind(
        ctx: ProbeContext, site: BrowserSite) -> None:
    runtime = BrowserRuntime(RuntimeSettings(options={"browser-concurrency": CONCURRENCY}))
    run_ctx = replace(ctx, runtime=runtime, service="svc", probe="soak")
    page = BrowserSpec.model_validate({"steps": [
        {"goto": f"{site.url}/form"}, {"click": "#send"},
        {"expect": {"text": "Заявление принято"}}]})
    hang = BrowserSpec.model_validate({"steps": [
        {"goto": f"{site.url}/hang"}, {"wait_for": {"text": "никогда"}}]})
    reasons: list[Reason | None] = []
    own_rss: dict[int, int] = {}
    tree_pss = 0
    done = 0

    async def one(index: int) -> None:
        nonlocal done, tree_pss
        # 30 s: no step can run out of time on a loaded machine; only the hang is cut.
        spec, timeout = (hang, 2.0) if index == HANG_AT else (page, 30.0)
        result, _ = await run_probe(probe_browser, spec, run_ctx, timeout)
        reasons.append(result.reason)
        done += 1
        tree_pss = max(tree_pss, pss_bytes(runtime.pids()))
        if done in (WARM_AT, CHECKS):
            own_rss[done] = rss_bytes()

    async def kill_when_due() -> None:
        await until(lambda: done >= KILL_AT, 300.0, f"{KILL_AT} checks done")
        for leader in runtime.leaders():
            os.killpg(leader, signal.SIGKILL)  # mid-run: others are in flight

    killer = asyncio.create_task(kill_when_due())
    queue = iter(range(CHECKS))

    async def worker() -> None:
        for index in queue:
            await one(index)

    try:
        # More workers than slots, so runs queue for a slot as scheduled runs would.
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY * 2)))
        await killer
        browsers = chromium(descendants(os.getpid()))
    finally:
        await runtime.close()
    assert len(reasons) == CHECKS
    failed = [r for r in reasons if r is not None]
    # The hung page times out; the kill fails at most the runs in flight at that moment.
    assert Reason.TIMEOUT in failed
    assert len(failed) <= 1 + CONCURRENCY, failed
    assert set(failed) <= {Reason.TIMEOUT, Reason.ERROR}
    assert runtime.restarts["crash"] >= 1 and runtime.restarts["timeout"] == 1
    assert runtime.restarts["recycle"] >= 3  # every 200 runs
    await until(lambda: not chromium(browsers), 10.0, "no Chromium left")
    assert not chromium(descendants(os.getpid()))
    growth = own_rss[CHECKS] - own_rss[WARM_AT]
    print(f"\nfailed: {failed}; own RSS at {WARM_AT}: {own_rss[WARM_AT] / MiB:.0f} MiB, "
          f"at {CHECKS}: "
          f"{own_rss[CHECKS] / MiB:.0f} MiB; browser tree peak PSS {tree_pss / MiB:.0f} MiB; "
          f"launches {runtime.launches}, retired {dict(runtime.restarts)}")
    assert growth < 40 * MiB, f"grew {growth / MiB:.0f} MiB over {CHECKS - WARM_AT} checks"
    assert tree_pss < 1024 * MiB
