"""The real Dozor daemon for bench/vs_blackbox.py, in a process of its own (so its CPU and
RSS can be read from /proc and it can be pinned to one core).

A bench-only hook records every run as it is recorded: a ``ProbeSeries`` subclass appends
``(finished, duration, service, success)`` after the daemon's own ``observe`` (one list append
per run). Prints ``ready <metrics port>`` once the catalog is loaded and scheduled; on SIGTERM
stops the daemon as usual and writes ``{"runs": [...], "jobs": {service: [offset, interval]},
"skipped": {reason: count}}`` to ``--out`` (skipped: runs not started, over the whole process);
scheduler lag is recomputed from the same ``started`` the daemon observes.

    python bench/dozor_worker.py --config catalog.yaml --out runs.json [--uvloop]

``--cli ARGS...`` runs ``dozor ARGS...`` instead (monitor.cli.main, every flag of ``dozor run``:
``--web-config``, ``--listen``, ...), with the same hook in the daemon it makes, and writes the
same file once it exits (bench/auth_flood.py); it prints nothing: wait for ``/healthz``.

    python bench/dozor_worker.py --out runs.json --cli run --config c.yaml --web-config web.yml
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

# DOZOR_ROOT: another checkout's code (e.g. the previous commit) for before/after in one run.
sys.path.insert(0, os.environ.get("DOZOR_ROOT") or str(Path(__file__).resolve().parent.parent))

from monitor.runtime.daemon import Daemon, DaemonOptions, dozor_version
from monitor.runtime.logs import configure_logging
from monitor.runtime.scheduler import ProbeScheduler
from monitor.serving.metrics import Metrics, ProbeSeries
from probes import ProbeResult

Run = tuple[float, float, str, bool]


class _RecordingSeries(ProbeSeries):
    __slots__ = ("_sink",)

    def __init__(self, metrics: Metrics, service: str, probe: str, sink: list[Run]) -> None:
        super().__init__(metrics, service, probe)
        self._sink = sink

    def observe(self, result: ProbeResult, duration: float, hours: str, now: float) -> None:
        super().observe(result, duration, hours, now)
        self._sink.append((now, duration, self._key[0], result.success))


class _RecordingMetrics(Metrics):
    def __init__(self, sink: list[Run], *args: Any, **kwargs: Any) -> None:
        self.sink = sink
        super().__init__(*args, **kwargs)

    def series(self, service: str, probe: str) -> ProbeSeries:
        key = (service, probe)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = _RecordingSeries(self, service, probe, self.sink)
        return found


class BenchDaemon(Daemon):
    """The real daemon with the recording metrics swapped in before anything is scheduled."""

    def __init__(self, options: DaemonOptions, sink: list[Run]) -> None:
        super().__init__(options)
        self.metrics = _RecordingMetrics(sink, options.location, dozor_version(),
                                         shard=str(options.shard))
        self.scheduler = ProbeScheduler(self.metrics, self._http, self.user_agent,
                                        options.location, options.max_concurrency)


def _jobs(daemon: Daemon) -> dict[str, list[float]]:
    return {job.service: [job.offset, job.interval] for job in daemon.scheduler.jobs.values()}


def _write(out: Path, daemon: Daemon, sink: list[Run], jobs: dict[str, list[float]]) -> None:
    # Runs not started, by reason (a checkout before the reason label: one unlabelled total).
    skipped = {s.labels.get("reason", "all"): s.value
               for family in daemon.metrics.skipped_runs.collect() for s in family.samples
               if s.name.endswith("_total")}
    out.write_text(json.dumps({"runs": sink, "jobs": jobs, "skipped": skipped}))


async def main(args: argparse.Namespace) -> None:
    sink: list[Run] = []
    daemon = BenchDaemon(DaemonOptions(config=args.config, port=0, location="bench", grace=2.0),
                         sink)
    await daemon.start()
    jobs = _jobs(daemon)
    print(f"ready {daemon.port}", flush=True)
    await daemon.serve_until_signalled()
    _write(args.out, daemon, sink, jobs)


def main_cli(out: Path, argv: list[str]) -> int:
    """``dozor ARGV`` as shipped, its daemon a BenchDaemon; the file written at exit."""
    import monitor.cli

    sink: list[Run] = []
    made: list[tuple[Daemon, dict[str, list[float]]]] = []

    class _CliDaemon(BenchDaemon):
        def __init__(self, options: DaemonOptions) -> None:
            super().__init__(options, sink)

        async def start(self, catalog: Any = None) -> None:
            await super().start(catalog)
            made.append((self, _jobs(self)))

    monitor.cli.Daemon = _CliDaemon  # type: ignore[attr-defined]  # the one `dozor run` makes
    code = monitor.cli.main(argv)
    if made:
        _write(out, made[0][0], sink, made[0][1])
    return code


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--config", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--uvloop", action="store_true")
    p.add_argument("--log-level", default="info")
    p.add_argument("--cli", nargs=argparse.REMAINDER, help="dozor's own arguments (last)")
    a = p.parse_args()
    if a.cli:
        sys.exit(main_cli(a.out, a.cli))
    if a.config is None:
        p.error("--config is required (or --cli)")
    configure_logging(a.log_level, json=True)
    if a.uvloop:
        import uvloop
        uvloop.run(main(a))
    else:
        asyncio.run(main(a))
