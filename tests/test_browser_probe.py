"""The browser kind in a real Chromium (Debian's headless shell) against a local site: every
step kind, every failure reason, Web Vitals and page problems, artifacts and their
retention, accessibility thresholds, a hung page, a crash, recycling, the concurrency cap
and ca_file. Runs go through ``run_probe`` exactly as the scheduler runs them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.browser_site import BrowserSite
from harness.http_zoo import Pki
from harness.processes import alive
from harness.stack import until
from probes import ProbeContext, ProbeResult, Reason, RuntimeSettings, run_probe
from probes.browser import BrowserRuntime, BrowserSpec, probe_browser

pytestmark = pytest.mark.e2e  # starts Chromium

SECRET = "Пароль-s3cr3t-42"


@pytest.fixture
async def site() -> AsyncIterator[BrowserSite]:
    running = await BrowserSite().start()
    yield running
    await running.close()


def _runtime(tmp_path: Path | None = None, **options: Any) -> BrowserRuntime:
    artifacts = tmp_path / "artifacts" if tmp_path is not None else None
    keep = options.pop("keep", 20)
    flags = {k.replace("_", "-"): v for k, v in options.items()}
    return BrowserRuntime(RuntimeSettings(artifacts_dir=artifacts, artifacts_keep=keep,
                                          options=flags))


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[BrowserRuntime]:
    rt = _runtime(tmp_path)
    yield rt
    await rt.close()
    assert rt.pids() == set(), "closing the runtime leaves no Chromium process"


async def _check(runtime: BrowserRuntime, ctx: ProbeContext, spec: dict[str, Any],
                 timeout: float = 10.0, probe: str = "page") -> ProbeResult:
    run_ctx = replace(ctx, runtime=runtime, service="svc", probe=probe)
    result, _ = await run_probe(probe_browser, BrowserSpec.model_validate(spec), run_ctx,
                                timeout)
    return result


def _samples(result: ProbeResult) -> dict[tuple[str, tuple[str, ...]], float]:
    return {(name, labels): value for name, labels, value in result.samples}


def _artifact_dirs(tmp_path: Path, probe: str = "page") -> list[Path]:
    root = tmp_path / "artifacts" / "svc" / probe
    return sorted(root.iterdir()) if root.exists() else []


def _all_text(directory: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in directory.iterdir()
                   if p.suffix != ".png")


# --- steps ------------------------------------------------------------------------------


async def test_every_step_kind_passes_on_a_working_form(
        runtime: BrowserRuntime, ctx: ProbeContext, site: BrowserSite, tmp_path: Path) -> None:
    result = await _check(runtime, ctx, {"steps": [
        {"goto": {"url": f"{site.url}/form", "wait_until": "domcontentloaded"}},
        {"wait_for": {"selector": "#spinner", "state": "hidden"}, "name": "ready"},
        {"fill": {"selector": "#name", "value": SECRET}},
        {"select": {"selector": "#region", "label": "Хабаровский край"}},
        {"click": "#send"},
        {"wait_for": {"text": "Заявление принято"}},
        {"press": {"selector": "#q", "key": "Enter"}},
        {"expect": {"text": "Поиск: готово", "visible": "#result", "url": "/form$",
                    "title": "^Заявление"}},
        {"screenshot": "done"},
        {"press": "Tab"},
        {"select": {"selector": "#region", "value": "77"}},
        {"expect": {"visible": "#search-result"}},
    ]})
    assert result.success, result.detail
    assert list(result.steps) == [
        "1-goto", "ready", "3-fill", "4-select", "5-click", "6-wait-for", "7-press", "8-expect",
        "9-screenshot", "10-press", "11-select", "12-expect"]
    assert all(seconds >= 0 for seconds in result.steps.values())
    # The region chosen by label reached the page, and so did the typed name's length.
    samples = _samples(result)
    assert samples["dozor_browser_page_problems", ("console_error",)] == 1
    assert samples["dozor_browser_page_problems", ("page_error",)] == 1
    assert samples["dozor_browser_page_problems", ("failed_request",)] == 1  # the 404 image
    for vital in ("fcp", "lcp", "ttfb"):
        assert samples["dozor_browser_web_vital_seconds", (vital,)] > 0, vital
    assert ("dozor_browser_web_vital_seconds", ("tbt",)) in samples
    assert samples["dozor_browser_cumulative_layout_shift", ()] >= 0
    assert _artifact_dirs(tmp_path) == [], "nothing is written for a successful run"


async def test_what_the_steps_typed_reaches_the_page(
        runtime: BrowserRuntime, ctx: ProbeContext, site: BrowserSite) -> None:
    result = await _check(runtime, ctx, {"steps": [
        {"goto": f"{site.url}/form"},
        {"fill": {"selector": "#name", "value": "Иванов"}},
        {"select": {"selector": "#region", "label": "Хабаровский край"}},
        {"click": "#send"},
        {"expect": {"text": "Заявление принято: регион 27, букв в ФИО 6"}},
        {"click": "#q"},
        {"press": "Enter"},  # no selector: the keyboard, into the focused field
        {"expect": {"text": "Поиск: готово"}}]})
    assert result.success, result.detail
    wrong = await _check(runtime, ctx, {"steps": [
        {"goto": f"{site.url}/form"},
        {"select": {"selector": "#region", "value": "77"}},
        {"click": "#send"},
        {"expect": {"text": "регион 27"}, "timeout": "500ms"}]})
    assert (wrong.success, wrong.reason) == (False, Reason.ASSERTION)
    assert "step 4-expect: expected text 'регион 27' visible" in wrong.detail


# --- failure reasons -------------------------------------------------------------------


async def test_the_spa_shell_answers_but_the_content_never_comes(
        runtime: BrowserRuntime, ctx: ProbeContext, site: BrowserSite, tmp_path: Path) -> None:
    spec = {"steps": [{"goto": f"{site.url}/spa"},
                      {"wait_for": "#slots li", "timeout": "2s"},
                      {"expect": {"text": "Свободные талоны"}}]}
    assert (await _check(runtime, ctx, spec)).success
    site.api_down = True
    result = await _check(runtime, ctx, spec)
    assert (result.success, result.reason) == (False, Reason.ASSERTION)
    assert result.detail.startswith("step 2-wait-for: wait for '#slots li' visible not done "
                                    "within 2s (artifacts: ")
    assert _samples(result)["dozor_browser_page_problems", ("failed_request",)] == 1  # the 503
    (run,) = _artifact_dirs(tmp_path)
    assert run.name.endswith("-assertion")
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert report["reason"] == "assertion"
    assert report["failed_request"] == [f"GET {site.url}/api/slots: HTTP 503"]
    assert set(report["steps"]) == {"1-goto", "2-wait-for"}
    png = (run / "screenshot.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    assert str(run) in result.detail


@pytest.mark.parametrize(("path", "reason", "detail"), [
    ("/status/500", Reason.HTTP_STATUS, "answered HTTP 500"),
    ("/status/404", Reason.HTTP_STATUS, "answered HTTP 404"),
])
async def test_an_error_status_fails_the_goto(
        runtime: BrowserRuntime, ctx: ProbeContext, site: BrowserSite,
        path: str, reason: Reason, detail: str) -> None:
    result = await _check(runtime, ctx, {"steps": [{"goto": f"{site.url}{path}"}]})
    assert (result.success, result.reason) == (False, reason)
    assert detail in result.detail


async def test_a_refused_connection_is_connect(
        runtime: BrowserRuntime, ctx: ProbeContext, closed_port: int) -> None:
    result = await _check(runtime, ctx, {"steps": [{"goto": f"http://127.0.0.1:{closed_port}/"}]})
    assert (result.success, result.reason) == (False, Reason.CONNECT)
    assert "ERR_CONNECTION_REFUSED" in result.detail


async def test_a_name_that_does_not_resolve_is_dns(
        ctx: ProbeContext, tmp_path: Path) -> None:
    # The browser is told the name does not exist (no query leaves the machine).
    wrapper = tmp_path / "chromium"
    real = BrowserRuntime(RuntimeSettings()).executable
    wrapper.write_text(f'#!/bin/sh\nexec {real} "--host-resolver-rules=MAP nowhere.test '
                       '~NOTFOUND" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    rt = _runtime(browser_executable=str(wrapper))
    try:
        result = await _check(rt, ctx, {"steps": [{"goto": "http://nowhere.test/"}]})
    finally:
        await rt.close()
    assert (result.success, result.reason) == (False, Reason.DNS)
    assert "ERR_NAME_NOT_RESOLVED" in result.detail


async def test_a_slow_page_times_out_its_goto(
        runtime: BrowserRuntime, ctx: ProbeContext, site: BrowserSite) -> None:
    result = await _check(runtime, ctx, {"steps": [{"goto": f"{site.url}/slow",
                                                     "timeout": "500ms"}]})
    assert (result.success, result.reason) == (False, Reason.TIMEOUT)
    assert "did not reach 'load' within 500ms" in result.detail


async def test_max_latency_fails_a_slow_run(
        runtime: BrowserRuntime, ctx: ProbeContext, site: BrowserSite) -> None:
    result = await _check(runtime, ctx, {"steps": [{"goto": f"{site.url}/slowish"}],
                                         "max_latency": "100ms"})
    assert (result.success, result.reason) == (False, Reason.ASSERTION)
    assert "over max_latency 100ms" in result.detail


async def test_tls_needs_the_ca_file(
        runtime: BrowserRuntime, ctx: ProbeContext, tmp_path: Path) -> None:
    pki = Pki()
    secure = await BrowserSite().start(pki.server_context("127.0.0.1"))
    try:
        spec = {"steps": [{"goto": f"{secure.url}/"}, {"expect": {"text": "Запись к врачу"}}]}
        untrusted = await _check(runtime, ctx, spec)
        trusted = await _check(runtime, ctx, {**spec, "ca_file": pki.ca_file(tmp_path)})
        again = await _check(runtime, ctx, spec)
    finally:
        await secure.close()
    assert (untrusted.success, untrusted.reason) == (False, Reason.TLS)
    assert "ERR_CERT_AUTHORITY_INVALID" in untrusted.detail
    assert trusted.success, trusted.detail
    # The CA is trusted by its own browser only: a probe without ca_file still refuses it.
    assert (again.success, again.reason) == (False, Reason.TLS)


async def test_an_unreadable_ca_file_is_an_error(
        runtime: BrowserRuntime, ctx: ProbeContext, site: BrowserSite, tmp_path: Path) -> None:
    result = await _check(runtime, ctx, {"steps": [{"goto": f"{site.url}/"}],
                                         "ca_file": str(tmp_path / "missing.pem")})
    assert (result.success, result.reason) == (False, Reason.ERROR)
    assert "cannot load ca_file" in result.detail


# --- accessibility ---------------------------------------------------------------------


async def test_accessibility_audit_counts_and_limits(
        runtime: BrowserRuntime, ctx: ProbeContext, site: BrowserSite, tmp_path: Path) -> None:
    bad = await _check(runtime, ctx, {"steps": [{"goto": f"{site.url}/a11y-bad"}],
                                      "accessibility": {}})
    assert (bad.success, bad.reason) == (False, Reason.ACCESSIBILITY)
    counts = {labels[0]: v for (name, labels), v in _samples(bad).items()
              if name == "dozor_browser_accessibility_violations"}
    assert set(counts) == {"critical", "serious", "moderate", "minor"}
    assert counts["critical"] >= 2  # image-alt and label
    assert counts["serious"] >= 1  # color-contrast
    assert "image-alt" in bad.detail and "label" in bad.detail
    assert "critical" in bad.detail
    (run,) = _artifact_dirs(tmp_path)
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert {v["id"] for v in report["accessibility"]} >= {"image-alt", "label", "color-contrast"}

    lenient = await _check(runtime, ctx, {"steps": [{"goto": f"{site.url}/a11y-bad"}],
                                          "accessibility": {"max": {"critical": 5,
                                                                    "serious": 5}}})
    assert lenient.success, lenient.detail
    assert _samples(lenient)["dozor_browser_accessibility_violations", ("critical",)] >= 2
    serious_only = await _check(runtime, ctx, {"steps": [{"goto": f"{site.url}/a11y-bad"}],
                                               "accessibility": {"max": {"serious": 0}}})
    assert serious_only.reason == Reason.ACCESSIBILITY
    assert "serious" in serious_only.detail and "critical" not in serious_only.detail.split("[")[0]
    good = await _check(runtime, ctx, {"steps": [{"goto": f"{site.url}/"}],
                                       "accessibility": {"standard": "wcag22aa"}})
    assert good.success, good.detail
    assert _samples(good)["dozor_browser_accessibility_violations", ("critical",)] == 0
    # No audit asked: no audit series.
    plain = await _check(runtime, ctx, {"steps": [{"goto": f"{site.url}/a11y-bad"}]})
    assert plain.success
    assert not any(n == "dozor_browser_accessibility_violations" for n, _, _ in plain.samples)


# --- artifacts -------------------------------------------------------------------------


async def test_artifacts_never_hold_a_typed_secret(
        runtime: BrowserRuntime, ctx: ProbeContext, site: BrowserSite, tmp_path: Path) -> None:
    result = await _check(runtime, ctx, {"steps": [
        {"goto": f"{site.url}/echo"},
        {"fill": {"selector": "#secret", "value": SECRET}},
        {"click": "#go"},
        {"expect": {"text": "Добро пожаловать"}, "timeout": "700ms"}]})
    assert result.reason == Reason.ASSERTION
    assert SECRET not in result.detail
    (run,) = _artifact_dirs(tmp_path)
    text = _all_text(run)
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    # The page did log and request with the secret: the artifacts say so, redacted.
    assert report["console_error"][0] == "login failed for ‹secret›"
    assert any("denied?password=" in r for r in report["failed_request"])
    assert SECRET not in text
    assert "s3cr3t" not in text and "%D0%9F%D0%B0%D1%80" not in text


async def test_artifact_retention_by_count_and_age(
        ctx: ProbeContext, site: BrowserSite, tmp_path: Path) -> None:
    rt = _runtime(tmp_path, keep=2)
    failing = {"steps": [{"goto": f"{site.url}/status/503"}]}
    try:
        for _ in range(3):
            assert (await _check(rt, ctx, failing)).reason == Reason.HTTP_STATUS
        runs = _artifact_dirs(tmp_path)
        assert len(runs) == 2
        # Age: a run older than the limit goes at the next write, whatever the count.
        old = runs[0]
        ancient = old.stat().st_mtime - 8 * 86400
        os.utime(old, (ancient, ancient))
        await _check(rt, ctx, failing)
        after = _artifact_dirs(tmp_path)
        assert old not in after and len(after) == 2
        # Other probes keep their own.
        await _check(rt, ctx, failing, probe="other")
        assert len(_artifact_dirs(tmp_path, "other")) == 1
        assert len(_artifact_dirs(tmp_path)) == 2
    finally:
        await rt.close()


async def test_no_artifacts_dir_means_nothing_written(
        ctx: ProbeContext, site: BrowserSite, tmp_path: Path) -> None:
    rt = _runtime(None)
    try:
        result = await _check(rt, ctx, {"steps": [{"goto": f"{site.url}/status/500"}]})
    finally:
        await rt.close()
    assert result.reason == Reason.HTTP_STATUS
    assert "artifacts" not in result.detail
    assert os.listdir(tmp_path) == []


# --- runtime discipline ----------------------------------------------------------------


async def test_a_hung_page_is_cut_at_the_timeout_and_its_browser_killed(
        runtime: BrowserRuntime, ctx: ProbeContext, site: BrowserSite, tmp_path: Path) -> None:
    await _check(runtime, ctx, {"steps": [{"goto": f"{site.url}/"}]})
    before = runtime.pids()
    result = await _check(runtime, ctx, {"steps": [
        {"goto": f"{site.url}/hang"},
        {"wait_for": {"text": "никогда"}}]}, timeout=3.0)
    assert (result.success, result.reason) == (False, Reason.TIMEOUT), result.detail
    assert "2-wait-for" in result.detail
    assert _artifact_dirs(tmp_path), "a cut run still leaves its report"
    assert runtime.restarts["timeout"] == 1
    assert before and not (before & runtime.pids()), "the hung browser's tree is gone"
    # SIGKILL is sent; the kernel takes a moment to tear a process down.
    await until(lambda: not [pid for pid in before if alive(pid)], 10.0, "hung tree dead")
    after = await _check(runtime, ctx, {"steps": [{"goto": f"{site.url}/"}]})
    assert after.success, after.detail
    assert runtime.launches == 2


async def test_a_browser_killed_mid_run_fails_that_run_and_the_next_one_passes(
        runtime: BrowserRuntime, ctx: ProbeContext, site: BrowserSite) -> None:
    await _check(runtime, ctx, {"steps": [{"goto": f"{site.url}/"}]})
    (first,) = runtime.leaders()

    async def kill_soon() -> None:
        await asyncio.sleep(0.5)
        os.killpg(first, signal.SIGKILL)  # the real process group, mid-run

    killer = asyncio.create_task(kill_soon())
    crashed = await _check(runtime, ctx, {"steps": [{"goto": f"{site.url}/slow"}]})
    await killer
    assert (crashed.success, crashed.reason) == (False, Reason.ERROR)
    assert "browser went away" in crashed.detail
    healed = await _check(runtime, ctx, {"steps": [{"goto": f"{site.url}/"}]})
    assert healed.success, healed.detail
    assert runtime.launches == 2 and runtime.restarts["crash"] == 1


async def test_the_browser_is_recycled_every_n_runs(
        ctx: ProbeContext, site: BrowserSite) -> None:
    rt = _runtime(browser_recycle_runs=3)
    try:
        for _ in range(7):
            assert (await _check(rt, ctx, {"steps": [{"goto": f"{site.url}/"}]})).success
        assert rt.launches == 3
        assert rt.restarts["recycle"] == 2
        assert len(rt.leaders()) == 1  # retired browsers are gone, not lingering
    finally:
        await rt.close()


async def test_the_slot_launches_the_browser_before_the_run_is_timed(
        runtime: BrowserRuntime, site: BrowserSite) -> None:
    """run_probe enters the slot before its clock starts: the launch happens there."""
    spec = BrowserSpec.model_validate({"steps": [{"goto": f"{site.url}/"}]})
    assert runtime.leaders() == set()
    async with runtime.slot(spec):
        assert runtime.launches == 1 and len(runtime.leaders()) == 1
    async with runtime.slot(spec):
        assert runtime.launches == 1  # ready: no second launch


async def test_the_concurrency_cap_holds(ctx: ProbeContext, site: BrowserSite) -> None:
    rt = _runtime(browser_concurrency=2)
    try:
        spec = {"steps": [{"goto": f"{site.url}/slowish"}]}
        results = await asyncio.gather(*(_check(rt, ctx, spec) for _ in range(6)))
    finally:
        await rt.close()
    assert all(r.success for r in results), [r.detail for r in results]
    assert site.most_in_flight <= 2


async def test_without_a_usable_sandbox_chromium_runs_without_one(
        ctx: ProbeContext, site: BrowserSite, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Not root, in a container without user namespaces: Chromium says it has no usable
    sandbox; the runtime retries without it once and remembers."""
    wrapper = tmp_path / "chromium"
    real = BrowserRuntime(RuntimeSettings()).executable
    wrapper.write_text('#!/bin/sh\ncase " $* " in *" --no-sandbox "*) ;; *)\n'
                       '  echo "FATAL: No usable sandbox! Update your kernel" >&2; exit 1;;\n'
                       f'esac\nexec {real} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(os, "geteuid", lambda: 10001)  # the test runs as root; pretend not
    rt = _runtime(browser_executable=str(wrapper))
    try:
        first = await _check(rt, ctx, {"steps": [{"goto": f"{site.url}/"}]})
        second = await _check(rt, ctx, {"steps": [{"goto": f"{site.url}/"}]},)
    finally:
        await rt.close()
    assert first.success, first.detail
    assert second.success, second.detail
    assert rt.launches == 2  # the refused sandboxed start, then one browser for both runs


async def test_without_chromium_a_run_fails_with_error(
        ctx: ProbeContext, site: BrowserSite, tmp_path: Path) -> None:
    rt = _runtime(browser_executable=str(tmp_path / "no-such-chromium"))
    try:
        result = await _check(rt, ctx, {"steps": [{"goto": f"{site.url}/"}]})
    finally:
        await rt.close()
    assert (result.success, result.reason) == (False, Reason.ERROR)
    assert "no Chromium found" in result.detail
