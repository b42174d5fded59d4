"""Issue 17: wrong passwords flooding /metrics against the probes' clocks, with and without.

``dozor run --web-config WEB.yml`` (TLS from a trustme CA, ``basic_auth_users`` with one bcrypt
hash at cost 12, the README's) on 127.0.0.1, through bench/dozor_worker.py ``--cli`` so every
run's measured duration is recorded, probes ``--services`` HTTP services every ``--interval``
against bench/delay_server.py (a fixed delay; it records the delay it really applied per
request). Each window is a fresh daemon, measured for ``--window`` seconds:

- ``none``: no flood;
- ``spread``: bench/flood_client.py, another process, with 8 clients, each from its own
  loopback address (127.0.0.11 ... 127.0.0.18: the worst case for a per-address limit), each
  sending wrong-password ``GET /metrics`` as fast as the answers come back;
- ``one`` (``--floods none,spread,one``): the same 8 clients all from 127.0.0.11.

The flood starts at the window's start (each address's first failures all reach bcrypt), or
``--flood-lead`` seconds before it (the steady state, once each address is limited).

Per window: scheduler lag p50/p99 from the daemon's ``dozor_scheduler_lag_seconds`` bucket
deltas between two scrapes (with the right password) bracketing the window (and, finer, per
run from the recorded runs), latency error p50/p99 (each run's measured duration minus the
delay the server applied to that run's own request, as bench/vs_blackbox.py measures it, the
request found by time: latency_errors), probes completed per second, the daemon's CPU (its
event-loop thread and its other threads, where the bcrypt pool runs), the flood's CPU and
answers by status (401/429/503) inside the window, and the load average.

With ``--baseline REV`` the same windows run against that commit's code (``git archive``
into a temporary directory, imported through DOZOR_ROOT as vs_blackbox.py's ``--baseline``
does), interleaved: each round runs every (code, flood) window, the order reversed every
other round, so machine noise hits all of them.

    python bench/auth_flood.py --baseline b263230                 # 3 rounds of 30 s windows
    python bench/auth_flood.py --floods none,spread,one --rounds 2 --window 20

Figures are printed and written as JSON; nothing is asserted.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import contextlib
import datetime as dt
import io
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bcrypt
import machine_run  # bench/ is this script's directory, first on sys.path
import trustme
import yaml
from vs_blackbox import (
    cpu_seconds,
    free_port,
    machine,
    ms,
    quantile,
    read_line,
    run_lags,
    start_delay_server,
    stop,
    wait_http,
)

from harness.catalog_factory import catalog_dict, write_catalog

BENCH = ROOT / "bench"
USER = "prometheus"
PASSWORD = "bench-scrape-password"  # the scraper's; the flood sends wrong ones
SPREAD = [f"127.0.0.{11 + k}" for k in range(8)]
FLOODS = {"none": [], "spread": SPREAD, "one": SPREAD[:1]}


@dataclass(frozen=True)
class Code:
    name: str  # "new" or "base"
    commit: str
    root: str  # "" for this checkout; else a tree imported through DOZOR_ROOT


@dataclass
class Setup:
    tmp: Path
    args: argparse.Namespace
    delay: str  # the delay server's base URL
    web_config: Path
    ca_file: Path
    context: ssl.SSLContext
    # run -> its window's runs [(path, finished, measured)], matched with the delay server's
    # record once it is stopped (latency_errors).
    pending: dict[str, list[tuple[str, float, float]]] = field(default_factory=dict)

    @property
    def auth(self) -> dict[str, str]:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def export_tree(rev: str, dest: Path) -> str:
    """``rev``'s tree (``git archive``) in ``dest``; its commit id (12 digits)."""
    commit = git("rev-parse", "--short=12", "--verify", f"{rev}^{{commit}}")
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit],
                         capture_output=True, check=True).stdout
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(dest, filter="data")
    return commit


