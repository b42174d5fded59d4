"""Soak run (not a test, not in CI): the real daemon against the hostile zoo for an hour.

At --rate probes/s (probes = rate × interval, mixed as in bench/hostile_harness.py) it prints
one CSV line a minute: RSS, open descriptors, scheduler lag p99 over that minute and probes/s;
at the end, for each, whether it stayed flat (mean of the first quarter of the minutes against
the last quarter). A leak shows as RSS or descriptors creeping up; a scheduler that degrades
as lag or throughput drifting.

    python bench/soak.py                    # 60 minutes at 200 probes/s
    python bench/soak.py --minutes 3
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hostile_harness import hostile_plan  # bench/ is on sys.path when run as a script

from harness.catalog_factory import catalog_dict, write_catalog
from harness.hostile_zoo import zoo_process
from harness.vitals import histogram, open_fds, quantile, rss_bytes, runs_by_service, since
from monitor.runtime.daemon import Daemon, DaemonOptions
from monitor.runtime.logs import configure_logging

MiB = 1024 * 1024


@dataclass(frozen=True)
class Minute:
    minute: int
    rss_mib: float
    fds: int
    lag_p99_ms: float
    probes_per_s: float


@dataclass(frozen=True)
class Flatness:
    """How much a figure may drift from the first quarter to the last and still be flat."""

    name: str
    relative: float  # share of the first-quarter mean
    absolute: float  # plus this much, for figures near zero


CHECKS = [
    Flatness("rss_mib", 0.10, 5.0),
    Flatness("fds", 0.20, 10.0),
    Flatness("lag_p99_ms", 1.0, 20.0),
    Flatness("probes_per_s", 0.10, 0.0),
]


def flat_verdicts(minutes: list[Minute]) -> list[str]:
    quarter = max(1, len(minutes) // 4)
    first, last = minutes[:quarter], minutes[-quarter:]
    lines = []
    for check in CHECKS:
        a = statistics.fmean(getattr(m, check.name) for m in first)
        b = statistics.fmean(getattr(m, check.name) for m in last)
        allowed = abs(a) * check.relative + check.absolute
        verdict = "flat" if abs(b - a) <= allowed else ("GROWING" if b > a else "FALLING")
        lines.append(f"{check.name}: first quarter {a:.2f}, last quarter {b:.2f} "
                     f"(allowed drift ±{allowed:.2f}): {verdict}")
    return lines


async def soak(args: argparse.Namespace) -> list[Minute]:
    probes = round(args.rate * args.interval)
    plan = hostile_plan(probes, args.hang, args.trickle, args.huge, args.reset)
    minutes: list[Minute] = []
    with zoo_process() as zoo, tempfile.TemporaryDirectory() as tmp:
        urls = [zoo.url(b, f"/p{i}") for i, b in enumerate(plan)]
        cfg = write_catalog(Path(tmp) / "soak.yaml", catalog_dict(
            urls, interval=f"{int(args.interval * 1000)}ms",
            timeout=f"{int(args.timeout * 1000)}ms"))
        daemon = Daemon(DaemonOptions(config=cfg, port=0, location="soak", grace=2.0))
        await daemon.start()
        registry = daemon.metrics.registry
        print(f"# {probes} probes every {args.interval:g}s (timeout {args.timeout:g}s) against "
              f"the hostile zoo for {args.minutes} min; RSS {rss_bytes() / MiB:.0f} MiB, "
              f"{open_fds()} fds at start", flush=True)
        print("minute,rss_mib,fds,lag_p99_ms,probes_per_s", flush=True)
        try:
            await asyncio.sleep(args.warmup)  # every job has run; the allocator has settled
            lag0 = histogram(registry, "dozor_scheduler_lag_seconds")
            runs0, t0 = sum(runs_by_service(registry).values()), time.monotonic()
            for minute in range(1, args.minutes + 1):
                await asyncio.sleep(t0 + args.report_every - time.monotonic())
                lag1 = histogram(registry, "dozor_scheduler_lag_seconds")
                runs1, t1 = sum(runs_by_service(registry).values()), time.monotonic()
                m = Minute(minute, rss_bytes() / MiB, open_fds(),
                           quantile(since(lag1, lag0), 0.99) * 1000, (runs1 - runs0) / (t1 - t0))
                minutes.append(m)
                print(f"{m.minute},{m.rss_mib:.1f},{m.fds},{m.lag_p99_ms:.2f},"
                      f"{m.probes_per_s:.1f}", flush=True)
                lag0, runs0, t0 = lag1, runs1, t1
        finally:
            await daemon.stop()
    gc.collect()
    print(f"# after stop: RSS {rss_bytes() / MiB:.0f} MiB, {open_fds()} fds", flush=True)
    return minutes


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=int, default=60)
    p.add_argument("--rate", type=float, default=200.0, help="probes per second")
    p.add_argument("--interval", type=float, default=2.0, help="seconds")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds")
    p.add_argument("--hang", type=float, default=0.30)
    p.add_argument("--trickle", type=float, default=0.10)
    p.add_argument("--huge", type=float, default=0.10)
    p.add_argument("--reset", type=float, default=0.10)
    p.add_argument("--warmup", type=float, default=10.0, help="seconds before the first line")
    p.add_argument("--report-every", type=float, default=60.0, help="seconds per line")
    args = p.parse_args()
    configure_logging("error", json=True)
    minutes = await soak(args)
    for line in flat_verdicts(minutes):
        print(line, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
