"""The browser kind's run: the steps in a fresh context of the shared browser, then what the
page says about itself (Web Vitals, console errors, page errors, failed requests, an optional
accessibility audit), and on failure the evidence on disk.

Failure reasons: ``dns``/``connect``/``tls``/``timeout``/``http_status`` when a ``goto``
fails that way; ``denied`` when a ``goto`` (or a redirect it follows) would connect into a
network the operator denies (``--deny-networks``: the run connects through its gate,
gate.py); ``assertion`` when a step cannot do what it says (an element that never
appears, an ``expect`` that does not hold) or the run is over ``max_latency``;
``accessibility`` when the audit finds more violations than allowed; ``timeout`` when the
run's own timeout cuts it; ``error`` when the browser cannot start or dies during the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from playwright.async_api import ConsoleMessage, Page, Request, Response
from playwright.async_api import Error as PlaywrightError

from probes._context import ProbeContext
from probes._result import ProbeResult, Reason
from probes._run import run_deadline
from probes._spec import format_duration
from probes._stream import session_resolver
from probes.browser import accessibility, vitals
from probes.browser.artifacts import Evidence
from probes.browser.gate import Gate, gate
from probes.browser.runtime import BrowserError, BrowserRuntime, Lease
from probes.browser.spec import BrowserSpec
from probes.browser.steps import StepFailed, closed, run_step

KEPT = 50  # messages of each sort kept for the artifacts; all are counted
SECRET = "‹secret›"
_RESOURCE_ERROR = "Failed to load resource:"
# Kept from the run's timeout for the evidence of a cut run (a screenshot, the report).
RESERVE_SHARE, RESERVE_MAX = 0.2, 2.0
WRITE_MARGIN = 0.2
UNBOUNDED_STEP = 30.0  # a step's limit outside run_probe (no run deadline), e.g. in a REPL


class _BrowserGone(Exception):
    """A step failed because the browser died under it (killed, crashed)."""


@dataclass
class _Watch:
    """What the page said during the run: console errors, uncaught exceptions, requests that
    failed (network errors and HTTP 4xx/5xx). Texts are redacted of typed secrets."""

    secrets: list[str]
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("console_error", "page_error", "failed_request"), 0))
    kept: dict[str, list[str]] = field(default_factory=lambda: {
        "console_error": [], "page_error": [], "failed_request": []})

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self._add("page_error", str(error)))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        # Chromium also logs every failed resource as a console error: those are counted
        # once, as failed requests.
        if message.type == "error" and not message.text.startswith(_RESOURCE_ERROR):
            self._add("console_error", message.text)

    def _failed(self, request: Request) -> None:
        self._add("failed_request", f"{request.method} {request.url}: {request.failure or '?'}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self._add("failed_request",
                      f"{response.request.method} {response.url}: HTTP {response.status}")

    def _add(self, sort: str, text: str) -> None:
        self.counts[sort] += 1
        if len(self.kept[sort]) < KEPT:
            self.kept[sort].append(self.redact(text)[:500])

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            # As typed, and as a page would put it in a URL.
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, SECRET)
        return text


@dataclass
class _Outcome:
    failure: StepFailed | None = None
    steps: dict[str, float] = field(default_factory=dict)
    shots: list[tuple[str, bytes]] = field(default_factory=list)
    screenshot: bytes | None = None
    vitals: Any = None
    violations: list[dict[str, Any]] | None = None
    gate: Gate | None = None  # the run's gate, with --deny-networks


async def probe_browser(spec: BrowserSpec, ctx: ProbeContext) -> ProbeResult:
    runtime = ctx.runtime
    if not isinstance(runtime, BrowserRuntime):
        return ProbeResult.fail(Reason.ERROR,
                                "no browser runtime: browser probes run in the daemon")
    watch = _Watch([s for s in spec.secrets() if s])
    started = time.perf_counter()
    outcome = _Outcome()
    try:
        async with contextlib.AsyncExitStack() as stack:
            run_gate = None
            if runtime.deny:
                run_gate = await stack.enter_async_context(
                    gate(runtime.deny, session_resolver(ctx.http)))
                outcome.gate = run_gate
            lease = await stack.enter_async_context(
                runtime.lease(spec, run_gate.proxy if run_gate is not None else None))
            await _drive(spec, lease, watch, outcome)
    except BrowserError as exc:
        return ProbeResult.fail(Reason.ERROR, f"browser: {exc}")
    except (PlaywrightError, _BrowserGone) as exc:
        if isinstance(exc, PlaywrightError) and not closed(exc):
            raise
        # Told apart from a page that closed itself only by a race with the disconnect
        # event, so both are this error; the browser is replaced either way.
        outcome.failure = StepFailed(Reason.ERROR, "the browser went away during the run "
                                     "(crashed or killed) or the page closed itself; the next "
                                     "run starts a fresh browser")
    took = time.perf_counter() - started
    failure = outcome.failure
    if failure is None and spec.max_latency is not None and took > spec.max_latency:
        failure = StepFailed(Reason.ASSERTION, f"took {took:.3f}s, over max_latency "
                             f"{format_duration(spec.max_latency)}")
    samples = [*vitals.samples(outcome.vitals),
               *(("dozor_browser_page_problems", (sort,), float(n))
                 for sort, n in watch.counts.items())]
    if outcome.violations is not None:
        samples += [("dozor_browser_accessibility_violations", (impact,), float(n))
                    for impact, n in accessibility.counts(outcome.violations).items()]
    if failure is None:
        return ProbeResult(True, steps=outcome.steps, samples=tuple(samples))
    detail = watch.redact(failure.detail)
    if runtime.artifacts is not None:
        report = {"steps": outcome.steps, **watch.kept, "counts": watch.counts,
                  "vitals": outcome.vitals, "accessibility": outcome.violations}
        if outcome.gate is not None:  # the latest the gate refused or could not reach
            report["gate"] = [f"{reason}: {why}" for reason, why in outcome.gate.failures]
        evidence = Evidence(failure.reason.value, detail, outcome.screenshot, outcome.shots,
                            report)
        try:
            path = await runtime.artifacts.write(ctx.service, ctx.probe, evidence)
        except OSError as exc:
            ctx.log.warning("cannot write browser artifacts", error=str(exc))
        else:
            detail = f"{detail} (artifacts: {path})"
    return ProbeResult(False, failure.reason, detail, steps=outcome.steps,
                       samples=tuple(samples))


async def _drive(spec: BrowserSpec, lease: Lease, watch: _Watch, outcome: _Outcome) -> None:
    context = lease.context
    await context.add_init_script(vitals.INIT_SCRIPT)
    page = await context.new_page()
    watch.attach(page)
    deadline = run_deadline()
    loop = asyncio.get_running_loop()
    cut_at = None
    if deadline is not None:
        reserve = min(RESERVE_MAX, RESERVE_SHARE * (deadline - loop.time()))
        cut_at = deadline - reserve
    current = ""
    try:
        async with asyncio.timeout_at(cut_at):
            for current, step in zip(spec.step_names(), spec.steps, strict=True):
                began = time.perf_counter()
                # Unset step timeouts use what is left before the cut: a missing element
                # fails as that step (assertion), not as a cut run.
                seconds = spec.step_seconds(step)
                if cut_at is not None:
                    left = max(0.001, cut_at - loop.time())
                    seconds = left if seconds is None else min(seconds, left)
                try:
                    await run_step(page, step, current, seconds or UNBOUNDED_STEP,
                                   outcome.shots, outcome.gate)
                finally:
                    outcome.steps[current] = time.perf_counter() - began
            if spec.accessibility is not None:
                outcome.violations = await accessibility.audit(page, spec.accessibility)
                over = spec.accessibility.max.over(accessibility.counts(outcome.violations))
                if over:
                    rules = ", ".join(sorted({str(v.get("id")) for v in outcome.violations
                                              if v.get("impact") in ("critical", "serious")}))
                    raise StepFailed(Reason.ACCESSIBILITY,
                                     f"accessibility ({spec.accessibility.standard}): "
                                     f"{'; '.join(over)}" + (f" [{rules}]" if rules else ""))
    except StepFailed as failed:
        outcome.failure = failed
        if lease.browser_gone():
            raise _BrowserGone from None
    except TimeoutError:
        lease.cut = True  # the page may hang its renderer: this browser is retired
        outcome.failure = StepFailed(Reason.TIMEOUT, f"step {current}: cut at the run's timeout")
    remaining = (deadline - loop.time()) if deadline is not None else 5.0
    if not lease.cut:
        with contextlib.suppress(PlaywrightError, TimeoutError):
            async with asyncio.timeout(max(0.0, min(1.0, remaining / 4))):
                outcome.vitals = await page.evaluate(vitals.COLLECT)
        remaining = (deadline - loop.time()) if deadline is not None else 5.0
    if outcome.failure is not None:
        # What is left before the cut, less a moment to write the evidence down.
        outcome.screenshot = await _screenshot(page, spec, remaining - WRITE_MARGIN)


async def _screenshot(page: Page, spec: BrowserSpec, seconds: float) -> bytes | None:
    """The page as the failure left it, fields a secret was typed into masked."""
    if seconds <= 0.05:
        return None
    masked = [page.locator(s.fill.selector) for s in spec.steps if s.fill is not None]
    try:
        return await page.screenshot(timeout=min(seconds, 5.0) * 1000, mask=masked,
                                     animations="disabled")
    except PlaywrightError:
        return None
