"""Browser checks: Dozor's shared, recycled Chromium vs a fresh browser per check (issue 12).

The same check, a citizen filling the form of ``harness.browser_site`` (goto ``/form``, fill
the name, choose a region, click send, expect "Заявление принято"), run ``--checks`` times at
each concurrency C (``--concurrency``: that many checks in flight all the time), one way after
another (the order alternates per C, against drift in machine load):

- ``dozor``: one :class:`BrowserRuntime` with ``browser-concurrency`` C, every check through
  ``run_probe(probe_browser, ...)`` as the scheduler runs it: Debian's headless shell launched
  by the runtime, a fresh context per check, the browser recycled every 200 checks;
- ``fresh``: a new browser per check, as Grafana Synthetic Monitoring runs one (its agent
  starts ``k6 run`` per check and k6 starts its own browser): Playwright's
  ``chromium.launch(executable_path=<the same binary>)`` (Playwright adds ``--no-sandbox``
  itself), a page, the same steps, ``browser.close()``; one Playwright driver per run, so
  this peer is a lower bound of SM's cost (no k6 process per check);
- ``shared`` (with ``--ways``, not by default): Uptime Kuma's real-browser monitor, one
  Playwright-launched browser for good (never recycled), a fresh context per check, the same
  steps (without the screenshot Kuma takes on every check). The same lifecycle as Dozor's
  without Dozor's extras (its own launch, Web Vitals, page-problem listeners);
- ``lease`` (with ``--ways``): Dozor's runtime (its own launch, Playwright over CDP, a context
  from ``lease()``) with the bare steps of the peers, none of the probe's extras: between
  ``shared`` and ``dozor``, it splits what the runtime costs from what the probe adds.

Each (way, C) runs in its own worker process (``--worker``), started by this script, which
is a child subreaper (``PR_SET_CHILD_SUBREAPER``): a Chromium process orphaned by a kill of
its browser's process group (Dozor's recycle) is re-parented to this script, not to init,
and this script reaps it, so its CPU is not lost. The site runs in a third process.

Figures per (way, C):

- checks/min: checks done ÷ wall time from the worker's first step (Playwright's start and
  the first launch included) to its last check's end;
- CPU-seconds per check for the whole tree (the worker's Python, Playwright's Node driver,
  every Chromium process, exited ones included), over the same window: at its start and its
  end (the worker waits for this script at both), the sum of utime+stime+cutime+cstime
  (``/proc/<pid>/stat``) of every process below this script, zombies included, minus the
  site's, plus the rusage (``wait4``) of every process this script reaped since the worker
  started. Children reaped by their parent are in its cutime/cstime; orphans are reaped
  here; the rest are alive and read directly. Excluded: the worker's interpreter start and
  imports (before the window) and its teardown (after; recorded as ``teardown_cpu_s``);
  the site's CPU (its own column, ``site CPU ms``); this script's sampling (``sampler_cpu``).
  Missed: kernel work not charged to a task of the tree (softirq networking on loopback
  charged to whoever ran, kernel threads), and a process that exits and is reaped by its
  parent between the two reads of one snapshot (milliseconds of CPU at most);
- memory: every ≥ 100 ms (longer when a sample is slow, so sampling stays under ~10 % of a
  core), each live process below this script but the site: ``Pss`` and ``Rss`` from
  ``/proc/<pid>/smaps_rollup``. The peak of the sum of PSS over Chromium processes is the
  browser tree's memory: PSS charges a shared page to each process mapping it in proportion
  (1/n), so the sum counts the pages a browser's processes share (the binary, the zygote's
  pages every renderer inherits) once; a sum of RSS counts them once per process and
  overstates the tree several times over (printed for reference). PSS undercounts our tree
  when a process outside it maps the same pages (another Chromium on a shared machine: their
  count is recorded as ``foreign_chromium_start_end``). The whole tree's peak PSS (plus the
  worker and Node) is recorded too;
- failures by reason, check duration p50/p95 as the worker saw it (Dozor: ``run_probe``'s
  duration, which excludes waiting for a slot; fresh: launch to close), and Dozor's browser
  launches and retirements;
- the ratio Dozor ÷ peer at the same C, same run, for checks/min and CPU per check.

Nothing leaves 127.0.0.1: the site binds it and the pages load only from it. At the end no
Chromium may be left below this script (checked with ``harness.processes``; any found is
reported and killed by pid).

    python bench/browser_bench.py                         # 1, 2, 4, 8 at once; about 5 minutes
    python bench/browser_bench.py --ways dozor,fresh,shared --concurrency 1,4,8
    python bench/browser_bench.py --checks 100 --fresh-checks 40 --concurrency 4
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime as dt
import json
import logging
import os
import platform
import resource
import select
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import structlog
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    async_playwright,
    expect,
)

from harness.browser_site import BrowserSite
from harness.processes import chromium, descendants
from probes import ProbeContext, RuntimeSettings, new_http_session, run_probe
from probes.browser import BrowserRuntime, BrowserSpec, probe_browser, procfs
from probes.browser.runtime import find_executable

BENCH = ROOT / "bench"
WAYS = ("dozor", "fresh", "shared", "lease")
PEERS = ("fresh", "shared", "lease")
UA = "Dozor/bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_CHILD_SUBREAPER = 36
MiB = 1 << 20
SAMPLE_EVERY = 0.1  # seconds between memory samples, at least
SAMPLER_SHARE = 0.1  # at most this share of one core spent sampling
SETTLE = 15.0  # seconds for a finished worker's processes to exit and be reaped
GOAL_PER_MIN, GOAL_TREE_MIB = 200, 1024  # issue 12: on 2 cores, the whole browser tree
NAME, REGION, DONE = "Иванов Иван", "Хабаровский край", "Заявление принято"


# --- the check, three ways (run in the worker process) ---------------------------------


def steps(url: str) -> list[dict[str, Any]]:
    """The check as a Dozor catalog writes it; the peers run the same Playwright calls."""
    return [{"goto": f"{url}/form"}, {"fill": {"selector": "#name", "value": NAME}},
            {"select": {"selector": "#region", "label": REGION}},
            {"click": "#send"}, {"expect": {"text": DONE}}]


async def bare_steps(page: Page, url: str) -> None:
    """The check's steps as plain Playwright calls (what the peers run)."""
    await page.goto(f"{url}/form")
    await page.fill("#name", NAME)
    await page.select_option("#region", label=REGION)
    await page.click("#send")
    await expect(page.get_by_text(DONE).first).to_be_visible()


