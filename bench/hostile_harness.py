"""Hostile-endpoint harness (not a test): tests/test_hostile_endpoints.py at benchmark scale.

Runs the real daemon in-process with N HTTP probes against the hostile zoo (its own process:
hang after accept, hang after headers, trickle, 50 MB bodies, resets, healthy) and prints
scheduler lag p50/p99, timeout accuracy (lateness of every timed-out run's caller-measured
duration against its timeout, from the per-run debug lines; and of direct run_probe calls
against the hanging endpoints made under the same load), skipped runs, body_too_large cuts,
and RSS and open descriptors before, during (peak) and after. These are the timing figures
tests/test_hostile_endpoints.py no longer asserts.

    python bench/hostile_harness.py                        # 1,000 probes, 2 s / 1 s, 30 s
    python bench/hostile_harness.py --probes 2000 --hang 0.4 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import structlog
from structlog.testing import capture_logs

from harness.catalog_factory import catalog_dict, write_catalog
from harness.hostile_zoo import Behaviour, ZooProcess, zoo_process
from harness.vitals import (
    counter,
    failures_by_reason,
    histogram,
    open_fds,
    quantile,
    rss_bytes,
    runs_by_service,
    since,
)
from monitor.runtime.daemon import Daemon, DaemonOptions
from probes import PROBES, HttpSpec, ProbeContext, Reason, new_http_session, run_probe

MiB = 1024 * 1024


def hostile_plan(probes: int, hang: float, trickle: float, huge: float, reset: float
                 ) -> list[Behaviour]:
    """Behaviours for ``probes`` probes in the given shares (the rest healthy), interleaved so
    every stretch of the schedule sees the same mix. Hangs split between after-accept and
    after-headers, huge bodies between undeclared and declared length."""
    shares = [
        (Behaviour.HANG_ACCEPT, hang / 2), (Behaviour.HANG_HEADERS, hang / 2),
        (Behaviour.TRICKLE, trickle), (Behaviour.HUGE, huge / 2),
        (Behaviour.HUGE_DECLARED, huge / 2), (Behaviour.RESET, reset),
    ]
    out = []
    for i in range(probes):
        # A golden-ratio sequence: counts match the shares to ±1 and each kind is spread out.
        position = (i * 0.6180339887) % 1.0
        for behaviour, share in shares:
            if position < share:
                out.append(behaviour)
                break
            position -= share
        else:
            out.append(Behaviour.HEALTHY)
    return out


@dataclass
class Observed:
    """What a run of the daemon against the zoo showed; figures are filled in as it goes."""

    rss: dict[str, int] = field(default_factory=dict)
    fds: dict[str, int] = field(default_factory=dict)
    lag_p50: float = float("nan")
    lag_p99: float = float("nan")
    timeout_errors: list[float] = field(default_factory=list)
    direct_errors: list[float] = field(default_factory=list)
    skipped: float = 0.0
    shed: float = 0.0
    runs: float = 0.0
    seconds: float = 0.0
    body_too_large: float = 0.0
    cut_at_most: int = 0


async def run_daemon(zoo: ZooProcess, plan: list[Behaviour], interval: float, timeout: float,
                     warmup: float, duration: float) -> Observed:
    obs = Observed()
    urls = [zoo.url(b, f"/p{i}") for i, b in enumerate(plan)]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = write_catalog(Path(tmp) / "hostile.yaml", catalog_dict(
            urls, interval=f"{int(interval * 1000)}ms", timeout=f"{int(timeout * 1000)}ms"))
        gc.collect()
        obs.rss["before"], obs.fds["before"] = rss_bytes(), open_fds()
        daemon = Daemon(DaemonOptions(config=cfg, port=0, location="bench", grace=2.0))
        with capture_logs() as logs:
            await daemon.start()
            try:
                await asyncio.sleep(warmup)
                registry = daemon.metrics.registry
                lag0 = histogram(registry, "dozor_scheduler_lag_seconds")
                runs0, t0 = sum(runs_by_service(registry).values()), time.monotonic()
                del logs[:]  # count timeouts in the measured stretch only
                direct = asyncio.create_task(direct_timeouts(zoo))
                peak_rss, peak_fds = 0, 0
                while time.monotonic() - t0 < duration:
                    await asyncio.sleep(1.0)
                    peak_rss, peak_fds = max(peak_rss, rss_bytes()), max(peak_fds, open_fds())
                obs.direct_errors = await direct
                lag = since(histogram(registry, "dozor_scheduler_lag_seconds"), lag0)
                obs.runs = sum(runs_by_service(registry).values()) - runs0
                obs.seconds = time.monotonic() - t0
            finally:
                await daemon.stop()
        obs.rss["during"], obs.fds["during"] = peak_rss, peak_fds
        obs.timeout_errors = [e["duration"] - timeout for e in logs
                              if e.get("event") == "probe run" and e.get("reason") == "timeout"]
    obs.lag_p50, obs.lag_p99 = quantile(lag, 0.5), quantile(lag, 0.99)
    obs.skipped = counter(daemon.metrics.registry, "dozor_scheduler_skipped_runs_total",
                          reason="overlap")
    obs.shed = counter(daemon.metrics.registry, "dozor_scheduler_skipped_runs_total",
                       reason="overload")
    obs.body_too_large = sum(r.get("body_too_large", 0.0)
                             for r in failures_by_reason(daemon.metrics.registry).values())
    stats = zoo.stats()
    obs.cut_at_most = max(stats[Behaviour.HUGE].max_bytes_sent,
                          stats[Behaviour.HUGE_DECLARED].max_bytes_sent)
    await asyncio.sleep(0.5)  # closed transports deliver connection_lost
    gc.collect()
    obs.rss["after"], obs.fds["after"] = rss_bytes(), open_fds()
    return obs


async def direct_timeouts(zoo: ZooProcess) -> list[float]:
    """run_probe straight against the hanging endpoints with the real session, while the
    daemon is busy (as the test does): how late each came back, seconds past its timeout."""
    session = new_http_session(user_agent="Dozor-bench")
    ctx = ProbeContext(http=session, log=structlog.get_logger("bench"), user_agent="Dozor-bench")

    async def one(b: Behaviour, limit: float) -> float:
        started = time.perf_counter()
        result, _ = await run_probe(PROBES[HttpSpec], HttpSpec(url=zoo.url(b, "/direct")), ctx,
                                    limit)
        took = time.perf_counter() - started
        assert result.reason is Reason.TIMEOUT, result
        return took - limit

    hanging = (Behaviour.HANG_ACCEPT, Behaviour.HANG_HEADERS, Behaviour.TRICKLE)
    try:
        await asyncio.sleep(2.0)
        cases = [(b, limit) for b in hanging for limit in (0.5, 0.75, 1.0)] * 3
        return list(await asyncio.gather(*(one(b, limit) for b, limit in cases)))
    finally:
        await session.close()


def _lateness(name: str, errors: list[float]) -> str:
    late = sorted(errors)
    p99 = late[min(len(late) - 1, int(len(late) * 0.99))]
    return (f"{name}: {len(late)} runs, lateness min {late[0] * 1000:+.2f} ms, p50 "
            f"{statistics.median(late) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, max "
            f"{late[-1] * 1000:.2f} ms (late by > 50 ms: {sum(e > 0.05 for e in late)})")


def report(args: argparse.Namespace, plan: list[Behaviour], obs: Observed) -> Iterator[str]:
    mix = ", ".join(f"{b.value} {plan.count(b)}" for b in Behaviour if plan.count(b))
    yield f"{len(plan)} probes ({mix}); interval {args.interval:g}s, timeout {args.timeout:g}s"
    yield f"runs: {obs.runs:.0f} in {obs.seconds:.1f}s = {obs.runs / obs.seconds:.1f} probes/s"
    yield f"scheduler lag: p50 {obs.lag_p50 * 1000:.2f} ms, p99 {obs.lag_p99 * 1000:.2f} ms"
    yield f"skipped runs (previous run still going): {obs.skipped:.0f}"
    yield f"shed runs (overload: too late to start): {obs.shed:.0f}"
    if obs.timeout_errors:
        yield _lateness("timeouts, daemon runs", obs.timeout_errors)
    if obs.direct_errors:
        yield _lateness("timeouts, direct run_probe", obs.direct_errors)
    yield (f"huge bodies: {obs.body_too_large:.0f} runs cut as body_too_large; the zoo wrote at "
           f"most {obs.cut_at_most / MiB:.1f} MiB of a 50 MiB body on one connection")
    yield "RSS MiB / open fds: " + ", ".join(
        f"{k} {obs.rss[k] / MiB:.0f} / {obs.fds[k]}" for k in ("before", "during", "after"))


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--probes", type=int, default=1000)
    p.add_argument("--hang", type=float, default=0.30, help="share that hangs (half after "
                   "accept, half after headers)")
    p.add_argument("--trickle", type=float, default=0.10)
    p.add_argument("--huge", type=float, default=0.10, help="share answering 50 MB bodies")
    p.add_argument("--reset", type=float, default=0.10)
    p.add_argument("--interval", type=float, default=2.0, help="seconds")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    p.add_argument("--duration", type=float, default=30.0, help="seconds measured")
    args = p.parse_args()
    plan = hostile_plan(args.probes, args.hang, args.trickle, args.huge, args.reset)
    with zoo_process() as zoo:
        obs = await run_daemon(zoo, plan, args.interval, args.timeout, args.warmup,
                               args.duration)
    for line in report(args, plan, obs):
        print(line, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
