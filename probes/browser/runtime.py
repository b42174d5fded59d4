"""One long-lived Chromium per daemon (per trusted-CA set), a fresh context per run.

Chromium is started here, not by Playwright: in its own session (so the whole tree, zygotes
and renderers included, dies with one ``killpg``), with ``PR_SET_PDEATHSIG`` (so it dies
with the daemon even on kill -9), from Debian's binary (no browser download). Playwright
drives it over CDP.

A browser is retired (no new runs; killed, whole tree, once its last run ends) after
``recycle`` runs, after a run that was cut by its timeout (a hung renderer may still burn a
core) and after a crash; the next run launches a fresh one. A semaphore caps concurrent runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from playwright.async_api import Browser, BrowserContext, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from probes._kind import RuntimeBase, RuntimeSettings
from probes.browser import procfs
from probes.browser.artifacts import ArtifactStore
from probes.browser.nss import TrustStoreError, trust_store_home
from probes.browser.spec import BrowserSpec

DEFAULT_RECYCLE = 200
LAUNCH_TIMEOUT = 20.0
CLOSE_TIMEOUT = 2.0
# Debian's headless shell first (smaller, no X libraries), then the full browser.
EXECUTABLES = ("/usr/lib/chromium/chromium-headless-shell", "/usr/lib/chromium/chromium",
               "chromium-headless-shell", "chromium")
_WS_RE = re.compile(r"DevTools listening on (ws://\S+)")
# Quiet, deterministic, small: nothing a probe did not ask for.
_FLAGS = (
    "--headless", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
    "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
    "--disable-breakpad", "--metrics-recording-only", "--password-store=basic",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
)
# With a deny list every connection of a page goes through its run's gate (gate.py), a SOCKS5
# proxy; these close the two ways out that a proxy does not carry: QUIC, and WebRTC's UDP.
_DENY_FLAGS = ("--disable-quic", "--force-webrtc-ip-handling-policy=disable_non_proxied_udp")


def default_concurrency() -> int:
    return max(1, os.cpu_count() or 1)


def find_executable(given: str | None) -> str | None:
    for candidate in (given,) if given else EXECUTABLES:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.access(path, os.X_OK):
            return path
    return None


def _die_with_parent(argv: list[str]) -> list[str]:
    """``argv`` run so that Chromium is killed when the daemon dies (PR_SET_PDEATHSIG), set by
    util-linux's ``setpriv`` (Essential on Debian) between fork and exec. Not by a Python
    ``preexec_fn``: running Python in the forked child of a process with other threads (gRPC's)
    crashed the child in ``threading._after_fork`` now and then, and the launch failed."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return argv
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]


@dataclass(eq=False)
class _Browser:
    ca_file: str | None
    process: asyncio.subprocess.Process
    home: Path
    cdp: Browser | None = None
    runs: int = 0
    active: int = 0
    retiring: bool = False
    dead: bool = False
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def gone(self) -> bool:
        """Dead, even if the disconnect has not reached Playwright yet: a step that failed
        because its browser was killed must not read as the page's fault."""
        if self.dead or (self.cdp is not None and not self.cdp.is_connected()):
            return True
        return not procfs.running(procfs.stat_fields(self.pid))

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


@dataclass(eq=False)
class Lease:
    """One run's context; the run sets ``cut`` when it stopped its steps at the deadline (a
    page that hangs), which retires the browser as a cancelled run would."""

    context: BrowserContext
    browser: _Browser
    cut: bool = False

    def browser_gone(self) -> bool:
        return self.browser.gone()


class BrowserError(Exception):
    """The browser could not be started or used; the run fails with reason ``error``."""


