"""Running one step on a page. A step that does not do what it says raises
:class:`StepFailed` with the run's reason and a one-line detail naming the step; nothing a
step types is ever part of a detail."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, expect
from playwright.async_api import TimeoutError as PlaywrightTimeout

from probes._result import Reason
from probes._spec import format_duration
from probes.browser.gate import Gate
from probes.browser.spec import BrowserStep, Expect, Fill, Goto, Press, Select, WaitFor

# Chromium's network errors (net::ERR_...) by the existing reason they are.
_NET_REASONS = (
    ("ERR_NAME_NOT_RESOLVED", Reason.DNS), ("ERR_NAME_RESOLUTION_FAILED", Reason.DNS),
    ("ERR_CERT_", Reason.TLS), ("ERR_SSL_", Reason.TLS), ("ERR_BAD_SSL", Reason.TLS),
    ("ERR_TIMED_OUT", Reason.TIMEOUT), ("ERR_CONNECTION_TIMED_OUT", Reason.TIMEOUT),
    ("ERR_CONNECTION_", Reason.CONNECT), ("ERR_ADDRESS_", Reason.CONNECT),
    ("ERR_EMPTY_RESPONSE", Reason.CONNECT), ("ERR_SOCKET_", Reason.CONNECT),
)
_NET_RE = re.compile(r"net::(ERR_[A-Z_]+)")
# How Chromium reports a connection its proxy (the run's gate) did not make, whatever the
# cause: the gate knows the cause.
_GATE_CODES = ("ERR_SOCKS_", "ERR_PROXY_CONNECTION_FAILED")


class StepFailed(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def closed(exc: BaseException) -> bool:
    """The browser or page went away under the run (a crash, or a retired browser)."""
    return isinstance(exc, PlaywrightError) and "has been closed" in str(exc)


async def run_step(page: Page, step: BrowserStep, name: str, seconds: float,
                   shots: list[tuple[str, bytes]], gate: Gate | None = None) -> None:
    """``gate``: the run's gate (``--deny-networks``), which says why a connection failed."""
    ms = seconds * 1000
    target = step.target()
    within = format_duration(seconds)
    try:
        if isinstance(target, Goto):
            await _goto(page, target, ms, name, gate)
        elif step.click is not None:
            await page.click(step.click, timeout=ms)
        elif isinstance(target, Fill):
            await page.fill(target.selector, target.value, timeout=ms)
        elif isinstance(target, Press):
            if target.selector is None:
                await page.keyboard.press(target.key)
            else:
                await page.press(target.selector, target.key, timeout=ms)
        elif isinstance(target, Select):
            if target.value is not None:
                await page.select_option(target.selector, value=target.value, timeout=ms)
            else:
                await page.select_option(target.selector, label=target.label, timeout=ms)
        elif isinstance(target, WaitFor):
            await _wait_for(page, target, ms)
        elif isinstance(target, Expect):
            await _expect(page, target, ms, name, within)
        elif step.screenshot is not None:
            shots.append((step.screenshot, await page.screenshot(timeout=ms)))
    except PlaywrightTimeout:
        raise StepFailed(Reason.ASSERTION,
                         f"step {name}: {_what(step)} not done within {within}") from None
    except PlaywrightError as exc:
        if closed(exc):
            raise
        raise StepFailed(Reason.ASSERTION,
                         f"step {name}: {_what(step)}: {_first_line(exc)}") from None


async def _goto(page: Page, goto: Goto, ms: float, name: str, gate: Gate | None) -> None:
    mark = gate.failed if gate is not None else 0
    try:
        response = await page.goto(goto.url, wait_until=goto.wait_until, timeout=ms)
    except PlaywrightTimeout:
        raise StepFailed(Reason.TIMEOUT, f"step {name}: {goto.url} did not reach "
                         f"'{goto.wait_until}' within {format_duration(ms / 1000)}") from None
    except PlaywrightError as exc:
        if closed(exc):
            raise
        found = _NET_RE.search(str(exc))
        code = found.group(1) if found else _first_line(exc)
        failed = gate.since(mark) if gate is not None and code.startswith(_GATE_CODES) else None
        if failed is not None:  # denied, or the gate's own dns/connect failure
            raise StepFailed(failed[0], f"step {name}: {goto.url}: {failed[1]}") from None
        reason = next((r for prefix, r in _NET_REASONS if code.startswith(prefix)), Reason.CONNECT)
        raise StepFailed(reason, f"step {name}: {goto.url}: {code}") from None
    if response is not None and response.status >= 400:
        raise StepFailed(Reason.HTTP_STATUS,
                         f"step {name}: {goto.url} answered HTTP {response.status}")


async def _wait_for(page: Page, wait: WaitFor, ms: float) -> None:
    if wait.selector is not None:
        await page.wait_for_selector(wait.selector, state=wait.state, timeout=ms)
    else:
        await page.get_by_text(wait.text or "").first.wait_for(state=wait.state, timeout=ms)


async def _expect(page: Page, want: Expect, ms: float, name: str, within: str) -> None:
    # Web-first: each check waits until it holds or the step's time is up.
    checks: list[tuple[str, Callable[[], Awaitable[None]]]] = []
    if want.text is not None:
        text = want.text
        checks.append((f"text {text!r} visible",
                       lambda: expect(page.get_by_text(text).first).to_be_visible(timeout=ms)))
    if want.visible is not None:
        visible = want.visible
        checks.append((f"{visible!r} visible",
                       lambda: expect(page.locator(visible).first).to_be_visible(timeout=ms)))
    if want.url is not None:
        url = re.compile(want.url)
        checks.append((f"URL matching {want.url!r}",
                       lambda: expect(page).to_have_url(url, timeout=ms)))
    if want.title is not None:
        title = re.compile(want.title)
        checks.append((f"title matching {want.title!r}",
                       lambda: expect(page).to_have_title(title, timeout=ms)))
    for what, check in checks:
        try:
            await check()
        except AssertionError:
            raise StepFailed(Reason.ASSERTION,
                             f"step {name}: expected {what}, not within {within}") from None


def _what(step: BrowserStep) -> str:
    target = step.target()
    if step.click is not None:
        return f"click {step.click!r}"
    if isinstance(target, Fill):
        return f"fill {target.selector!r}"  # never the value: it may be a secret
    if isinstance(target, Press):
        return f"press {target.key}" + (f" in {target.selector!r}" if target.selector else "")
    if isinstance(target, Select):
        return f"select in {target.selector!r}"
    if isinstance(target, WaitFor):
        thing = repr(target.selector) if target.selector is not None else f"text {target.text!r}"
        return f"wait for {thing} {target.state}"
    if step.screenshot is not None:
        return f"screenshot {step.screenshot!r}"
    return step.action


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