def web_config(tmp: Path, cost: int) -> tuple[Path, Path, ssl.SSLContext]:
    """WEB.yml with TLS (a certificate for 127.0.0.1 from a fresh CA) and one user whose
    password is hashed at ``cost``; the CA file and a client context trusting it."""
    ca = trustme.CA()
    server = tmp / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(server))
    ca_file = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(cost)).decode()
    path = tmp / "web.yml"
    path.write_text(yaml.safe_dump({
        "tls_server_config": {"cert_file": str(server), "key_file": str(server)},
        "basic_auth_users": {USER: hashed},
    }))
    context = ssl.create_default_context(cafile=str(ca_file))
    return path, ca_file, context


def in_window(per_second: dict[str, dict[str, int]], t0: float, t1: float
              ) -> tuple[dict[str, int], int]:
    """The flood's answers by status in the whole seconds inside [t0, t1], and how many
    seconds those are."""
    first, last = int(t0) + 1, int(t1)  # [first, last): seconds wholly inside
    counts: dict[str, int] = {}
    for second, by_status in per_second.items():
        if first <= int(second) < last:
            for status, n in by_status.items():
                counts[status] = counts.get(status, 0) + n
    return counts, max(0, last - first)


def latency_errors(runs: list[tuple[str, float, float]], delays: dict[str, list[float]],
                   received: dict[str, list[float]]) -> tuple[list[float], int]:
    """Each run's measured duration minus the delay the server applied to the run's own
    request: the one to its path that came while the run was on (from ``finished -
    measured`` to ``finished``, wall clock in both processes). Matching by order (the k-th
    run, the k-th request: vs_blackbox.py) breaks when runs time out before their request is
    sent, as the old code's do under the flood; such runs have no request and are counted
    apart (the second value)."""
    errors, unmatched = [], 0
    by_path = {path: sorted(zip(received[path], delays[path], strict=True))
               for path in {r[0] for r in runs} if path in received}
    for path, finished, measured in runs:
        requests = by_path.get(path, [])
        k = bisect.bisect_right(requests, (finished, float("inf"))) - 1
        if k >= 0 and requests[k][0] >= finished - measured - 0.001:  # 1 ms: the clocks' reads
            errors.append(measured - requests[k][1])
        else:
            unmatched += 1
    return errors, unmatched


def ready(daemon: subprocess.Popen[bytes], url: str, context: ssl.SSLContext, log: Path,
          timeout: float = 120.0) -> None:
    """Wait for ``url`` to answer; the daemon's log if it exits or stays silent."""
    deadline = time.monotonic() + timeout
    while daemon.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(RuntimeError):
            wait_http(url, 1.0, context)
            return
    raise RuntimeError(f"the daemon did not come up ({daemon.poll()=}):\n"
                       f"{log.read_text(errors='replace')[-3000:]}")