class Way(Protocol):
    async def check(self) -> str | None:
        """One check: None when it passed, else why not (one line)."""
        ...

    async def close(self) -> None: ...

    def stats(self) -> dict[str, Any]: ...


class Dozor:
    def __init__(self, url: str, concurrency: int, timeout: float) -> None:
        self.runtime = BrowserRuntime(RuntimeSettings(
            options={"browser-concurrency": concurrency}))
        self.session = new_http_session(user_agent=UA)
        self.ctx = ProbeContext(http=self.session, log=structlog.get_logger("bench"),
                                user_agent=UA, runtime=self.runtime, service="bench",
                                probe="form")
        self.spec = BrowserSpec.model_validate({"steps": steps(url)})
        self.timeout = timeout

    async def check(self) -> str | None:
        result, _ = await run_probe(probe_browser, self.spec, self.ctx, self.timeout)
        if result.success:
            return None
        return f"{result.reason.value if result.reason else '?'}: {result.detail}"

    async def close(self) -> None:
        await self.runtime.close()
        await self.session.close()

    def stats(self) -> dict[str, Any]:
        return {"launches": self.runtime.launches, "retired": dict(self.runtime.restarts)}


class Playwrighted:
    """The peers: Playwright's own launch of the same binary, the same steps."""

    def __init__(self, url: str, executable: str, timeout: float, fresh: bool) -> None:
        self.url, self.executable, self.timeout, self.fresh = url, executable, timeout, fresh
        self.playwright: Playwright | None = None
        self.browser: Browser | None = None  # shared only
        self.launches = 0
        self._lock = asyncio.Lock()

    async def _launch(self) -> Browser:
        assert self.playwright is not None
        self.launches += 1
        return await self.playwright.chromium.launch(executable_path=self.executable)

    async def _ready(self) -> None:
        async with self._lock:  # one Playwright driver; one browser when shared
            if self.playwright is None:
                self.playwright = await async_playwright().start()
            if not self.fresh and self.browser is None:
                self.browser = await self._launch()

    async def check(self) -> str | None:
        await self._ready()
        owner: Browser | BrowserContext | None = None
        failed: str | None = None
        try:
            # The launch is part of a fresh-browser check, as it is of an SM check's time.
            async with asyncio.timeout(self.timeout):
                if self.fresh:
                    owner = await self._launch()
                else:
                    assert self.browser is not None
                    owner = await self.browser.new_context()
                await bare_steps(await owner.new_page(), self.url)
        except Exception as exc:
            failed = _why(exc)
        if owner is not None:
            try:
                await owner.close()
            except Exception as exc:
                failed = failed or f"close: {_why(exc)}"
        return failed

    async def close(self) -> None:
        if self.browser is not None:
            await self.browser.close()
        if self.playwright is not None:
            await self.playwright.stop()

    def stats(self) -> dict[str, Any]:
        return {"launches": self.launches}


