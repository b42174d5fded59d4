"""Phase timings and timeout overrun, Dozor vs blackbox_exporter (not a test): the figures
tests/test_vs_blackbox.py used to assert within ±10–40 ms and +250 ms, printed instead.

Same local endpoints as that test (tests/http_zoo.py, tests/dns_zoo.py), probed alternately
by Dozor (``run_probe`` with the real HTTP session, in this process) and by the real
blackbox_exporter (tests/blackbox.py):

- phases: /delay/N (the server waits N ms before its headers), RUNS times each; medians of
  connect, processing, transfer and total, Dozor minus blackbox and Dozor ÷ blackbox;
- timeout overrun: seconds past a 500 ms timeout, for an HTTP hang, an HTTP body trickle,
  a dropped DNS query and a silent TCP server; median and max of each, both tools.

    python bench/blackbox_phases.py                 # 20 runs each, /delay/300
    python bench/blackbox_phases.py --runs 50 --delay-ms 100
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import structlog

from harness.blackbox import Blackbox, version
from harness.dns_zoo import DROP_NAME, DnsZoo
from harness.http_zoo import OK_TEXT, RawZoo, start_zoo
from probes import PROBES, Phase, ProbeContext, Reason, new_http_session, run_probe
from probes.dns import DnsSpec
from probes.http import HttpSpec
from probes.tcp import TcpSpec

PHASES = ("connect", "processing", "transfer")
TIMEOUT = 0.5
UA = "Dozor/bench"


def _modules() -> dict[str, dict[str, Any]]:
    ip4 = {"preferred_ip_protocol": "ip4"}
    budget = f"{round(TIMEOUT * 1000)}ms"
    return {
        "timing": {"prober": "http", "timeout": "5s", "http": ip4},
        "http": {"prober": "http", "timeout": budget, "http": ip4},
        "dns": {"prober": "dns", "timeout": budget,
                "dns": {**ip4, "query_name": DROP_NAME, "query_type": "A"}},
        "tcp": {"prober": "tcp", "timeout": budget,
                "tcp": {**ip4, "query_response": [{"expect": "^220"}]}},
    }


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(
        zip(cells, widths, strict=True)))


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print(_row(row, widths), flush=True)


async def phases(bb: Blackbox, ctx: ProbeContext, url: str, runs: int) -> None:
    spec = HttpSpec.model_validate({"url": url, "expect": {"body_contains": OK_TEXT}})
    ours: dict[str, list[float]] = {name: [] for name in (*PHASES, "total")}
    theirs: dict[str, list[float]] = {name: [] for name in (*PHASES, "total")}
    for _ in range(runs):
        result, took = await run_probe(PROBES[HttpSpec], spec, ctx, 5.0)
        if not result.success:
            raise RuntimeError(f"Dozor failed on {url}: {result.detail}")
        for name in PHASES:
            ours[name].append(result.phases[Phase(name)])
        ours["total"].append(took)
        series = await bb.probe(url, "timing")
        if series["probe_success"] != 1:
            raise RuntimeError(f"blackbox failed on {url}")
        for name in PHASES:
            theirs[name].append(series[f'probe_http_duration_seconds{{phase="{name}"}}'])
        theirs["total"].append(series["probe_duration_seconds"])
    rows = []
    for name in (*PHASES, "total"):
        dozor, other = statistics.median(ours[name]), statistics.median(theirs[name])
        ratio = f"{dozor / other:.2f}" if other > 0 else "-"
        rows.append([name, f"{dozor * 1000:.2f}", f"{other * 1000:.2f}",
                     f"{(dozor - other) * 1000:+.2f}", ratio])
    print(f"\nphase medians over {runs} runs each, {url.split('/', 3)[-1]}, ms", flush=True)
    _table(["phase", "Dozor", "blackbox", "diff", "ratio"], rows)


async def overruns(bb: Blackbox, ctx: ProbeContext, targets: dict[str, tuple[Any, str]],
                   runs: int) -> None:
    rows = []
    for kind, (spec, target) in targets.items():
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(runs):
            result, took = await run_probe(PROBES[type(spec)], spec, ctx, TIMEOUT)
            if result.reason is not Reason.TIMEOUT:
                raise RuntimeError(f"Dozor did not time out on {kind}: {result.detail}")
            ours.append(took - TIMEOUT)
            series = await bb.probe(target, kind.split()[0])
            theirs.append(series["probe_duration_seconds"] - TIMEOUT)
        rows.append([kind, f"{statistics.median(ours) * 1000:+.2f}", f"{max(ours) * 1000:+.2f}",
                     f"{statistics.median(theirs) * 1000:+.2f}",
                     f"{max(theirs) * 1000:+.2f}"])
    print(f"\ntimeout overrun past {TIMEOUT:g}s over {runs} runs each, ms", flush=True)
    _table(["endpoint", "Dozor p50", "Dozor max", "blackbox p50", "blackbox max"], rows)


async def _silent_server() -> tuple[asyncio.Server, str]:
    """Accepts and never writes: a TCP banner that does not come."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    return server, f"127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=20, help="runs per tool, per measurement")
    p.add_argument("--delay-ms", type=int, default=300)
    args = p.parse_args()
    # Not the per-run debug lines: only the tables.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    session = new_http_session(user_agent=UA)
    ctx = ProbeContext(http=session, log=structlog.get_logger("bench"), user_agent=UA)
    closers: list[Callable[[], Awaitable[None]]] = [session.close]
    try:
        zoo = await start_zoo(None)
        closers.append(zoo.close)
        raw = await RawZoo().start()
        closers.append(raw.close)
        dns = await DnsZoo().start()
        closers.append(dns.close)
        silent, silent_address = await _silent_server()
        with tempfile.TemporaryDirectory() as tmp, Blackbox(_modules(), Path(tmp)) as bb:
            print(f"Dozor vs {version()}", flush=True)
            base = f"http://127.0.0.1:{zoo.port}"
            await phases(bb, ctx, f"{base}/delay/{args.delay_ms}", args.runs)
            trickle = f"{base}/slow-body/{int(TIMEOUT * 3000)}"
            await overruns(bb, ctx, {
                "http hang": (HttpSpec(url=raw.url("/hang")), raw.url("/hang")),
                "http trickle": (HttpSpec(url=trickle), trickle),
                "dns dropped": (DnsSpec(server=dns.server, query_name=DROP_NAME), dns.server),
                "tcp silent": (TcpSpec.model_validate({
                    "address": silent_address, "query_response": [{"expect": "^220"}]}),
                    silent_address),
            }, args.runs)
        silent.close()
    finally:
        for close in reversed(closers):
            await close()


if __name__ == "__main__":
    asyncio.run(main())
