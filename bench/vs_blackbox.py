"""Dozor vs prometheus-blackbox-exporter, side by side, in one run on one machine (issue 6).

Both probe the same local targets at the same rate, one after the other for every rate (the
order alternates), with the tool pinned to core 0 and everything else (nginx, the delay
server, blackbox's driver, this script) on the other cores:

- target: nginx (Debian's, generated nginx.conf on a free 127.0.0.1 port, one worker, a small
  page) and, for every 10th probe, bench/delay_server.py, which answers after a fixed delay
  and records the delay it really applied per request path;
- Dozor: the real daemon (bench/dozor_worker.py) with a generated catalog of
  ``rate * interval`` services, one HTTP probe each, driven by its own scheduler;
- blackbox_exporter: driven like Prometheus drives it, one ``/probe`` request per probe, from
  bench/blackbox_driver.py (own process, so its CPU is not blackbox's).

Per (tool, rate): CPU-seconds per probe (utime+stime of the tool's process from /proc), the
achieved rate, RSS, scheduling lag p50/p99 (Dozor: the lag it observes into
dozor_scheduler_lag_seconds, per run; blackbox: the driver's scheduled-to-sent delay) and
latency error p50/p99 (measured duration minus the server-side delay of the same request).
Dozor's CPU includes one /metrics scrape per ``--scrape-interval`` (15 s) of the window, as
Prometheus would cost it; blackbox renders its exposition in every /probe anyway. A rate is
*sustained* when the achieved rate is at least 95 % of it and lag p99 <= 100 ms.
Machine load (os.getloadavg) is recorded with every run: compare ratios, not absolutes, on a
shared machine.

    python bench/vs_blackbox.py                      # 100, 500, 1000/s; about 3 minutes
    python bench/vs_blackbox.py --find-max           # keep raising the rate until each fails
    python bench/vs_blackbox.py --ten-k              # also 10,000 services at 60 s (Dozor)
    python bench/vs_blackbox.py --rates 200 --window 30 --variants asyncio

Per machine (issue 15): ``--mode per-machine`` runs both tools unpinned on every core,
Dozor as ``dozor run --workers auto`` (bench/machine_run.py), raising the rate until each
fails; ``--mode overload`` does that, then offers each tool twice its own maximum sustained
rate and reports what it completes, its lag and (Dozor) the runs it skipped.

    python bench/vs_blackbox.py --mode per-machine --rates 1000
    python bench/vs_blackbox.py --mode overload --rates 1000
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import selectors
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import machine_run  # bench/ is this script's directory, first on sys.path

from harness.catalog_factory import catalog_dict, write_catalog

BENCH = ROOT / "bench"
BLACKBOX = "prometheus-blackbox-exporter"
NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type text/html;
            return 200 "<!doctype html><title>Запись</title><p>Запись открыта</p>\\n";
        }}
    }}
}}
"""
BLACKBOX_CONF = """
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
"""
TICK = os.sysconf("SC_CLK_TCK")


# ---- /proc and small numbers ------------------------------------------------------------

def cpu_seconds(pid: int, task: int | None = None) -> float:
    """utime + stime of one process (all its threads), from /proc/<pid>/stat; of one of its
    threads with ``task`` (its thread id; the main thread's is ``pid``)."""
    stat = Path(f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat"
                ).read_text()
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The child's next stdout line, or raise if it exits or stays silent."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise RuntimeError(f"{proc.args!r} said nothing within {timeout}s")
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"{proc.args!r} exited with {proc.wait()}")
    return line.strip()


def wait_http(url: str, timeout: float = 10.0, context: ssl.SSLContext | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1,
                                                                   context=context):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def start_delay_server(out: Path, delay_ms: float, received: Path | None = None
                       ) -> tuple[subprocess.Popen[str], str]:
    """bench/delay_server.py and its base URL; on SIGTERM it writes what it applied to
    ``out`` (and when each request came to ``received``; read them after ``stop``)."""
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / "delay_server.py"), "--delay-ms", str(delay_ms),
         "--out", str(out), *(["--received", str(received)] if received else [])],
        stdout=subprocess.PIPE, text=True)
    return proc, f"http://127.0.0.1:{read_line(proc, 10)}"


