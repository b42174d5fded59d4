"""Scheduler and per-probe overhead benchmark (not a test).

Runs the real daemon in-process with N synthetic services, each one HTTP probe against a
local target served by a separate process (so its CPU is not counted), and prints probes/s,
CPU microseconds per probe (this process: scheduler + probe + recording) and scheduler lag
p50/p99 (interpolated from dozor_scheduler_lag_seconds).

    python bench/scheduler_bench.py                      # 1,000 and 10,000 services, 60 s
    python bench/scheduler_bench.py --services 1000 --interval 10 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.catalog_factory import catalog_dict, write_catalog
from harness.stack import free_port
from harness.vitals import histogram, quantile, since
from monitor.runtime.daemon import Daemon, DaemonOptions
from monitor.runtime.logs import configure_logging

TARGET = """
import sys
from aiohttp import web
async def ok(request):
    return web.Response(text="Запись открыта")
app = web.Application()
app.router.add_get("/{tail:.*}", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""
LAG = "dozor_scheduler_lag_seconds"


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _probes_done(daemon: Daemon) -> float:
    return sum(s.value for s in daemon.metrics.probes_total.metric().samples)


async def run_case(services: int, interval: int, duration: float, url: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = write_catalog(Path(tmp) / "bench.yaml", catalog_dict(
            [f"{url}/s{i}" for i in range(services)], interval=f"{interval}s", timeout="5s"))
        daemon = Daemon(DaemonOptions(config=cfg, port=0, location="bench"))
        t0 = time.perf_counter()
        await daemon.start()
        startup = time.perf_counter() - t0
        # Let one full interval pass so every job has fired once, then measure.
        await asyncio.sleep(min(interval, 10))
        lag0 = histogram(daemon.metrics.scheduler_lag, LAG)
        done0, cpu0, wall0 = _probes_done(daemon), _cpu(), time.perf_counter()
        await asyncio.sleep(duration)
        done1, cpu1, wall1 = _probes_done(daemon), _cpu(), time.perf_counter()
        lag1 = histogram(daemon.metrics.scheduler_lag, LAG)
        await daemon.stop()
    lag = since(lag1, lag0)
    probes = done1 - done0
    return {
        "services": services,
        "interval_s": interval,
        "startup_s": startup,
        "probes": probes,
        "probes_per_s": probes / (wall1 - wall0),
        "cpu_us_per_probe": (cpu1 - cpu0) / max(probes, 1) * 1e6,
        "lag_p50_ms": quantile(lag, 0.5) * 1000,
        "lag_p99_ms": quantile(lag, 0.99) * 1000,
    }


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--services", default="1000,10000")
    p.add_argument("--interval", type=int, default=60)
    p.add_argument("--duration", type=float, default=60.0)
    args = p.parse_args()
    configure_logging("error", json=True)
    port = free_port()
    target = subprocess.Popen([sys.executable, "-c", TARGET, str(port)])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, target pid {target.pid}")
        print(f"{'services':>9} {'interval':>8} {'probes/s':>9} {'CPU µs/probe':>13} "
              f"{'lag p50 ms':>11} {'lag p99 ms':>11} {'startup s':>10}")
        for n in (int(x) for x in args.services.split(",")):
            r = await run_case(n, args.interval, args.duration, f"http://127.0.0.1:{port}")
            print(f"{n:>9} {args.interval:>7}s {r['probes_per_s']:>9.1f} "
                  f"{r['cpu_us_per_probe']:>13.0f} {r['lag_p50_ms']:>11.2f} "
                  f"{r['lag_p99_ms']:>11.2f} {r['startup_s']:>10.2f}", flush=True)
    finally:
        target.terminate()
        target.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