class BrowserRuntime(RuntimeBase):
    """Shared by every browser probe of one daemon; launches nothing until a run needs it."""

    def __init__(self, settings: RuntimeSettings) -> None:
        options = settings.options
        self.concurrency = int(options.get("browser-concurrency") or default_concurrency())
        self.recycle = int(options.get("browser-recycle-runs") or DEFAULT_RECYCLE)
        self.executable = find_executable(options.get("browser-executable"))
        self.artifacts = (ArtifactStore(settings.artifacts_dir, settings.artifacts_keep,
                                        settings.artifacts_max_age)
                          if settings.artifacts_dir is not None else None)
        # --deny-networks: each run connects through a gate that applies it (probe.py).
        self.deny = settings.deny
        self._slots = asyncio.Semaphore(self.concurrency)
        self._waiting = 0
        self._playwright: Playwright | None = None
        self._browsers: dict[str | None, _Browser] = {}
        self._all: set[_Browser] = set()
        self._launch_lock = asyncio.Lock()
        self._no_sandbox = False  # learnt at the first launch that finds no usable sandbox
        self.restarts: Counter[str] = Counter()
        self.launches = 0
        self._log = structlog.get_logger("dozor.browser")

    @asynccontextmanager
    async def _slot(self, spec: BrowserSpec) -> AsyncIterator[None]:
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            # Launch (if needed) before the run's clock starts; a failed launch is retried by
            # the run itself, which then fails with reason error.
            with contextlib.suppress(BrowserError):
                await self._browser(spec.ca_file)
            yield
        finally:
            self._slots.release()

    def slot(self, spec: BrowserSpec) -> contextlib.AbstractAsyncContextManager[None]:
        return self._slot(spec)

    @asynccontextmanager
    async def lease(self, spec: BrowserSpec, proxy: str | None = None) -> AsyncIterator[Lease]:
        """A fresh context (cookies, storage, cache) for one run, closed after it, connecting
        through ``proxy`` when given (the run's gate). A run that leaves by cancellation (its
        timeout) retires its browser."""
        browser = await self._browser(spec.ca_file)
        try:
            context = await self._new_context(browser, spec, proxy)
        except PlaywrightError:
            if browser.cdp is not None and browser.cdp.is_connected():
                raise  # the browser is fine; the run fails with this
            # It died between runs, unseen: one fresh browser, then the run's own fate.
            browser.dead = True
            self._retire(browser, "crash")
            self._reap(browser)
            browser = await self._browser(spec.ca_file)
            context = await self._new_context(browser, spec, proxy)
        browser.runs += 1
        browser.active += 1
        retire: str | None = None
        try:
            lease = Lease(context, browser)
            yield lease
            if lease.cut:
                retire = "timeout"
        except asyncio.CancelledError:
            retire = "timeout"  # cut by the run's timeout (or shutdown) mid-step
            raise
        except BaseException:
            retire = "crash"  # the browser went away, or Playwright failed under us
            raise
        finally:
            browser.active -= 1
            if retire is None:
                try:
                    await asyncio.wait_for(context.close(), CLOSE_TIMEOUT)
                except Exception:
                    retire = "crash"
            if retire is None and browser.runs >= self.recycle:
                retire = "recycle"
            if retire is not None:
                self._retire(browser, "crash" if browser.dead else retire)
            self._reap(browser)

    @staticmethod
    async def _new_context(browser: _Browser, spec: BrowserSpec, proxy: str | None
                           ) -> BrowserContext:
        assert browser.cdp is not None
        return await browser.cdp.new_context(
            locale=spec.locale, timezone_id=spec.timezone or "UTC",
            viewport={"width": spec.viewport.width, "height": spec.viewport.height},
            service_workers="block", accept_downloads=False,
            # Playwright adds "<-loopback>": loopback goes through the proxy too.
            proxy={"server": proxy} if proxy is not None else None)

    async def _browser(self, ca_file: str | None) -> _Browser:
        async with self._launch_lock:
            current = self._browsers.get(ca_file)
            if current is not None and current.cdp is not None and not current.cdp.is_connected():
                current.dead = True  # killed or crashed; its watcher may not have seen it yet
            if current is not None and not current.dead and not current.retiring:
                return current
            if current is not None:
                self._retire(current, "crash" if current.dead else "recycle")
            browser = await self._launch(ca_file)
            self._browsers[ca_file] = browser
            return browser

    async def _launch(self, ca_file: str | None) -> _Browser:
        if self.executable is None:
            raise BrowserError("no Chromium found (looked for " + ", ".join(EXECUTABLES) +
                               "); install Debian's chromium-headless-shell")
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        # Chromium refuses to run as root with its sandbox; otherwise the sandbox is kept
        # unless this machine cannot give it (no user namespaces in many containers).
        if os.geteuid() == 0 or self._no_sandbox:
            return await self._start(ca_file, sandbox=False)
        try:
            return await self._start(ca_file, sandbox=True)
        except BrowserError as exc:
            if "sandbox" not in str(exc).lower():
                raise
            self._no_sandbox = True
            self._log.warning("Chromium has no usable sandbox here; running it without",
                              error=str(exc)[:300])
            return await self._start(ca_file, sandbox=False)

    async def _start(self, ca_file: str | None, sandbox: bool) -> _Browser:
        assert self._playwright is not None and self.executable is not None
        home = Path(tempfile.mkdtemp(prefix="dozor-browser-"))
        try:
            env = await trust_store_home(home, ca_file)
        except TrustStoreError as exc:
            shutil.rmtree(home, ignore_errors=True)
            raise BrowserError(str(exc)) from exc
        flags = [*_FLAGS, *(_DENY_FLAGS if self.deny else ()),
                 f"--user-data-dir={home / 'profile'}", "about:blank"]
        if not sandbox:
            flags.insert(0, "--no-sandbox")
        process = await asyncio.create_subprocess_exec(
            *_die_with_parent([self.executable, *flags]), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            env=env, start_new_session=True)
        browser = _Browser(ca_file, process, home)
        self._all.add(browser)
        self.launches += 1
        try:
            async with asyncio.timeout(LAUNCH_TIMEOUT):
                endpoint = await _endpoint(process)
                browser.cdp = await self._playwright.chromium.connect_over_cdp(endpoint)
        except (TimeoutError, Exception) as exc:
            browser.dead = True
            self._retire(browser, "crash")
            self._reap(browser)
            raise BrowserError(f"Chromium did not start: {exc}") from exc
        browser.watcher = asyncio.create_task(self._watch(browser))
        self._log.debug("browser launched", pid=process.pid, ca_file=ca_file, sandbox=sandbox)
        return browser

    async def _watch(self, browser: _Browser) -> None:
        assert browser.process.stderr is not None
        # Drain stderr so Chromium never blocks on a full pipe; then the exit is a crash
        # unless we retired and killed it ourselves.
        while await browser.process.stderr.read(65536):
            pass
        await browser.process.wait()
        if not browser.retiring:
            browser.dead = True
            self._retire(browser, "crash")
            self._log.warning("browser exited", pid=browser.pid,
                              returncode=browser.process.returncode)
        self._reap(browser)

    def _retire(self, browser: _Browser, reason: str) -> None:
        if browser.retiring:
            return
        browser.retiring = True
        self.restarts[reason] += 1
        if self._browsers.get(browser.ca_file) is browser:
            del self._browsers[browser.ca_file]

    def _reap(self, browser: _Browser) -> None:
        """Kill a retired browser's whole tree once no run uses it."""
        if not browser.retiring or browser.active > 0 or browser not in self._all:
            return
        self._all.discard(browser)
        browser.kill()
        shutil.rmtree(browser.home, ignore_errors=True)

    def leaders(self) -> set[int]:
        """The main process of every live browser (each leads its own process group)."""
        return {b.pid for b in self._all}

    def pids(self) -> set[int]:
        """Every live process of every browser (their process groups)."""
        groups = {str(leader) for leader in self.leaders()}
        if not groups:
            return set()  # no browser: no /proc scan at every scrape
        return {pid for pid, fields in procfs.all_stat_fields().items()
                if fields[2] in groups and procfs.running(fields)}

    def samples(self) -> Iterable[tuple[str, tuple[str, ...], float]]:
        pids = self.pids()
        yield "dozor_browser_processes", (), float(len(pids))
        yield "dozor_browser_memory_bytes", (), float(sum(procfs.memory(pid)[1] for pid in pids))
        yield "dozor_browser_runs_waiting", (), float(self._waiting)
        yield "dozor_browser_launches_total", (), float(self.launches)
        for reason in ("recycle", "timeout", "crash"):
            yield "dozor_browser_retired_total", (reason,), float(self.restarts[reason])

    async def close(self) -> None:
        for browser in list(self._all):
            browser.retiring = True
            if browser.cdp is not None and not browser.dead:
                # Disconnect first, so Playwright is not left reading a dead connection.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(browser.cdp.close(), CLOSE_TIMEOUT)
            browser.active = 0
            self._reap(browser)
        watchers = [b.watcher for b in self._browsers.values() if b.watcher is not None]
        self._browsers.clear()
        if watchers:  # they see the exit and let asyncio reap the processes
            await asyncio.wait(watchers, timeout=CLOSE_TIMEOUT)
        if self._playwright is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._playwright.stop(), CLOSE_TIMEOUT)
            self._playwright = None


async def _endpoint(process: asyncio.subprocess.Process) -> str:
    assert process.stderr is not None
    lines: list[str] = []
    while True:
        line = await process.stderr.readline()
        if not line:
            raise BrowserError("exited: " + " | ".join(lines[-3:]))
        text = line.decode(errors="replace").strip()
        found = _WS_RE.search(text)
        if found:
            return found.group(1)
        lines.append(text[:200])
