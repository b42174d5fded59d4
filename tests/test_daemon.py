"""The daemon end to end in-process: real target server, real scheduler, real /metrics."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from harness.catalog_factory import catalog_dict, write_catalog
from harness.stack import poll, until
from harness.target import Target
from harness.tools import (
    Samples,
    metrics_body,
    post_reload,
    promtool_check_metrics,
    samples,
    scrape,
)
from monitor.runtime import scheduler as scheduler_module
from monitor.runtime.daemon import Daemon, DaemonOptions
from monitor.runtime.plan import JobSpec, PlanDiff
from monitor.serving.security import WebSecurity
from probes import PROBES, HttpSpec, ProbeContext, ProbeResult


async def _start(path: Path, **kw: Any) -> Daemon:
    daemon = Daemon(DaemonOptions(config=path, port=0, location="test-loc", **kw))
    await daemon.start()
    return daemon


async def _scrape(daemon: Daemon) -> tuple[bytes, Samples]:
    body = await metrics_body(daemon.url)
    return body, samples(body)


def _total(samples: Samples, service: str, result: str) -> float:
    return sum(v for (name, labels), v in samples.items()
               if name == "dozor_probes_total" and dict(labels)["service"] == service
               and dict(labels)["result"] == result)


async def test_probes_run_and_metrics_pass_promtool(tmp_path: Path, target: Target) -> None:
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(
        [f"{target.url}/a", f"{target.url}/b"], interval="1s", timeout="500ms"))
    daemon = await _start(cfg)
    try:
        await until(lambda: target.hits >= 4)
        body, samples = await _scrape(daemon)
        assert _total(samples, "svc-00000", "success") >= 1
        assert samples["dozor_probe_success", frozenset(
            {"service": "svc-00001", "probe": "portal", "location": "test-loc"}.items())] == 1
        assert samples["dozor_config_last_reload_successful", frozenset()] == 1
        checked = promtool_check_metrics(body)
        assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")
        assert all(ua.startswith("Dozor/") for ua in target.user_agents)
        async with aiohttp.ClientSession() as s, s.get(f"{daemon.url}/healthz") as r:
            assert r.status == 200
    finally:
        await daemon.stop()


@pytest.mark.e2e
async def test_state_changes_are_logged_once_each(tmp_path: Path, target: Target) -> None:
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(
        [f"{target.url}/a"], interval="1s", timeout="500ms"))
    with capture_logs() as logs:
        daemon = await _start(cfg)
        try:
            await until(lambda: target.hits >= 1)
            target.status = 503
            await until(lambda: any(e["event"] == "probe failing" for e in logs))
            hits = target.hits
            await until(lambda: target.hits >= hits + 2)  # stays down: no new line
            target.status = 200
            await until(lambda: any(e["event"] == "probe recovered" for e in logs))
        finally:
            await daemon.stop()
    failing = [e for e in logs if e["event"] == "probe failing"]
    assert len(failing) == 1
    assert failing[0]["reason"] == "http_status" and failing[0]["service"] == "svc-00000"
    assert failing[0]["location"] == "test-loc" and failing[0]["probe"] == "portal"
    assert failing[0]["previous"] == "up"
    assert len([e for e in logs if e["event"] == "probe recovered"]) == 1
    assert not [e for e in logs if e["event"] == "probe run" and e["log_level"] != "debug"]


async def test_valid_reload_applies_a_diff(tmp_path: Path, target: Target) -> None:
    urls = [f"{target.url}/{i}" for i in range(3)]
    data = catalog_dict(urls, interval="1s", timeout="500ms")
    cfg = write_catalog(tmp_path / "c.yaml", data)
    token = "a-reload-token-of-some-length"
    daemon = await _start(cfg, security=WebSecurity(reload_token=token))
    try:
        await until(lambda: target.hits >= 3)
        kept_state = daemon.scheduler.state("svc-00000/portal")
        kept_next = daemon.scheduler.next_run("svc-00000/portal")
        data["services"][1]["probes"][0]["interval"] = "2s"  # changed interval
        del data["services"][2]  # removed probe
        write_catalog(cfg, data)
        assert (await post_reload(daemon.url, token))[0] == 200
        assert set(daemon.scheduler.jobs) == {"svc-00000/portal", "svc-00001/portal"}
        assert daemon.scheduler.jobs["svc-00001/portal"].interval == 2.0
        assert daemon.scheduler.state("svc-00000/portal") is kept_state
        next_now = daemon.scheduler.next_run("svc-00000/portal")
        assert next_now is not None and kept_next is not None
        # Same grid: a whole number of intervals apart (one more if a run fired meanwhile, so
        # not `% 1.0`, which reads 0.9999998 as off-grid).
        moved = next_now - kept_next
        assert moved == pytest.approx(round(moved), abs=1e-3)
        samples = await scrape(daemon.url)
        assert _total(samples, "svc-00002", "success") == 0
        assert not [k for k in samples if dict(k[1]).get("service") == "svc-00002"]
        assert samples["dozor_config_last_reload_successful", frozenset()] == 1
        assert samples["dozor_probes_configured", frozenset()] == 2
    finally:
        await daemon.stop()


@pytest.mark.e2e
async def test_invalid_reload_keeps_running_catalog(tmp_path: Path, target: Target) -> None:
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(
        [f"{target.url}/a"], interval="1s", timeout="500ms"))
    daemon = await _start(cfg)
    try:
        cfg.write_text("services:\n  - id: x\n    bogus: [\n", encoding="utf-8")
        with capture_logs() as logs:
            assert await daemon.reload() is False
        assert [e for e in logs if e["event"].startswith("reload rejected")]
        assert "c.yaml" in str(logs[-1]["errors"])
        assert set(daemon.scheduler.jobs) == {"svc-00000/portal"}
        hits = target.hits
        await until(lambda: target.hits >= hits + 2)  # still probing
        samples = await scrape(daemon.url)
        assert samples["dozor_config_last_reload_successful", frozenset()] == 0
    finally:
        await daemon.stop()


@pytest.mark.e2e
async def test_concurrency_bound_holds(tmp_path: Path, target: Target) -> None:
    target.delay = 0.6
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(
        [f"{target.url}/{i}" for i in range(6)], interval="1s", timeout="900ms"))
    daemon = await _start(cfg, max_concurrency=2)
    try:
        await until(lambda: target.hits >= 6)
    finally:
        await daemon.stop()
    assert target.max_in_flight == 2


@pytest.mark.e2e
@pytest.mark.parametrize(("grace", "delay", "cancelled"), [(3.0, 0.8, 0), (0.3, 1.5, 1)])
async def test_shutdown_with_probe_in_flight(
    tmp_path: Path, target: Target, grace: float, delay: float, cancelled: int
) -> None:
    target.delay = delay
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(
        [f"{target.url}/a"], interval="2s", timeout="1900ms"))
    daemon = await _start(cfg, grace=grace)
    await until(lambda: target.in_flight == 1, timeout=4)
    started = time.monotonic()
    with capture_logs() as logs:
        await daemon.stop()
    took = time.monotonic() - started
    stopped = next(e for e in logs if e["event"] == "dozor stopped")
    assert stopped["cancelled_probes"] == cancelled
    # A hang check (cancellation itself is cancelled_probes): stop takes ~min(grace, the
    # probe's remaining delay); 1.5 s more is ~9x the worst loop stall seen under load.
    assert took < grace + 1.5
    if cancelled == 0:  # the in-flight run finished and was recorded
        assert daemon.scheduler.state("svc-00000/portal").up is True


def _has(samples: Samples, name: str, service: str) -> bool:
    return any(n == name and dict(labels)["service"] == service for n, labels in samples)


def _series(samples: Samples, name: str, service: str, **extra: str) -> float:
    labels = {"service": service, "probe": "portal", "location": "test-loc", **extra}
    return samples[name, frozenset(labels.items())]


TOKEN = "a-reload-token-of-some-length"


async def test_reload_onto_a_dns_only_catalog_applies(tmp_path: Path, target: Target) -> None:
    data = catalog_dict([f"{target.url}/a"], interval="1s", timeout="500ms")
    cfg = write_catalog(tmp_path / "c.yaml", data)
    daemon = await _start(cfg, security=WebSecurity(reload_token=TOKEN))
    try:
        data["services"][0]["probes"] = [
            {"name": "dns", "dns": {"server": "127.0.0.1:1", "query_name": "example.org"}}]
        write_catalog(cfg, data)
        assert await post_reload(daemon.url, TOKEN) == (200, "reloaded\n")
        assert set(daemon.scheduler.jobs) == {"svc-00000/dns"}
        samples = await scrape(daemon.url)
        assert samples["dozor_config_last_reload_successful", frozenset()] == 1
    finally:
        await daemon.stop()


@pytest.mark.e2e
async def test_probe_that_raises_is_a_failed_run_logged_once(
        tmp_path: Path, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    raising = True

    async def broken(spec: HttpSpec, ctx: ProbeContext) -> ProbeResult:
        if raising:
            raise RuntimeError("probe bug")
        return ProbeResult.ok()

    monkeypatch.setattr(scheduler_module, "PROBES", {**PROBES, HttpSpec: broken})
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(
        [f"{target.url}/a"], interval="1s", timeout="500ms"))
    with capture_logs() as logs:
        daemon = await _start(cfg)
        try:
            def failures() -> float:
                return daemon.metrics.registry.get_sample_value(
                    "dozor_probe_failures_total", {"service": "svc-00000", "probe": "portal",
                                                   "location": "test-loc",
                                                   "reason": "error"}) or 0.0

            await until(lambda: failures() >= 3, what="three failed runs")
            samples = await scrape(daemon.url)
            assert _total(samples, "svc-00000", "failure") >= 3
            assert _total(samples, "svc-00000", "success") == 0
            assert _series(samples, "dozor_probe_success", "svc-00000") == 0
            assert daemon.scheduler.state("svc-00000/portal").up is False
            raised = [e for e in logs if e["event"] == "probe raised"]
            assert len(raised) == 1  # once, not once per run
            assert raised[0]["log_level"] == "error"
            assert isinstance(raised[0]["exc_info"], RuntimeError)
            assert raised[0]["service"] == "svc-00000" and raised[0]["probe"] == "portal"
            raising = False  # it stops raising ...
            await until(lambda: daemon.scheduler.state("svc-00000/portal").up is True)
            raising = True  # ... and starts again: logged again, once
            seen = failures()
            await until(lambda: failures() >= seen + 2, what="two more failed runs")
        finally:
            await daemon.stop()
    assert len([e for e in logs if e["event"] == "probe raised"]) == 2


@pytest.mark.e2e
async def test_reload_that_raises_is_a_failed_reload(
        tmp_path: Path, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    data = catalog_dict([f"{target.url}/a"], interval="1s", timeout="500ms")
    cfg = write_catalog(tmp_path / "c.yaml", data)
    daemon = await _start(cfg, security=WebSecurity(reload_token=TOKEN))
    real_apply = daemon.scheduler.apply

    def half_then_raise(plan: dict[str, JobSpec]) -> PlanDiff:
        diff = real_apply(plan)  # the new jobs are in: a rollback has to take them out
        if "svc-00001/portal" in plan:
            raise RuntimeError("apply broke")
        return diff

    monkeypatch.setattr(daemon.scheduler, "apply", half_then_raise)
    try:
        await until(lambda: target.hits >= 1)
        write_catalog(cfg, catalog_dict([f"{target.url}/a", f"{target.url}/b"],
                                        interval="1s", timeout="500ms"))
        with capture_logs() as logs:
            status, body = await post_reload(daemon.url, TOKEN)
        assert status == 400
        assert body == "reload failed; running catalog kept (see log)\n"
        errors = [e for e in logs if e["log_level"] == "error"]
        assert [e["event"] for e in errors] == ["reload failed; running catalog kept"]
        assert errors[0]["error"] == "RuntimeError: apply broke"
        assert set(daemon.scheduler.jobs) == {"svc-00000/portal"}
        assert daemon.catalog is not None and len(daemon.catalog.services) == 1
        samples = await scrape(daemon.url)
        assert samples["dozor_config_last_reload_successful", frozenset()] == 0
        assert samples["dozor_probes_configured", frozenset()] == 1
        assert not [k for k in samples if dict(k[1]).get("service") == "svc-00001"]
        hits = len([p for p in target.paths if p == "/a"])
        await until(lambda: len([p for p in target.paths if p == "/a"]) >= hits + 2)
        assert "/b" not in target.paths
    finally:
        await daemon.stop()


@pytest.mark.e2e
async def test_probe_success_is_absent_until_the_first_run(
        tmp_path: Path, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    # Runs wait here: none completes until the test opens the gate, or before the 9 s
    # timeout, far longer than a scrape right after a start or a reload.
    gate = asyncio.Event()

    async def gated(spec: HttpSpec, ctx: ProbeContext) -> ProbeResult:
        await gate.wait()
        return ProbeResult.ok()

    monkeypatch.setattr(scheduler_module, "PROBES", {**PROBES, HttpSpec: gated})
    data = catalog_dict([f"{target.url}/a", f"{target.url}/b"], interval="10s",
                        timeout="9s")
    cfg = write_catalog(tmp_path / "c.yaml", data)
    daemon = await _start(cfg, security=WebSecurity(reload_token=TOKEN))
    try:
        body, samples = await _scrape(daemon)
        for service in ("svc-00000", "svc-00001"):
            assert _has(samples, "dozor_probes_total", service)  # its series are there ...
            assert _total(samples, service, "failure") == 0
            assert not _has(samples, "dozor_probe_success", service)  # ... but no verdict
            assert not _has(samples, "dozor_probe_up", service)
        checked = promtool_check_metrics(body)
        assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")

        gate.set()

        async def both_ran() -> bool | None:
            s = await scrape(daemon.url)
            return True if all(_has(s, "dozor_probe_success", f"svc-0000{i}")
                               for i in (0, 1)) else None

        await poll(both_ran, 20, "both probes' first runs")  # within one interval
        gate.clear()
        write_catalog(cfg, catalog_dict([f"{target.url}/{p}" for p in "abc"], interval="10s",
                                        timeout="9s"))
        assert (await post_reload(daemon.url, TOKEN))[0] == 200
        body, samples = await _scrape(daemon)
        assert _series(samples, "dozor_probe_success", "svc-00000") == 1
        assert _has(samples, "dozor_probes_total", "svc-00002")
        assert _total(samples, "svc-00002", "failure") == 0
        assert not _has(samples, "dozor_probe_success", "svc-00002")  # added, not run yet
        checked = promtool_check_metrics(body)
        assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")

        write_catalog(cfg, data)  # and removal still drops every series
        assert (await post_reload(daemon.url, TOKEN))[0] == 200
        samples = await scrape(daemon.url)
        assert not [k for k in samples if dict(k[1]).get("service") == "svc-00002"]
    finally:
        gate.set()
        await daemon.stop()


async def test_a_changed_spec_drops_what_the_old_one_exported(
        tmp_path: Path, target: Target) -> None:
    """A journey step renamed by a reload: the old step's series goes (it would never be set
    again, and a stale value would be read as current); unchanged probes keep theirs."""
    data = catalog_dict([target.url, f"{target.url}/other"], interval="1s", timeout="500ms")
    for service in data["services"]:
        url = service["probes"][0]["http"]["url"]
        service["probes"] = [{"name": "apply", "journey": {"steps": [
            {"name": "home", "request": {"url": url}}]}}]
    cfg = write_catalog(tmp_path / "c.yaml", data)
    token = "a-reload-token-of-some-length"
    daemon = await _start(cfg, security=WebSecurity(reload_token=token))

    async def steps() -> set[tuple[str, str]]:
        return {(dict(labels)["service"], dict(labels)["step"])
                for (name, labels) in await scrape(daemon.url)
                if name == "dozor_journey_step_duration_seconds"}

    async def seen(wanted: tuple[str, str]) -> bool | None:
        return True if wanted in await steps() else None

    try:
        await poll(lambda: seen(("svc-00000", "home")), 10.0, "the first journey ran")
        await poll(lambda: seen(("svc-00001", "home")), 10.0, "the second journey ran")
        data["services"][0]["probes"][0]["journey"]["steps"][0]["name"] = "start"
        write_catalog(cfg, data)
        assert (await post_reload(daemon.url, token))[0] == 200
        after = await steps()
        assert ("svc-00000", "home") not in after
        assert ("svc-00001", "home") in after  # unchanged: kept
        await poll(lambda: seen(("svc-00000", "start")), 10.0, "the renamed step ran")
    finally:
        await daemon.stop()