def run_lags(runs: list[list[Any]], jobs: dict[str, list[float]]) -> list[float]:
    """Each run's delay from its grid point to its start, as the daemon observes it into
    dozor_scheduler_lag_seconds (runs and jobs as bench/dozor_worker.py writes them)."""
    lags = []
    for finished, duration, service, _ok in runs:
        offset, every = jobs[service]
        started = finished - duration
        lags.append(started - (offset + math.floor((started - offset) / every) * every))
    return lags


# ---- the bench ---------------------------------------------------------------------------

@dataclass
class Bench:
    tmp: Path
    warmup: float
    window: float
    interval: float
    delay_every: int
    pin: bool
    scrape_interval: float = 15.0
    page: str = ""
    delay: str = ""
    procs: list[subprocess.Popen[Any]] = field(default_factory=list)
    # Matched after the delay server's dump: run -> [(path, done, measured duration)].
    pending_errors: dict[str, list[tuple[str, float, float]]] = field(default_factory=dict)

    def tool_cmd(self, cmd: list[str]) -> list[str]:
        return ["taskset", "-c", "0", *cmd] if self.pin else cmd

    def start_targets(self, delay_ms: float) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise SystemExit("nginx is missing: `make bench-blackbox` installs nginx-light")
        for _ in range(3):  # the free port can be taken between probing and binding
            port = free_port()
            conf = self.tmp / "nginx.conf"
            conf.write_text(NGINX_CONF.format(tmp=self.tmp, port=port))
            proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(self.tmp)],
                                    stderr=subprocess.DEVNULL)
            try:
                wait_http(f"http://127.0.0.1:{port}/", 5)
            except RuntimeError:
                stop(proc, signal.SIGKILL)
                continue
            self.procs.append(proc)
            self.page = f"http://127.0.0.1:{port}/"
            break
        else:
            raise RuntimeError("nginx did not start")
        delay, self.delay = start_delay_server(self.tmp / "delays.json", delay_ms)
        self.procs.append(delay)

    def target_pids(self) -> list[int]:
        """nginx (master and workers) and the delay server: on the helpers' core(s)."""
        pids = []
        for proc in self.procs:
            pids.append(proc.pid)
            with contextlib.suppress(OSError):
                children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text()
                pids += [int(c) for c in children.split()]
        return pids

    def close(self) -> dict[str, list[float]]:
        """Stop the targets; the delay server's record of what it really applied."""
        for proc in reversed(self.procs):
            stop(proc, signal.SIGQUIT if "nginx" in str(proc.args) else signal.SIGTERM)
        path = self.tmp / "delays.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _measure(self, pid: int, scrape: str = "", helper: int = 0
                 ) -> tuple[float, float, float, float, dict[str, Any]]:
        """CPU of ``pid`` over the window; ``scrape``: Prometheus' scrapes of Dozor's /metrics
        every ``scrape_interval`` (from the window start), counted in Dozor's CPU as they
        would be in production; ``helper``: a driver whose CPU share is reported too."""
        time.sleep(self.warmup)
        cpu0, t0 = cpu_seconds(pid), time.time()
        helper0 = cpu_seconds(helper) if helper else 0.0
        targets0 = sum(cpu_seconds(pid) for pid in self.target_pids())
        scrapes = machine_run.scrape_until(scrape, t0 + self.window,
                                           self.scrape_interval if scrape else 0.0)
        cpu1, t1 = cpu_seconds(pid), time.time()
        extra: dict[str, Any] = {"scrapes": len(scrapes),
                                 "scrape_s_max": round(max(scrapes), 3) if scrapes else None}
        extra["targets_cpu_share"] = round(
            (sum(cpu_seconds(pid) for pid in self.target_pids()) - targets0) / (t1 - t0), 3)
        if helper:
            extra["driver_cpu_share"] = round((cpu_seconds(helper) - helper0) / (t1 - t0), 3)
        return t0, t1, cpu1 - cpu0, rss_mb(pid), extra

    def run_dozor(self, rate: float, run_id: str, uvloop: bool, services: int | None = None,
                  interval: float | None = None, root: str = "") -> dict[str, Any]:
        interval = interval or self.interval
        n = services or round(rate * interval)
        delay_paths: dict[str, str] = {}
        urls = []
        for i in range(n):
            if self.delay_every and i % self.delay_every == 0:
                path = f"/d/{run_id}/s{i}"
                delay_paths[f"svc-{i:05d}"] = path
                urls.append(self.delay + path)
            else:
                urls.append(f"{self.page}s{i}")
        config = write_catalog(self.tmp / f"{run_id}.yaml", catalog_dict(
            urls, interval=f"{interval:g}s", timeout="5s"))
        out = self.tmp / f"{run_id}.json"
        cmd = [sys.executable, str(BENCH / "dozor_worker.py"), "--config", str(config),
               "--out", str(out), *(["--uvloop"] if uvloop else [])]
        log = (self.tmp / f"{run_id}.log").open("w")
        env = {**os.environ, "DOZOR_ROOT": root} if root else None
        proc = subprocess.Popen(self.tool_cmd(cmd), stdout=subprocess.PIPE, stderr=log,
                                text=True, env=env)
        try:
            loaded = time.monotonic()
            port = read_line(proc, 300).split()[1]
            startup = time.monotonic() - loaded
            t0, t1, cpu, rss, extra = self._measure(
                proc.pid, f"http://127.0.0.1:{port}/metrics")
            load = os.getloadavg()
            stop(proc)
        finally:
            stop(proc, signal.SIGKILL)
            log.close()
        data = json.loads(out.read_text())
        jobs = data["jobs"]
        done = [r for r in data["runs"] if t0 <= r[0] <= t1]
        lags = run_lags(done, jobs)
        by_service: dict[str, list[list[Any]]] = defaultdict(list)
        for r in data["runs"]:  # every run, in completion order: the k-th answers the k-th
            if r[2] in delay_paths:
                by_service[r[2]].append(r)
        self.pending_errors[run_id] = [
            (f"{delay_paths[s]}#{k}", r[0], r[1])
            for s, rs in by_service.items() for k, r in enumerate(rs) if t0 <= r[0] <= t1]
        tool = ("base:" if root else "") + ("dozor-uvloop" if uvloop else "dozor")
        extra["skipped"] = data.get("skipped", {})  # over the whole process, not the window
        return self._summary(run_id, tool, rate, n, interval,
                             t1 - t0, cpu, rss, load, len(done),
                             sum(1 for r in done if not r[3]), lags, startup) | extra

    def run_blackbox(self, rate: float, run_id: str, concurrency: int) -> dict[str, Any]:
        conf = self.tmp / "blackbox.yml"
        conf.write_text(BLACKBOX_CONF)
        binary = shutil.which(BLACKBOX) or f"/usr/bin/{BLACKBOX}"
        port = free_port()
        bb = subprocess.Popen(self.tool_cmd(
            [binary, f"--config.file={conf}", f"--web.listen-address=127.0.0.1:{port}",
             "--log.level=warn"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = self.tmp / f"{run_id}.json"
        driver: subprocess.Popen[str] | None = None
        try:
            wait_http(f"http://127.0.0.1:{port}/-/healthy")
            driver = subprocess.Popen(
                [sys.executable, str(BENCH / "blackbox_driver.py"),
                 "--blackbox", f"http://127.0.0.1:{port}", "--rate", str(rate),
                 "--duration", str(self.warmup + self.window + 0.5), "--page", self.page,
                 "--delay", self.delay, "--delay-every", str(self.delay_every),
                 "--concurrency", str(concurrency), "--run-id", run_id, "--out", str(out),
                 "--uvloop"], stdout=subprocess.PIPE, text=True)
            read_line(driver, 30)
            t0, t1, cpu, rss, extra = self._measure(bb.pid, helper=driver.pid)
            load = os.getloadavg()
            driver.wait(60)
        finally:
            if driver is not None:
                stop(driver, signal.SIGKILL)
            stop(bb, signal.SIGKILL)
        runs = json.loads(out.read_text())["runs"]
        done = [r for r in runs if t0 <= r[2] <= t1]
        lags = [r[1] for r in runs if t0 <= r[0] <= t1]
        self.pending_errors[run_id] = [
            (r[5] + "#0", r[2], r[4]) for r in done if r[5] and r[4] is not None]
        return self._summary(run_id, "blackbox", rate, 0, 0, t1 - t0, cpu, rss, load,
                             len(done), sum(1 for r in done if not r[3]), lags, 0.0) | extra

    @staticmethod
    def _summary(run_id: str, tool: str, rate: float, services: int, interval: float,
                 seconds: float, cpu: float, rss: float, load: tuple[float, ...], probes: int,
                 failures: int, lags: list[float], startup: float) -> dict[str, Any]:
        achieved = probes / seconds
        lag_p99 = quantile(lags, 0.99)
        return {
            "run": run_id, "tool": tool, "rate": rate, "services": services,
            "interval_s": interval, "window_s": round(seconds, 2),
            "achieved_per_s": round(achieved, 1), "probes": probes, "failures": failures,
            "cpu_s": round(cpu, 3),
            "cpu_us_per_probe": round(cpu / probes * 1e6, 1) if probes else None,
            "cpu_share_of_core": round(cpu / seconds, 3),
            "rss_mb": round(rss, 1), "startup_s": round(startup, 2),
            "lag_p50_ms": ms(quantile(lags, 0.5)), "lag_p99_ms": ms(lag_p99),
            "sustained": achieved >= 0.95 * rate and (lag_p99 or 0) <= 0.1,
            "loadavg": [round(x, 2) for x in load],
        }


def add_errors(results: list[dict[str, Any]], pending: dict[str, list[tuple[str, float, float]]],
               delays: dict[str, list[float]]) -> None:
    """Latency error = the tool's measured duration - the delay the server really applied."""
    for r in results:
        errors = []
        for key, _done, measured in pending.get(r["run"], []):
            path, k = key.rsplit("#", 1)
            applied = delays.get(path, [])
            if int(k) < len(applied):
                errors.append(measured - applied[int(k)])
        r["latency_error_p50_ms"] = ms(quantile(errors, 0.5))
        r["latency_error_p99_ms"] = ms(quantile(errors, 0.99))
        r["latency_error_samples"] = len(errors)


def machine(peers: bool = True) -> dict[str, Any]:
    """The machine and the versions that matter; ``peers``: blackbox_exporter's and nginx's
    too."""
    def out(cmd: list[str]) -> str:
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
        except OSError:
            return "missing"
        return (p.stdout or p.stderr).strip().splitlines()[0] if (p.stdout or p.stderr) else ""

    model = next((line.split(":", 1)[1].strip() for line in out_all(["lscpu"])
                  if line.startswith("Model name")), platform.processor())
    from importlib.metadata import version

    info = {
        "host": socket.gethostname(), "cpu_model": model, "cores": os.cpu_count(),
        "python": platform.python_version(), "aiohttp": version("aiohttp"),
        "uvloop": version("uvloop"), "kernel": platform.release(),
    }
    if peers:
        info |= {"blackbox_exporter": out([BLACKBOX, "--version"]),
                 "nginx": out(["nginx", "-v"])}
    return info


def out_all(cmd: list[str]) -> list[str]:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10,
                              check=False).stdout.splitlines()
    except OSError:
        return []


def ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dozor's CPU per probe over blackbox's at the same rate, same run."""
    rows = []
    for rate in sorted({r["rate"] for r in results}):
        at = {r["tool"]: r for r in results if r["rate"] == rate}
        bb = at.get("blackbox")
        for tool in sorted(t for t in at if t != "blackbox"):
            d = at.get(tool)
            if bb and d and bb["cpu_us_per_probe"] and d["cpu_us_per_probe"]:
                rows.append({"rate": rate, "tool": tool, "cpu_ratio_vs_blackbox":
                             round(d["cpu_us_per_probe"] / bb["cpu_us_per_probe"], 2)})
    return rows


def table(results: list[dict[str, Any]]) -> str:
    head = ("| tool | rate/s | achieved/s | CPU µs/probe | core share | RSS MB | lag p50/p99 ms "
            "| latency error p50/p99 ms | sustained | load avg 1m |")
    lines = [head, "|---" * 10 + "|"]
    for r in results:
        lines.append(
            f"| {r['tool']} | {r['rate']:g} | {r['achieved_per_s']} | {r['cpu_us_per_probe']} "
            f"| {r['cpu_share_of_core']} | {r['rss_mb']} | {r['lag_p50_ms']} / "
            f"{r['lag_p99_ms']} | {r['latency_error_p50_ms']} / {r['latency_error_p99_ms']} "
            f"| {'yes' if r['sustained'] else 'no'} | {r['loadavg'][0]} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rates", default="100,500,1000", help="probes/s, comma-separated")
    p.add_argument("--find-max", action="store_true",
                   help="after --rates, keep raising the rate until each tool fails")
    p.add_argument("--max-rate", type=float, default=5000)
    p.add_argument("--variants", default="asyncio,uvloop",
                   help="Dozor event loops to run: asyncio, uvloop or both")
    p.add_argument("--interval", type=float, default=10.0,
                   help="Dozor probe interval; services = rate * interval")
    p.add_argument("--warmup", type=float, default=4.0)
    p.add_argument("--window", type=float, default=15.0, help="measured seconds per run")
    p.add_argument("--delay-ms", type=float, default=20.0)
    p.add_argument("--delay-every", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=1000, help="blackbox driver in flight")
    p.add_argument("--ten-k", action="store_true",
                   help="also Dozor with 10,000 services at 60 s for a 60 s window")
    p.add_argument("--scrape-interval", type=float, default=15.0,
                   help="scrape Dozor's /metrics this often in the window (0: never)")
    p.add_argument("--ten-k-window", type=float, default=60.0)
    p.add_argument("--baseline", type=Path, default=None,
                   help="another checkout (e.g. `git archive HEAD~1`): its Dozor runs too")
    p.add_argument("--no-pin", action="store_true", help="do not pin tools to core 0")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--mode", choices=["per-core", "per-machine", "overload"],
                   default="per-core", help="per-core: one core each (the default); "
                   "per-machine: unpinned, Dozor with --workers; overload: per-machine, then "
                   "each tool at twice its own maximum sustained rate")
    p.add_argument("--workers", default="auto", help="Dozor's --workers in per-machine modes")
    args = p.parse_args()
    if args.mode != "per-core":
        machine_mode(args)
        return
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    if pin:  # everything but the tool under test stays off core 0
        os.sched_setaffinity(0, set(range(1, os.cpu_count() or 2)))
    # (tool name, uvloop, code root): this checkout's, and --baseline's for before/after.
    variants = [(("dozor-uvloop" if v == "uvloop" else "dozor"), v == "uvloop", "")
                for v in args.variants.split(",") if v]
    if args.baseline:
        variants += [(f"base:{name}", uv, str(args.baseline.resolve()))
                     for name, uv, _ in list(variants)]
    started = dt.datetime.now(dt.UTC)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dozor-vs-bb-") as tmp:
        bench = Bench(Path(tmp), args.warmup, args.window, args.interval, args.delay_every, pin,
                      args.scrape_interval)
        try:
            bench.start_targets(args.delay_ms)
            rates = [float(x) for x in args.rates.split(",") if x and x != "none"]
            failed: set[str] = set()
            step = 0
            while rates:
                rate = rates.pop(0)
                tools = ["blackbox", *(name for name, _, _ in variants)]
                if step % 2:
                    tools.reverse()  # alternate who goes first, against drift in machine load
                for tool in tools:
                    if tool in failed:
                        continue
                    run_id = f"r{step}-{tool}"
                    if tool == "blackbox":
                        r = bench.run_blackbox(rate, run_id, args.concurrency)
                    else:
                        _, uv, root = next(v for v in variants if v[0] == tool)
                        r = bench.run_dozor(rate, run_id, uv, root=root)
                    results.append(r)
                    print(json.dumps(r), file=sys.stderr, flush=True)
                    if not r["sustained"]:
                        failed.add(tool)
                step += 1
                if not rates and args.find_max and len(failed) < len(tools):
                    nxt = rate * 1.5 if rate >= 1000 else rate + 500
                    if nxt <= args.max_rate:
                        rates.append(round(nxt))
            if args.ten_k:
                saved = bench.warmup, bench.window
                bench.warmup, bench.window = 5.0, args.ten_k_window
                for k, (name, uv, root) in enumerate(variants):
                    r = bench.run_dozor(10000 / 60, f"ten-k-{k}", uv, services=10000,
                                        interval=60.0, root=root)
                    r["tool"] = name.replace("dozor", "dozor-10k")
                    results.append(r)
                    print(json.dumps(r), file=sys.stderr, flush=True)
                bench.warmup, bench.window = saved
        finally:
            delays = bench.close()
        add_errors(results, bench.pending_errors, delays)
    info = machine()
    by_tool_rss = {(r["tool"], r["services"]): r["rss_mb"] for r in results}
    rss_1k, rss_10k = by_tool_rss.get(("dozor", 1000)), by_tool_rss.get(("dozor", 10000))
    report = {
        "started": started.isoformat(timespec="seconds"), "machine": info,
        "loadavg_start_end": [list(os.getloadavg())],
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "pinned_to_one_core": pin, "results": results, "cpu_ratios": ratios(results),
        "dozor_rss_mb_per_1000_services": (round((rss_10k - rss_1k) / 9, 1)
                                           if rss_1k and rss_10k else None),
    }
    out = args.out or BENCH / "results" / f"{started:%Y-%m-%d}-{info['host']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(table(results))
    print(json.dumps(report["cpu_ratios"]))
    print(f"RSS per 1,000 Dozor services: {report['dozor_rss_mb_per_1000_services']} MB")
    print(f"written to {out}")


def machine_mode(args: argparse.Namespace) -> None:
    """Both tools on the whole machine: find each one's maximum sustained rate (raising
    ``--rates``' last by a quarter until it fails), then, in overload mode, offer each twice
    its own maximum."""
    started = dt.datetime.now(dt.UTC)
    results: list[dict[str, Any]] = []
    best: dict[str, float] = {}
    overload: list[dict[str, Any]] = []
    tools = ["blackbox", f"dozor --workers {args.workers}"]
    with tempfile.TemporaryDirectory(prefix="dozor-vs-bb-machine-") as tmp:
        bench = Bench(Path(tmp), args.warmup, args.window, args.interval, args.delay_every,
                      False, args.scrape_interval)

        def one(tool: str, rate: float, run_id: str) -> dict[str, Any]:
            if tool == "blackbox":
                r = bench.run_blackbox(rate, run_id, args.concurrency)
            else:
                r = machine_run.run(bench, rate, run_id, args.workers, cpu_seconds, rss_mb,
                                    free_port, wait_http, stop)
            print(json.dumps(r), file=sys.stderr, flush=True)
            return r

        try:
            bench.start_targets(args.delay_ms)
            rates = [float(x) for x in args.rates.split(",") if x]
            failed: set[str] = set()
            step = 0
            while rates:
                rate = rates.pop(0)
                order = tools if step % 2 == 0 else tools[::-1]
                for tool in order:
                    if tool in failed:
                        continue
                    r = one(tool, rate, f"m{step}-{tool.split()[0]}")
                    results.append(r)
                    if r["sustained"]:
                        best[tool] = max(best.get(tool, 0.0), r["achieved_per_s"])
                    else:
                        failed.add(tool)
                step += 1
                if not rates and len(failed) < len(tools):
                    nxt = round(rate * 1.25)
                    if nxt <= args.max_rate:
                        rates.append(nxt)
            if args.mode == "overload":
                for k, tool in enumerate(tools):
                    if tool not in best:
                        continue
                    r = one(tool, 2 * best[tool], f"o{k}-{tool.split()[0]}")
                    r["max_sustained_per_s"] = best[tool]
                    r["completed_vs_max_sustained"] = round(r["achieved_per_s"] / best[tool], 3)
                    overload.append(r)
        finally:
            delays = bench.close()
        add_errors(results + overload, bench.pending_errors, delays)
    info = machine()
    ratio = (round(best[tools[1]] / best["blackbox"], 2)
             if best.get("blackbox") and best.get(tools[1]) else None)
    report = {
        "started": started.isoformat(timespec="seconds"), "machine": info,
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "pinned_to_one_core": False, "results": results, "overload": overload,
        "max_sustained_per_s": best, "dozor_vs_blackbox_max_sustained": ratio,
    }
    out = args.out or BENCH / "results" / f"{started:%Y-%m-%d}-{info['host']}-{args.mode}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(table(results + overload))
    print(f"maximum sustained per machine: {best}; Dozor / blackbox: {ratio}")
    for r in overload:
        print(f"overload {r['tool']}: offered {r['rate']:g}/s, completed {r['achieved_per_s']}"
              f"/s = {r['completed_vs_max_sustained']:.0%} of its maximum sustained, lag p99 "
              f"{r['lag_p99_ms']} ms, skipped/s {r.get('skipped_per_s')}")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
