"""Startup time and memory per service (issue 15: ≤ 8 KB per service with one HTTP probe,
< 100 MB RSS at 10,000; startup of 10,000 < 1.5 s, 20,000 < 3 s).

For each size, a generated catalog (one HTTP probe per service, ``harness.catalog_factory``)
is started by the real ``Daemon`` the way ``Daemon.start`` does it, minus the listener and
kind runtimes: ``load_catalog`` (read, YAML, validate, cross-check), ``Daemon._apply``
(shard, buckets, info metrics, ``plan_jobs``, ``ProbeScheduler.apply``, maintenance, gc) and
``ProbeScheduler.start`` (APScheduler computes every job's first run). No probe runs: the
figures are taken before the event loop gets a turn. Each run is a fresh process, so RSS
counts only that size; figures are medians of ``--repeat`` runs.

Printed per size: wall seconds of each step (load+validate, plan, scheduler apply with
APScheduler's start, the rest of ``_apply``), the whole start's CPU seconds (steadier on a
shared machine), RSS after startup, RSS of a process that has imported everything and built
the daemon (``rss_base``), and the growth per service; and, in a separate run under
tracemalloc (slower, so not timed), the bytes still allocated after startup per service,
the peak during it and the top allocation sites.

    python bench/memory.py                           # 1k, 10k, 20k; 3 timed runs each
    python bench/memory.py --services 10000 --repeat 1 --top 8
    python bench/memory.py --json bench/results/memory.json
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.catalog_factory import catalog_dict, write_catalog
from harness.vitals import rss_bytes

KB = 1024
MiB = 1024 * 1024


class _Clock:
    """Wall and CPU seconds per named step."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        w, c = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - w
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - c

    def timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.step(name):
                return fn(*args, **kwargs)
        return wrapper


async def _start(config: Path, trace: bool, top: int) -> dict[str, Any]:
    from monitor.catalog import load_catalog
    from monitor.runtime import daemon as daemon_module
    from monitor.runtime.daemon import Daemon, DaemonOptions

    d = Daemon(DaemonOptions(config=config, port=0))
    gc.collect()
    rss0 = rss_bytes()
    if trace:
        tracemalloc.start(1)
    traced0 = tracemalloc.get_traced_memory()[0] if trace else 0
    clock = _Clock()
    # The steps _apply runs, timed where they are called from, so the real path runs.
    daemon_module.plan_jobs = clock.timed("plan", daemon_module.plan_jobs)  # type: ignore[attr-defined]
    d.scheduler.apply = clock.timed("scheduler_apply", d.scheduler.apply)  # type: ignore[method-assign]
    with clock.step("load_validate"):
        catalog = load_catalog(config, env={})
    with clock.step("apply_total"):
        d._apply(catalog)
    with clock.step("aps_start"):
        d.scheduler.start()
    gc.collect()
    n = len(catalog.services)
    out: dict[str, Any] = {"services": n}
    if trace:
        snapshot = tracemalloc.take_snapshot()
        traced, peak = (v - traced0 for v in tracemalloc.get_traced_memory())
        tracemalloc.stop()
        out["traced_mib"] = round(traced / MiB, 1)
        out["traced_peak_mib"] = round(peak / MiB, 1)  # the most held at once during startup
        out["traced_kb_per_service"] = round(traced / n / KB, 2)
        out["top"] = [
            f"{stat.size / MiB:7.1f} MiB {stat.count:8d} blocks  "
            f"{stat.traceback[0].filename.split('site-packages/')[-1].split('h-mem/')[-1]}"
            f":{stat.traceback[0].lineno}"
            for stat in snapshot.statistics("lineno")[:top]]
    else:
        wall, cpu = clock.wall, clock.cpu
        rest = wall["apply_total"] - wall["plan"] - wall["scheduler_apply"]
        out.update({
            "load_validate_s": wall["load_validate"], "plan_s": wall["plan"],
            "scheduler_apply_s": wall["scheduler_apply"] + wall["aps_start"],
            "apply_rest_s": rest,
            "startup_s": wall["load_validate"] + wall["apply_total"] + wall["aps_start"],
            "startup_cpu_s": cpu["load_validate"] + cpu["apply_total"] + cpu["aps_start"],
            "rss_mib": rss_bytes() / MiB,
            "rss_base_mib": rss0 / MiB,  # imports and an empty daemon: not per service
            "rss_kb_per_service": (rss_bytes() - rss0) / n / KB,
        })
    d.scheduler._aps.shutdown(wait=False)
    await d._http.close()
    return out


def _child(config: str, trace: bool, top: int) -> None:
    print(json.dumps(asyncio.run(_start(Path(config), trace, top))))


def _run(config: Path, trace: bool, top: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(config), *(["--trace"] if trace else []),
         "--top", str(top)], check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--services", default="1000,10000,20000")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per size (median)")
    p.add_argument("--top", type=int, default=8, help="tracemalloc top allocation sites")
    p.add_argument("--no-trace", action="store_true", help="skip the tracemalloc run")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args.child, args.trace, args.top)
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.services.split(",")):
            config = write_catalog(Path(tmp) / f"catalog-{n}.yaml", catalog_dict(
                [f"http://127.0.0.1:9/s{i}" for i in range(n)]))
            runs = [_run(config, False, args.top) for _ in range(args.repeat)]
            row: dict[str, Any] = {"services": n}
            for key in runs[0]:
                if key != "services":
                    row[key] = round(statistics.median(r[key] for r in runs), 3)
            if not args.no_trace:
                traced = _run(config, True, args.top)
                row.update({k: v for k, v in traced.items() if k != "top"})
                row["top"] = traced["top"]
            row["loadavg_1m"] = round(os.getloadavg()[0], 2)
            results.append(row)
            top_lines = row.pop("top", [])
            print(json.dumps(row), flush=True)
            for line in top_lines:
                print("   ", line, flush=True)
            row["top"] = top_lines
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