class Leased:
    """Dozor's runtime (its own launch, Playwright over CDP, a fresh context per check from
    ``lease()``) with the bare steps: none of ``probe_browser``'s extras (the Web Vitals
    script, the page-problem listeners, the vitals read, the result). Between ``shared``
    and ``dozor``, it tells what the runtime costs from what the probe adds."""

    def __init__(self, url: str, concurrency: int, timeout: float) -> None:
        self.runtime = BrowserRuntime(RuntimeSettings(
            options={"browser-concurrency": concurrency}))
        self.spec = BrowserSpec.model_validate({"steps": steps(url)})
        self.url, self.timeout = url, timeout

    async def check(self) -> str | None:
        async with self.runtime.slot(self.spec):
            try:
                async with asyncio.timeout(self.timeout), self.runtime.lease(self.spec) as lease:
                    await bare_steps(await lease.context.new_page(), self.url)
            except Exception as exc:
                return _why(exc)
        return None

    async def close(self) -> None:
        await self.runtime.close()

    def stats(self) -> dict[str, Any]:
        return {"launches": self.runtime.launches, "retired": dict(self.runtime.restarts)}


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:160]}"


def _count_events(counts: Counter[str]) -> Callable[..., MutableMapping[str, Any]]:
    """A structlog processor that counts what the runtime logs (a crashed browser shows as a
    warning), so the report carries it."""

    def processor(_: Any, level: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        counts[f"{level}: {event.get('event')}"] += 1
        return event

    return processor


def _wait_go() -> None:
    """Block until the orchestrator has taken its CPU snapshot (it writes one line)."""
    sys.stdin.readline()


async def worker(args: argparse.Namespace) -> None:
    events: Counter[str] = Counter()
    structlog.configure(
        processors=[_count_events(events), structlog.processors.add_log_level,
                    structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    executable = find_executable(None)
    assert executable is not None, "no Chromium: make run-debs"
    way: Way
    if args.worker == "dozor":
        way = Dozor(args.url, args.concurrency, args.timeout)
    elif args.worker == "lease":
        way = Leased(args.url, args.concurrency, args.timeout)
    else:
        way = Playwrighted(args.url, executable, args.timeout, args.worker == "fresh")
    failures: Counter[str] = Counter()
    took: list[float] = []
    queue = iter(range(args.checks))

    async def loop() -> None:
        for _ in queue:
            began = time.perf_counter()
            failed = await way.check()
            took.append(time.perf_counter() - began)
            if failed is not None:
                failures[failed[:200]] += 1

    print("READY", flush=True)
    _wait_go()
    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(args.concurrency)))
    wall = time.perf_counter() - started
    took.sort()
    report = {"checks": len(took), "ok": len(took) - sum(failures.values()),
              "wall_s": round(wall, 3), "failures": dict(failures),
              "took_p50_s": round(statistics.median(took), 3) if took else None,
              "took_p95_s": round(took[int(0.95 * (len(took) - 1))], 3) if took else None,
              **way.stats(), "executable": executable}
    print("END " + json.dumps(report, ensure_ascii=False), flush=True)
    _wait_go()
    await way.close()
    print("LOG " + json.dumps(dict(events), ensure_ascii=False), flush=True)


async def serve_site() -> None:
    site = await BrowserSite().start()
    print(site.url, flush=True)  # the orchestrator waits for it
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await site.close()
    print(f"requests {site.requests}", file=sys.stderr, flush=True)


# --- the orchestrator: processes, CPU, memory ------------------------------------------


def _below(table: dict[int, list[str]], root: int, skip: set[int]) -> set[int]:
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, f in table.items()
                    if int(f[1]) in frontier and pid not in skip} - found
        found |= frontier
    return found


