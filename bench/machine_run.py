"""Dozor as shipped, on the whole machine: ``dozor run --workers auto`` (the supervisor and
its worker processes, unpinned), for bench/vs_blackbox.py's per-machine and overload modes.

No bench hook is inside the workers, so every figure comes from outside: CPU is utime+stime
of the process tree (supervisor + workers, /proc), RSS the tree's sum, and the run counts,
scheduler lag and skipped runs come from two scrapes of the merged ``/metrics`` bracketing
the window (``dozor_probes_total``, ``dozor_scheduler_lag_seconds`` buckets summed over the
workers, ``dozor_scheduler_skipped_runs_total`` by reason). Lag quantiles are interpolated
inside the histogram's buckets as Prometheus' histogram_quantile does (edges 0.5 ms .. 10 s),
so they are coarser than per-core mode's per-run figures; per-run latency error is measured
in per-core mode only.
"""

from __future__ import annotations

import math
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

PROBES = "dozor_probes_total"
LAG = "dozor_scheduler_lag_seconds"
SKIPPED = "dozor_scheduler_skipped_runs_total"


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            continue
    return found


def tree_sum(pid: int, read: Any) -> float:
    """``read(pid)`` (CPU seconds, RSS MB) summed over the tree; a process gone meanwhile
    counts nothing."""
    total = 0.0
    for p in tree(pid):
        try:
            total += read(p)
        except OSError:
            continue
    return total


def snapshot(url: str, context: ssl.SSLContext | None = None,
             headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run counts, lag buckets and skipped runs by reason, summed over services and workers.
    ``context`` and ``headers``: for an https ``/metrics`` behind basic auth (bench/auth_flood.py);
    ``took`` is how long the scrape took."""
    before = time.time()
    request = urllib.request.Request(url, headers=dict(headers or {}))
    with urllib.request.urlopen(request, timeout=120, context=context) as response:
        text = response.read().decode()
    after = time.time()
    at = (before + after) / 2  # the counters are read while the body is rendered
    runs = failures = 0.0
    buckets: dict[float, float] = defaultdict(float)
    skipped: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == PROBES:
                runs += s.value
                if s.labels.get("result") == "failure":
                    failures += s.value
            elif s.name == LAG + "_bucket":
                buckets[float(s.labels["le"])] += s.value
            elif s.name == SKIPPED:
                skipped[s.labels.get("reason", "overlap")] += s.value
    return {"at": at, "runs": runs, "failures": failures, "buckets": dict(buckets),
            "skipped": dict(skipped), "took": after - before}


def scrape_until(url: str, end: float, every: float) -> list[float]:
    """GET ``url`` every ``every`` seconds (0: never) until ``end`` (wall clock), as
    Prometheus would; returns when ``end`` comes, with each scrape's duration."""
    took: list[float] = []
    while every and time.time() < end:
        s0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=120) as response:
            response.read()
        took.append(time.perf_counter() - s0)
        time.sleep(max(0.0, min(every - (time.perf_counter() - s0), end - time.time())))
    time.sleep(max(0.0, end - time.time()))
    return took


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    edges = sorted(buckets)
    if not edges or buckets[edges[-1]] <= 0:
        return None
    rank = q * buckets[edges[-1]]
    lower, below = 0.0, 0.0
    for edge in edges:
        count = buckets[edge]
        if count >= rank:
            if math.isinf(edge):
                return lower
            return lower + (edge - lower) * ((rank - below) / (count - below or 1))
        lower, below = edge, count
    return lower


def lag_quantiles(first: dict[str, Any], last: dict[str, Any]
                  ) -> tuple[float | None, float | None]:
    """Lag p50 and p99 (seconds) of the runs started between two snapshots: the
    histogram's bucket deltas."""
    lag = {edge: last["buckets"].get(edge, 0.0) - first["buckets"].get(edge, 0.0)
           for edge in last["buckets"]}
    return histogram_quantile(0.5, lag), histogram_quantile(0.99, lag)


def skipped_between(first: dict[str, Any], last: dict[str, Any]) -> dict[str, float]:
    """Runs not started between two snapshots, by reason."""
    return {reason: last["skipped"].get(reason, 0.0) - first["skipped"].get(reason, 0.0)
            for reason in last["skipped"]}


def run(bench: Any, rate: float, run_id: str, workers: str, cpu_seconds: Any,
        rss_mb: Any, free_port: Any, wait_http: Any, stop: Any) -> dict[str, Any]:
    """One window of ``dozor run --workers`` at ``rate``; the same summary as per-core runs,
    plus skipped runs by reason and the completed rate."""
    from harness.catalog_factory import catalog_dict, write_catalog  # bench puts ROOT first

    n = round(rate * bench.interval)
    urls = [(f"{bench.delay}/d/{run_id}/s{i}" if bench.delay_every
             and i % bench.delay_every == 0 else f"{bench.page}s{i}") for i in range(n)]
    config = write_catalog(bench.tmp / f"{run_id}.yaml", catalog_dict(
        urls, interval=f"{bench.interval:g}s", timeout="5s"))
    port = free_port()
    log = (bench.tmp / f"{run_id}.log").open("w")
    root = Path(__file__).resolve().parent.parent
    loaded = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--log-level", "warning", "run", "--config",
         str(config), "--listen", f"127.0.0.1:{port}", "--workers", workers],
        cwd=root, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 300)
        startup = time.monotonic() - loaded
        time.sleep(bench.warmup)
        first = snapshot(url)
        cpu0, t0 = tree_sum(proc.pid, cpu_seconds), time.time()
        end = t0 + bench.window
        scrapes = scrape_until(url, end, bench.scrape_interval)  # Prometheus' cost, as per core
        cpu1, t1 = tree_sum(proc.pid, cpu_seconds), time.time()
        rss = tree_sum(proc.pid, rss_mb)
        last = snapshot(url)
        processes = len(tree(proc.pid))
        load = os.getloadavg()
        stop(proc, signal.SIGTERM)
    finally:
        stop(proc, signal.SIGKILL)
        log.close()
    seconds = last["at"] - first["at"]
    probes = last["runs"] - first["runs"]
    lag_p50, lag_p99 = lag_quantiles(first, last)
    skipped = skipped_between(first, last)
    achieved = probes / seconds
    return {
        "run": run_id, "tool": f"dozor --workers {workers}", "rate": rate, "services": n,
        "interval_s": bench.interval, "window_s": round(seconds, 2),
        "achieved_per_s": round(achieved, 1), "probes": round(probes),
        "failures": round(last["failures"] - first["failures"]),
        "cpu_s": round(cpu1 - cpu0, 3),
        # CPU over its window per run over the scrapes' window: both are rates.
        "cpu_us_per_probe": (round((cpu1 - cpu0) / (t1 - t0) / achieved * 1e6, 1)
                             if probes else None),
        "cpu_share_of_core": round((cpu1 - cpu0) / (t1 - t0), 3),
        "rss_mb": round(rss, 1), "startup_s": round(startup, 2), "processes": processes,
        "lag_p50_ms": None if lag_p50 is None else round(lag_p50 * 1000, 3),
        "lag_p99_ms": None if lag_p99 is None else round(lag_p99 * 1000, 3),
        "skipped_per_s": {r: round(v / seconds, 1) for r, v in skipped.items()},
        "sustained": achieved >= 0.95 * rate and (lag_p99 or 0) <= 0.1,
        "loadavg": [round(x, 2) for x in load], "scrapes": len(scrapes),
        "scrape_s_max": round(max(scrapes), 3) if scrapes else None,
        "latency_error_p50_ms": None, "latency_error_p99_ms": None,
    }