def window(setup: Setup, code: Code, flood: str, run_id: str) -> dict[str, Any]:
    """One fresh daemon, warmed up, measured for ``--window`` seconds with or without the
    flood."""
    args, tmp = setup.args, setup.tmp
    delay_paths = {f"svc-{i:05d}": f"/d/{run_id}/s{i}" for i in range(args.services)}
    config = write_catalog(tmp / f"{run_id}.yaml", catalog_dict(
        [setup.delay + path for path in delay_paths.values()],
        interval=f"{args.interval:g}s", timeout=f"{args.timeout:g}s"))
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    out = tmp / f"{run_id}.json"
    cmd = [sys.executable, str(BENCH / "dozor_worker.py"), "--out", str(out), "--cli",
           "--log-level", "warning", "--log-format", "json", "run", "--config", str(config),
           "--listen", f"127.0.0.1:{port}", "--web-config", str(setup.web_config),
           "--grace", "2"]
    env = {**os.environ, "DOZOR_ROOT": code.root} if code.root else None
    log = (tmp / f"{run_id}.log").open("w")
    daemon = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    flooder: subprocess.Popen[str] | None = None
    flood_out = tmp / f"{run_id}-flood.json"
    try:
        ready(daemon, f"{base}/healthz", setup.context, Path(log.name))
        time.sleep(args.warmup)
        # The scraper logs in once before the window: the new code remembers it (one bcrypt
        # in its pool), the old one pays bcrypt on the loop at every scrape.
        machine_run.snapshot(f"{base}/metrics", setup.context, setup.auth)
        if FLOODS[flood]:
            flooder = subprocess.Popen(
                [sys.executable, str(BENCH / "flood_client.py"), "--url", f"{base}/metrics",
                 "--ca", str(setup.ca_file), "--user", USER, "--addresses",
                 ",".join(FLOODS[flood]), "--clients", str(args.clients),
                 "--duration", str(args.flood_lead + args.window + 60),
                 "--max-requests", str(args.max_requests), "--out", str(flood_out)],
                stdout=subprocess.PIPE, text=True)
            read_line(flooder, 30)
            time.sleep(args.flood_lead)
        first = machine_run.snapshot(f"{base}/metrics", setup.context, setup.auth)
        t0 = time.time()
        cpu0 = cpu_seconds(daemon.pid), cpu_seconds(daemon.pid, daemon.pid)
        flood0 = cpu_seconds(flooder.pid) if flooder else 0.0
        time.sleep(args.window)
        cpu1 = cpu_seconds(daemon.pid), cpu_seconds(daemon.pid, daemon.pid)
        flood1 = cpu_seconds(flooder.pid) if flooder else 0.0
        t1 = time.time()
        last = machine_run.snapshot(f"{base}/metrics", setup.context, setup.auth)
        load = os.getloadavg()
        if flooder is not None:
            stop(flooder)
        stop(daemon)
    finally:
        if flooder is not None:
            stop(flooder, signal.SIGKILL)
        stop(daemon, signal.SIGKILL)
        log.close()
    if not out.exists():
        raise RuntimeError(f"{run_id}: the daemon wrote no runs; its log: {log.name}")
    data = json.loads(out.read_text())
    seconds = last["at"] - first["at"]
    done = [r for r in data["runs"] if first["at"] <= r[0] <= last["at"]]
    lag_p50, lag_p99 = machine_run.lag_quantiles(first, last)
    run_lag = run_lags(done, data["jobs"])
    setup.pending[run_id] = [(delay_paths[service], finished, measured)
                             for finished, measured, service, _ok in done]
    cpu_s = t1 - t0
    result: dict[str, Any] = {
        "run": run_id, "code": code.name, "commit": code.commit, "flood": flood,
        "services": args.services, "interval_s": args.interval,
        "offered_per_s": round(args.services / args.interval, 1),
        "window_s": round(seconds, 2),
        "probes_per_s": round((last["runs"] - first["runs"]) / seconds, 1),
        "failures": round(last["failures"] - first["failures"]),
        "skipped": machine_run.skipped_between(first, last),
        "lag_p50_ms": ms(lag_p50), "lag_p99_ms": ms(lag_p99),
        "lag_per_run_p50_ms": ms(quantile(run_lag, 0.5)),
        "lag_per_run_p99_ms": ms(quantile(run_lag, 0.99)),
        "lag_per_run_max_ms": ms(max(run_lag, default=None)),
        "scrape_s": [round(first["took"], 3), round(last["took"], 3)],
        "daemon_cpu_share": round((cpu1[0] - cpu0[0]) / cpu_s, 3),
        "loop_thread_cpu_share": round((cpu1[1] - cpu0[1]) / cpu_s, 3),
        # Whole process minus the loop's thread (two reads, 10 ms ticks: never below 0).
        "other_threads_cpu_share": round(max(0.0, cpu1[0] - cpu1[1] - cpu0[0] + cpu0[1]) / cpu_s,
                                         3),
        "flood_cpu_share": round((flood1 - flood0) / cpu_s, 3) if flooder else None,
        "loadavg": [round(x, 2) for x in load],
    }
    if flooder is not None:
        f = json.loads(flood_out.read_text())
        counts, whole = in_window(f["per_second"], first["at"], last["at"])
        result["flood_clients"] = {"clients": args.clients, "addresses": FLOODS[flood]}
        result["flood_in_window"] = counts
        result["flood_per_s"] = {s: round(n / whole, 1) for s, n in counts.items()} if whole else {}
        result["flood_whole_run"] = {"status": f["status"], "errors": f["errors"],
                                     "seconds": round(f["ended"] - f["started"], 1),
                                     "answer_s_p50_p99": f["answer_s"],
                                     "by_address": f["by_address"],
                                     # [second from the window's start, {status: n}]
                                     "timeline": [[int(t) - int(first["at"]), n] for t, n
                                                  in f["per_second"].items()]}
    return result