def _is_chromium(pid: int) -> bool:
    try:
        return b"chromium" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _own_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _ticks_cpu(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    f = text[text.rindex(")") + 2:].split()
    return (int(f[11]) + int(f[12])) / CLK_TCK


@dataclass
class Tree:
    """Everything below this script but the site: its CPU and its memory peaks."""

    site: int
    reaped_cpu: float = 0.0  # rusage of processes this script reaped (this point's)
    reaped: dict[int, int] = field(default_factory=dict)  # pid -> wait status
    samples: int = 0
    sample_s: float = 0.0
    peak: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("browser_pss", "browser_rss", "tree_pss", "browser_processes"), 0))

    def reap(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.reaped[pid] = status
            if pid != self.site:
                self.reaped_cpu += usage.ru_utime + usage.ru_stime

    def pids(self) -> tuple[dict[int, list[str]], set[int]]:
        table = procfs.all_stat_fields()
        return table, _below(table, os.getpid(), {self.site})

    def cpu(self) -> float:
        """CPU-seconds of the tree so far: live (and zombie) processes' own and their reaped
        children's, plus what this script reaped."""
        self.reap()
        table, pids = self.pids()
        live = sum(int(table[p][11]) + int(table[p][12]) + int(table[p][13]) +
                   int(table[p][14]) for p in pids) / CLK_TCK
        return live + self.reaped_cpu

    def sample(self) -> float:
        """One memory sample; returns the seconds it took."""
        began = time.perf_counter()
        table, pids = self.pids()
        browser_pss = browser_rss = tree_pss = browsers = 0
        for pid in pids:
            if table[pid][0] in "ZX":
                continue
            rss, pss = procfs.memory(pid)
            tree_pss += pss
            if _is_chromium(pid):
                browsers += 1
                browser_pss += pss
                browser_rss += rss
        for key, value in (("browser_pss", browser_pss), ("browser_rss", browser_rss),
                           ("tree_pss", tree_pss), ("browser_processes", browsers)):
            self.peak[key] = max(self.peak[key], value)
        took = time.perf_counter() - began
        self.samples += 1
        self.sample_s += took
        return took

    def chromium_left(self) -> set[int]:
        return chromium(descendants(os.getpid()))

    def foreign_chromium(self) -> int:
        """Chromium processes outside our tree (another user's browser): they share the
        binary's pages with ours, so our PSS reads lower while they run."""
        table, ours = self.pids()
        return len(chromium(set(table) - ours - {os.getpid()}))


class Lines:
    """Lines from a worker's stdout, read unbuffered so ``select`` sees every one; lines that
    are not the protocol's (anything a child prints) go to stderr."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def expect(self, prefix: str, timeout: float, tree: Tree | None = None) -> str:
        """The next line starting with ``prefix`` (without it), sampling memory (and
        reaping) while waiting when given the tree."""
        deadline = time.monotonic() + timeout
        pause = 0.0
        while True:
            while b"\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\n", 1)
                line = raw.decode(errors="replace")
                if line.startswith(prefix):
                    return line[len(prefix):]
                print(f"worker: {line}", file=sys.stderr, flush=True)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {prefix.strip()!r} line in {timeout:.0f}s")
            ready, _, _ = select.select([self.fd], [], [], min(left, pause) if tree else left)
            if ready:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    raise RuntimeError(f"the worker closed its output before {prefix!r}")
                self.buffer += chunk
            elif tree is not None:
                tree.reap()
                took = tree.sample()
                # At least SAMPLE_EVERY apart, and slow samples spaced out so sampling
                # takes at most SAMPLER_SHARE of a core: it competes with the checks.
                pause = max(SAMPLE_EVERY - took, took * (1 - SAMPLER_SHARE) / SAMPLER_SHARE)


def run_point(way: str, concurrency: int, checks: int, url: str, site: int,
              timeout: float) -> dict[str, Any]:
    tree = Tree(site)
    tree.reap()
    process = subprocess.Popen(
        [sys.executable, __file__, "--worker", way, "--url", url, "--concurrency",
         str(concurrency), "--checks", str(checks), "--timeout", str(timeout)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    assert process.stdin is not None and process.stdout is not None
    lines = Lines(process.stdout.fileno())
    load0 = os.getloadavg()
    foreign = tree.foreign_chromium()
    try:
        lines.expect("READY", 120.0)
        cpu0, own0, site0 = tree.cpu(), _own_cpu(), _ticks_cpu(site)
        process.stdin.write(b"go\n")
        # The checks run: sample memory until the worker reports.
        report: dict[str, Any] = json.loads(
            lines.expect("END ", 60.0 + checks * timeout, tree))
        cpu1, own1, site1 = tree.cpu(), _own_cpu(), _ticks_cpu(site)
        process.stdin.write(b"go\n")
        report["log_events"] = json.loads(lines.expect("LOG ", 60.0))
    except BaseException:
        process.kill()
        raise
    finally:
        process.stdin.close()
        # The worker and every process it left exit and are reaped here (orphans included).
        settle_until = time.monotonic() + SETTLE
        while time.monotonic() < settle_until:
            tree.reap()
            if process.pid in tree.reaped and not tree.pids()[1]:
                break
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(tree.reaped.get(process.pid, 0))
        process.stdout.close()
    final = tree.cpu()
    left = sorted(tree.chromium_left())
    for pid in left:  # ours, started by this run: reported, and ended
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    window_cpu = cpu1 - cpu0
    done = report["checks"]
    return {
        "way": way, "concurrency": concurrency, **report,
        "checks_per_min": round(done / report["wall_s"] * 60, 1),
        "cpu_s": round(window_cpu, 2),
        "cpu_s_per_check": round(window_cpu / max(done, 1), 4),
        "cores_busy": round(window_cpu / report["wall_s"], 2),
        "teardown_cpu_s": round(final - cpu1, 2),
        "site_cpu_ms_per_check": round((site1 - site0) / max(done, 1) * 1000, 2),
        "sampler_cpu_share": round((own1 - own0) / report["wall_s"], 3),
        "memory_samples": tree.samples,
        "sample_ms_mean": round(tree.sample_s / max(tree.samples, 1) * 1000, 1),
        "peak_browser_pss_mib": round(tree.peak["browser_pss"] / MiB),
        "peak_browser_rss_sum_mib": round(tree.peak["browser_rss"] / MiB),
        "peak_tree_pss_mib": round(tree.peak["tree_pss"] / MiB),
        "peak_browser_processes": tree.peak["browser_processes"],
        "worker_exit": process.returncode,
        "orphans_reaped": len(set(tree.reaped) - {process.pid, site}),
        "chromium_left_behind": left,
        "loadavg_start_end": [round(load0[0], 2), round(os.getloadavg()[0], 2)],
        "foreign_chromium_start_end": [foreign, tree.foreign_chromium()],
    }


# --- report ------------------------------------------------------------------------------


def summary(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (way, C) over the rounds: medians of the rates and costs, the worst peaks."""
    rows = []
    for way, c in sorted({(r["way"], r["concurrency"]) for r in results},
                         key=lambda k: (k[1], WAYS.index(k[0]))):
        runs = [r for r in results if r["way"] == way and r["concurrency"] == c]

        def median(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return float(statistics.median(r[key] for r in runs))

        rate = [r["checks_per_min"] for r in runs]
        row = {
            "way": way, "concurrency": c, "rounds": len(runs),
            "ok": sum(r["ok"] for r in runs), "checks": sum(r["checks"] for r in runs),
            "checks_per_min": round(median("checks_per_min"), 1),
            "checks_per_min_range": [min(rate), max(rate)],
            "cpu_s_per_check": round(median("cpu_s_per_check"), 4),
            "cores_busy": round(median("cores_busy"), 2),
            "took_p50_s": round(median("took_p50_s"), 3),
            "took_p95_s": round(median("took_p95_s"), 3),
            "site_cpu_ms_per_check": round(median("site_cpu_ms_per_check"), 2),
            "load_1m_range": [min(min(r["loadavg_start_end"]) for r in runs),
                              max(max(r["loadavg_start_end"]) for r in runs)],
        }
        for key in ("peak_browser_pss_mib", "peak_browser_rss_sum_mib", "peak_tree_pss_mib",
                    "peak_browser_processes"):
            row[key] = max(r[key] for r in runs)
        if way == "dozor":
            row["goal_met"] = (row["checks_per_min"] >= GOAL_PER_MIN
                               and row["peak_browser_pss_mib"] < GOAL_TREE_MIB)
        rows.append(row)
    return rows


def ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dozor over each peer at the same C: of the medians, and the range of the ratios of
    the two measured in the same round (next to each other)."""
    rows = []
    rounds = sorted({r["round"] for r in results})
    medians = {(r["way"], r["concurrency"]): r for r in summary(results)}
    for c in sorted({r["concurrency"] for r in results}):
        dozor = medians.get(("dozor", c))
        for peer in PEERS:
            other = medians.get((peer, c))
            if dozor is None or other is None:
                continue
            row: dict[str, Any] = {"concurrency": c, "peer": peer}
            for key, figure in (("checks_per_min", "checks_per_min"),
                                ("cpu_per_check", "cpu_s_per_check"),
                                ("peak_browser_pss", "peak_browser_pss_mib")):
                row[key] = round(dozor[figure] / max(other[figure], 1e-9), 2)
                paired = []
                for n in rounds:
                    at = {r["way"]: r for r in results
                          if r["concurrency"] == c and r["round"] == n}
                    if "dozor" in at and peer in at:
                        paired.append(round(at["dozor"][figure] /
                                            max(at[peer][figure], 1e-9), 2))
                row[key + "_by_round"] = paired
            rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = ["way", "C", "ok/checks", "checks/min (range)", "CPU s/check", "cores busy",
            "browser PSS MiB", "(RSS sum)", "tree PSS MiB", "procs", "p50 / p95 s",
            "site CPU ms", "load 1m"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        low, high = r["checks_per_min_range"]
        spread = f" ({low:g}–{high:g})" if r["rounds"] > 1 else ""
        load = "–".join(f"{x:g}" for x in r["load_1m_range"])
        lines.append("| " + " | ".join(str(x) for x in (
            r["way"], r["concurrency"], f"{r['ok']}/{r['checks']}",
            f"{r['checks_per_min']:g}{spread}", f"{r['cpu_s_per_check']:.3f}", r["cores_busy"],
            r["peak_browser_pss_mib"], r["peak_browser_rss_sum_mib"], r["peak_tree_pss_mib"],
            r["peak_browser_processes"], f"{r['took_p50_s']} / {r['took_p95_s']}",
            r["site_cpu_ms_per_check"], load)) + " |")
    return "\n".join(lines)


def ratio_table(rows: list[dict[str, Any]]) -> str:
    def cell(r: dict[str, Any], key: str) -> str:
        paired = r[key + "_by_round"]
        return f"{r[key]}" + (f" ({min(paired)}–{max(paired)})" if len(paired) > 1 else "")

    lines = ["| C | Dozor ÷ | checks/min | CPU per check | peak browser PSS |", "|---" * 5 + "|"]
    for r in rows:
        lines.append(f"| {r['concurrency']} | {r['peer']} | {cell(r, 'checks_per_min')} | "
                     f"{cell(r, 'cpu_per_check')} | {cell(r, 'peak_browser_pss')} |")
    return "\n".join(lines)


def machine(executable: str) -> dict[str, Any]:
    def first(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
        except OSError:
            return "missing"
        return (out.stdout or out.stderr).strip().splitlines()[0] if (
            out.stdout or out.stderr).strip() else ""

    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10,
                               check=False).stdout.splitlines()
    except OSError:
        lscpu = []
    model = next((line.split(":", 1)[1].strip() for line in lscpu
                  if line.startswith("Model name")), platform.processor())
    return {"host": socket.gethostname(), "cpu_model": model, "cores": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") /
                                (1 << 30), 1),
            "python": platform.python_version(), "playwright": version("playwright"),
            "chromium": first([executable, "--version"]), "executable": executable,
            "kernel": platform.release()}


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _points(ways: list[str], concurrencies: list[int], rounds: int
            ) -> Iterator[tuple[int, str, int]]:
    step = 0
    for n in range(rounds):
        for c in concurrencies:
            order = ways if step % 2 == 0 else list(reversed(ways))
            step += 1
            for way in order:  # alternate who goes first, against drift in machine load
                yield n, way, c


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ways", default="dozor,fresh", help=f"of {', '.join(WAYS)}")
    p.add_argument("--concurrency", default="1,2,4,8", help="checks in flight, comma-separated")
    p.add_argument("--checks", type=int, default=240,
                   help="checks per point for dozor and shared (over 200: one recycle)")
    p.add_argument("--fresh-checks", type=int, default=80,
                   help="checks per point for fresh (each is alike: a launch per check)")
    p.add_argument("--rounds", type=int, default=1,
                   help="repeat the whole sweep; medians per point, ratios per round")
    p.add_argument("--timeout", type=float, default=10.0, help="per check, seconds")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--worker", choices=WAYS, help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--serve-site", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_site:
        asyncio.run(serve_site())
        return
    if args.worker:
        args.concurrency = int(args.concurrency)  # one figure here, a list for the orchestrator
        asyncio.run(worker(args))
        return
    orchestrate(args)


def orchestrate(args: argparse.Namespace) -> None:
    executable = find_executable(None)
    if executable is None:
        sys.exit("no Chromium found: make run-debs (Debian's chromium-headless-shell)")
    ways = [w for w in args.ways.split(",") if w]
    unknown = set(ways) - set(WAYS)
    if unknown:
        sys.exit(f"unknown ways: {', '.join(sorted(unknown))}")
    # Orphans of our tree (a browser's processes after a killpg) come to us, not to init:
    # their CPU is then counted, and they are reaped here.
    if ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1) != 0:
        sys.exit("cannot become a child subreaper")
    started = dt.datetime.now(dt.UTC)
    info = machine(executable)
    site = subprocess.Popen([sys.executable, __file__, "--serve-site"], stdout=subprocess.PIPE,
                            bufsize=0)
    assert site.stdout is not None
    results: list[dict[str, Any]] = []
    try:
        url = Lines(site.stdout.fileno()).expect("http://", 30.0)
        url = "http://" + url
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"site: {url!r}")
        print(f"{info['chromium']}, Playwright {info['playwright']}, {info['cores']} cores, "
              f"site {url}", flush=True)
        for n, way, c in _points(ways, _ints(args.concurrency), args.rounds):
            checks = args.fresh_checks if way == "fresh" else args.checks
            r = {"round": n, **run_point(way, c, checks, url, site.pid, args.timeout)}
            results.append(r)
            print(f"{way:>6} C={c} round {n}: {r['ok']}/{r['checks']} ok, "
                  f"{r['checks_per_min']}/min, {r['cpu_s_per_check']:.3f} CPU-s/check, browser PSS "
                  f"{r['peak_browser_pss_mib']} MiB, load {r['loadavg_start_end']}"
                  + (f", failures {r['failures']}" if r["failures"] else "")
                  + (f", LEFT BEHIND {r['chromium_left_behind']}"
                     if r["chromium_left_behind"] else ""), flush=True)
    finally:
        site.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            site.wait(10)
    left = sorted(chromium(descendants(os.getpid())))
    report: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"), "machine": info,
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                   if k not in ("worker", "url", "serve_site")},
        "check": steps("http://127.0.0.1:PORT"), "results": results,
        "summary": summary(results), "ratios": ratios(results), "chromium_left_at_end": left,
    }
    out = args.out or BENCH / "results" / f"{started:%Y-%m-%d}-{info['host']}-browser.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(table(report["summary"]))
    if report["ratios"]:
        print(ratio_table(report["ratios"]))
    met = [r["concurrency"] for r in report["summary"] if r.get("goal_met")]
    if "dozor" in ways:
        print(f"goal (>= {GOAL_PER_MIN} checks/min, browser tree < {GOAL_TREE_MIB} MiB PSS): "
              + (f"met by Dozor at C = {', '.join(map(str, met))}" if met else "not met"))
    print(f"Chromium processes left at the end: {len(left)}")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
