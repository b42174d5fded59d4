"""How long /metrics takes to render with N services (issue 6 target: 10,000 in < 500 ms).

Builds the daemon's real ``Metrics`` from a generated N-service catalog (info and objective
metrics via ``describe_catalog``), records one run per probe (every 20th a failure, all with
phases and a confirmed state, as after the first minute of a real daemon), then times
``Metrics.render()``, the call /metrics makes, and prints the median (``--generic`` times
prometheus_client's ``generate_latest`` over the same registry instead, for comparison).

    python bench/metrics_render.py                  # 10,000 services, 5 renders
    python bench/metrics_render.py --services 1000,10000 --repeat 9 --promtool
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import generate_latest

from harness.catalog_factory import catalog_dict, write_catalog
from monitor.catalog import load_catalog
from monitor.serving.metrics import Metrics
from probes import Phase, ProbeResult, Reason


def filled_metrics(services: int, tmp: Path) -> Metrics:
    catalog = load_catalog(write_catalog(tmp / "render.yaml", catalog_dict(
        [f"http://127.0.0.1:9/s{i}" for i in range(services)])))
    metrics = Metrics("bench", "0+bench")
    metrics.describe_catalog(catalog)
    now = time.time()
    phases = {Phase.CONNECT: 0.0002, Phase.PROCESSING: 0.0101, Phase.TRANSFER: 0.0001}
    for i, service in enumerate(catalog.services):
        series = metrics.series(service.id, service.probes[0].name)
        failed = i % 20 == 0
        result = (ProbeResult.fail(Reason.HTTP_STATUS, "status 503", phases) if failed
                  else ProbeResult.ok(phases))
        series.attempt(not failed)
        series.observe(result, 0.0105 + i * 1e-6, "business", now)
        series.set_up(not failed)
    return metrics


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--services", default="10000")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--promtool", action="store_true", help="also run promtool check metrics")
    p.add_argument("--generic", action="store_true", help="time generate_latest(registry)")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.services.split(",")):
            metrics = filled_metrics(n, Path(tmp))
            times, body = [], b""
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                body = (generate_latest(metrics.registry) if args.generic
                        else metrics.render())
                times.append(time.perf_counter() - t0)
            row = {"services": n, "path": "generate_latest" if args.generic else "render",
                   "render_ms_median": round(statistics.median(times) * 1000, 1),
                   "render_ms_min": round(min(times) * 1000, 1),
                   "bytes": len(body), "samples": body.count(b"\n") - body.count(b"\n#"),
                   "loadavg_1m": round(os.getloadavg()[0], 2)}
            if args.promtool and shutil.which("promtool"):
                check = subprocess.run(["promtool", "check", "metrics"], input=body,
                                       capture_output=True, timeout=120, check=False)
                row["promtool"] = (check.stdout + check.stderr).decode().strip() or "clean"
            rows.append(row)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