def summary(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (code, flood): the median over the windows, and the range of the p99s."""
    rows = []
    keys = sorted({(r["code"], r["flood"]) for r in results},
                  key=lambda k: (k[0] != "new", list(FLOODS).index(k[1])))
    for code, flood in keys:
        rs = [r for r in results if (r["code"], r["flood"]) == (code, flood)]

        def med(key: str, rs: list[dict[str, Any]] = rs) -> float | None:
            values = [r[key] for r in rs if r.get(key) is not None]
            return round(statistics.median(values), 3) if values else None

        def span(key: str, rs: list[dict[str, Any]] = rs) -> list[float] | None:
            values = [r[key] for r in rs if r.get(key) is not None]
            return [min(values), max(values)] if values else None

        statuses = sorted({s for r in rs for s in r.get("flood_per_s", {})})
        rows.append({
            "code": code, "commit": rs[0]["commit"], "flood": flood, "windows": len(rs),
            **{k: med(k) for k in (
                "probes_per_s", "lag_p50_ms", "lag_p99_ms", "latency_error_p50_ms",
                "latency_error_p99_ms", "lag_per_run_p50_ms", "lag_per_run_p99_ms",
                "daemon_cpu_share", "loop_thread_cpu_share", "other_threads_cpu_share",
                "flood_cpu_share", "failures", "runs_without_request")},
            "lag_p99_ms_range": span("lag_p99_ms"),
            "latency_error_p99_ms_range": span("latency_error_p99_ms"),
            "flood_per_s": {s: round(statistics.median(
                [r.get("flood_per_s", {}).get(s, 0.0) for r in rs]), 1) for s in statuses},
            "flood_in_window": {s: round(statistics.median(
                [r.get("flood_in_window", {}).get(s, 0) for r in rs])) for s in statuses},
            "loadavg_1m_range": [min(r["loadavg"][0] for r in rs),
                                 max(r["loadavg"][0] for r in rs)],
        })
    return rows


def _span(values: list[float] | None) -> str:
    return "" if not values else f" ({values[0]:g}–{values[1]:g})"


def _g(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| code | flood | windows | probes/s | lag p50 / p99 ms | latency error p50 / p99 ms "
             "| flood answers/s (in window) | daemon CPU: loop / other threads | flood CPU "
             "| load 1m |", "|---" * 10 + "|"]
    for r in rows:
        answers = ", ".join(f"{s}: {v:g} ({r['flood_in_window'][s]})"
                            for s, v in r["flood_per_s"].items()) or "–"
        lines.append(
            f"| {r['code']} {r['commit']} | {r['flood']} | {r['windows']} "
            f"| {_g(r['probes_per_s'])} | {_g(r['lag_p50_ms'])} / {_g(r['lag_p99_ms'])}"
            f"{_span(r['lag_p99_ms_range'])} | {_g(r['latency_error_p50_ms'])} / "
            f"{_g(r['latency_error_p99_ms'])}{_span(r['latency_error_p99_ms_range'])} "
            f"| {answers} | {_g(r['loop_thread_cpu_share'])} / "
            f"{_g(r['other_threads_cpu_share'])} | {_g(r['flood_cpu_share'])} "
            f"| {_span(r['loadavg_1m_range']).strip(' ()')} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=300)
    p.add_argument("--interval", type=float, default=2.0, help="seconds; 300 / 2 s = 150/s")
    p.add_argument("--timeout", type=float, default=1.5,
                   help="the probes' timeout, seconds (below the interval)")
    p.add_argument("--delay-ms", type=float, default=20.0, help="the delay server's delay")
    p.add_argument("--window", type=float, default=30.0, help="measured seconds per window")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--floods", default="none,spread",
                   help=f"windows per round and code, comma-separated: {', '.join(FLOODS)}")
    p.add_argument("--clients", type=int, default=8, help="concurrent flooding clients")
    p.add_argument("--flood-lead", type=float, default=0.0,
                   help="start the flood this many seconds before the window (0: the window "
                   "sees its first burst of bcrypt checks; 40: the steady state after it)")
    p.add_argument("--max-requests", type=int, default=1_000_000,
                   help="per flooding client per window, at most")
    p.add_argument("--cost", type=int, default=12, help="bcrypt cost of the scraper's hash")
    p.add_argument("--baseline", default="",
                   help="a commit (e.g. b263230) whose code runs the same windows too")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    floods = [f for f in args.floods.split(",") if f]
    if unknown := set(floods) - set(FLOODS):
        p.error(f"unknown --floods {sorted(unknown)}; known: {', '.join(FLOODS)}")
    started = dt.datetime.now(dt.UTC)
    load_start = os.getloadavg()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dozor-auth-flood-") as tmp_name:
        tmp = Path(tmp_name)
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        codes = [Code("new", git("rev-parse", "--short=12", "HEAD") + ("+dirty" if dirty else ""),
                      "")]
        if args.baseline:
            codes.append(Code("base", export_tree(args.baseline, tmp / "base"),
                              str(tmp / "base")))
        web, ca_file, context = web_config(tmp, args.cost)
        delay, delay_url = start_delay_server(tmp / "delays.json", args.delay_ms,
                                              tmp / "received.json")
        setup = Setup(tmp, args, delay_url, web, ca_file, context)
        try:
            for k in range(args.rounds):
                order = [(code, flood) for code in codes for flood in floods]
                if k % 2:
                    order.reverse()  # against drift in the machine's load
                for code, flood in order:
                    r = window(setup, code, flood, f"r{k}-{code.name}-{flood}")
                    r["round"] = k
                    results.append(r)
                    print(json.dumps(r), file=sys.stderr, flush=True)
        finally:
            stop(delay)
        delays = json.loads((tmp / "delays.json").read_text())
        received = json.loads((tmp / "received.json").read_text())
        for r in results:
            errors, unmatched = latency_errors(setup.pending[r["run"]], delays, received)
            r["latency_error_p50_ms"] = ms(quantile(errors, 0.5))
            r["latency_error_p99_ms"] = ms(quantile(errors, 0.99))
            r["latency_error_samples"] = len(errors)
            r["runs_without_request"] = unmatched
    rows = summary(results)
    loads = [[round(x, 2) for x in load_start], [round(x, 2) for x in os.getloadavg()]]
    report: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"), "machine": machine(peers=False),
        "loadavg_start_end": loads,
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "codes": {c.name: c.commit for c in codes},
        "summary": rows, "results": results,
    }
    out = args.out or BENCH / "results" / f"{started:%Y-%m-%d}-auth-flood.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(table(rows))
    print(f"load average at start {loads[0]}, at end {loads[1]}; written to {out}")


if __name__ == "__main__":
    main()
