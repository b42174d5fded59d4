"""The status page at scale: render time of each page kind from a snapshot of N services
(cold: the first visitor after a refresh), and answer latency over real HTTP once cached,
against the stylesheet (no render at all) served by the same server in the same run.

    .venv/bin/python bench/status_bench.py [--services 1000] [--requests 200]

Prints a table and writes bench/results/status.json. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from aiohttp import web

from harness.stack import free_port
from harness.tools import print_table
from monitor.report.model import Outage, Part, RegionRank, ServiceFacts, ServiceReport
from monitor.status.server import Site, SiteSettings
from monitor.status.snapshot import Day, Directory, LifeSituation, Now, Snapshot, Window

REGIONS = 85
SITUATIONS = 50


@dataclass
class Fixed:
    snapshot: Snapshot
    refreshes: int = 1
    queries: int = 0


def snapshot(n: int, now: float) -> Snapshot:
    facts, reports, days, state = {}, {}, {}, {}
    today = dt.date.fromtimestamp(now)
    for i in range(n):
        sid = f"svc-{i:05d}"
        region = f"RU-R{i % REGIONS:02d}"
        facts[sid] = ServiceFacts(sid, f"Услуга номер {i}", region, f"Регион {i % REGIONS}",
                                  "Europe/Moscow", "c", "Иванова А. П.", "regional",
                                  "Министерство", i % 3 == 0)
        value = 0.999 if i % 10 else 0.97
        reports[sid] = ServiceReport(
            facts=facts[sid], parts=(Part("availability", value, 0.995),
                                     Part("offhours_availability", value, 0.995),
                                     Part("max_outage", 600.0 if i % 10 else 7200.0, 3600.0),
                                     Part("latency_p95", 0.4, 2.0)),
            maintenance_counts=True, events=8640.0, failures=8640 * (1 - value),
            availability_counted=value, availability_excluded=value, coverage=1.0,
            business_availability=value,
            outages=[Outage(sid, now - k * 86400, now - k * 86400 + 600, False)
                     for k in range(1, 4)])
        days[sid] = tuple(Day(today - dt.timedelta(days=89 - k), (288.0, 288 * (1 - value)),
                              (288.0, 288 * (1 - value))) for k in range(90))
        state[sid] = Now(down=i % 50 == 0, outage_seconds=300.0 if i % 50 == 0 else 0.0,
                         maintenance=i % 97 == 0)
    situations = {f"ls-{k}": LifeSituation(f"ls-{k}", f"Ситуация {k}",
                                           tuple(f"svc-{j:05d}" for j in range(k, n, SITUATIONS)))
                  for k in range(SITUATIONS)}
    regions = tuple(RegionRank(f"RU-R{k:02d}", f"Регион {k}", 4, 3) for k in range(REGIONS))
    return Snapshot(version=1, directory=Directory(facts, situations), now=state, now_at=now,
                    window=Window(now - 30 * 86400, now, reports, regions), window_at=now,
                    days=days)


async def _latency(session: aiohttp.ClientSession, url: str, count: int) -> list[float]:
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        async with session.get(url) as r:
            await r.read()
            assert r.status == 200, (url, r.status)
        out.append(time.perf_counter() - t0)
    return out


async def run(n: int, requests: int) -> dict[str, object]:
    now = time.time()
    t0 = time.perf_counter()
    snap = snapshot(n, now)
    built = time.perf_counter() - t0
    site = Site(Fixed(snap), SiteSettings(public_url="http://127.0.0.1", rate=0))
    runner = web.AppRunner(site.app(), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    pages = {"home": "/", "all services": "/services", "service": "/services/svc-00010",
             "region": "/regions/RU-R07", "life situation": "/life-situations/ls-3",
             "feed": "/feed.atom", "api summary": "/api/v1/summary",
             "api service": "/api/v1/services/svc-00010", "badge": "/badge/svc-00010/state.svg",
             "stylesheet (peer)": "/static/style.css"}
    results: dict[str, dict[str, float]] = {}
    async with aiohttp.ClientSession() as session:
        for name, path in pages.items():
            cold = (await _latency(session, base + path, 1))[0]
            warm = await _latency(session, base + path, requests)
            results[name] = {"cold_ms": cold * 1000,
                             "p50_ms": statistics.median(warm) * 1000,
                             "p99_ms": sorted(warm)[int(len(warm) * 0.99) - 1] * 1000}
    await runner.cleanup()
    peer = results["stylesheet (peer)"]["p50_ms"]
    rows = [(name, f"{r['cold_ms']:.1f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}",
             f"{r['p50_ms'] / peer:.2f}") for name, r in results.items()]
    print(f"{n} services; snapshot built in {built:.2f} s; {requests} cached requests per page")
    print_table(("page", "first (render) ms", "cached p50 ms", "cached p99 ms",
                 "p50 / stylesheet"), rows)
    return {"services": n, "requests": requests, "snapshot_build_s": built, "pages": results}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--requests", type=int, default=200)
    args = p.parse_args()
    out = asyncio.run(run(args.services, args.requests))
    path = Path(__file__).parent / "results" / "status.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
