"""A real Prometheus holding synthetic probe history, as the daemon would have exported it:
OpenMetrics written series by series, imported with ``promtool tsdb create-blocks-from
openmetrics``, then served by the Debian ``prometheus`` binary."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import yaml

from harness.history import outages
from harness.stack import free_port, spawn, stop_process
from harness.tools import require
from monitor.catalog import Standard
from monitor.localtime.hours import hours_label
from monitor.metric_names import SERVICE_OBJECTIVES

BUCKETS = ("1", "+Inf")
# The catalog's default standard as a daemon exports it per service (the window is national:
# the rules' own), for histories whose services keep the defaults.
DEFAULT_OBJECTIVES = {name: float(getattr(Standard(), part))
                      for part, name in SERVICE_OBJECTIVES.items() if part != "window"}


class OpenMetrics:
    """Families in the order first added; each series' samples must be added in time order."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[str, list[str]]] = {}

    def add(self, family: str, kind: str, lines: Sequence[str]) -> None:
        self._families.setdefault(family, (kind, []))[1].extend(lines)

    def gauge(self, name: str, labels: str, points: Sequence[tuple[float, float]]) -> None:
        self.add(name, "gauge", [f"{name}{{{labels}}} {v:g} {t:.0f}" for t, v in points])

    def text(self) -> str:
        out = []
        for family, (kind, lines) in self._families.items():
            out.append(f"# TYPE {family} {kind}")
            out.extend(lines)
        out.append("# EOF")
        return "\n".join(out) + "\n"


def probe_runs(om: OpenMetrics, labels: str, runs: Sequence[tuple[float, bool]],
               timezone: str, interval: float, duration: float = 0.3,
               scraped_at: float | None = None) -> None:
    """A probe's series after each (end time, verdict) run: the run counters by result and
    hours, verdict, confirmed state, outage gauges, interval and latency histogram; with
    ``scraped_at``, one more scrape of every series then, after the last run."""
    gauges = outages([(t - duration, ok) for t, ok in runs], duration, interval)
    counts = {(r, h): 0 for r in ("success", "failure") for h in ("business", "offhours")}
    series: dict[tuple[str, str], list[str]] = {}

    def put(family: str, line: str) -> None:
        series.setdefault((family, line.rsplit(" ", 2)[0]), []).append(line)

    for n, ((t, ok), outage) in enumerate(zip(runs, gauges, strict=True), start=1):
        hours = hours_label(dt.datetime.fromtimestamp(t, dt.UTC), timezone)
        counts[("success" if ok else "failure", hours)] += 1
        for (result, h), c in counts.items():
            put("dozor_probes", f'dozor_probes_total{{{labels},result="{result}",hours="{h}"}} '
                f"{c} {t:.0f}")
        for name in ("dozor_probe_up", "dozor_probe_success"):
            put(name, f"{name}{{{labels}}} {int(ok)} {t:.0f}")
        put("dozor_probe_interval_seconds",
            f"dozor_probe_interval_seconds{{{labels}}} {interval:g} {t:.0f}")
        if outage.start:
            for name, value in (("outage_start_timestamp_seconds", outage.start),
                                ("last_outage_seconds", outage.seconds)):
                put(f"dozor_probe_{name}", f"dozor_probe_{name}{{{labels}}} {value:.1f} {t:.0f}")
        hist = "dozor_probe_duration_seconds"
        for le in BUCKETS:
            c = n if le == "+Inf" or duration <= float(le) else 0
            put(hist, f'{hist}_bucket{{{labels},le="{le}"}} {c} {t:.0f}')
        put(hist, f"{hist}_count{{{labels}}} {n} {t:.0f}")
    if scraped_at is not None:
        for lines in series.values():
            lines.append(f"{lines[-1].rsplit(' ', 1)[0]} {scraped_at:.0f}")
    kinds = {"dozor_probes": "counter", "dozor_probe_duration_seconds": "histogram"}
    for (family, _), lines in series.items():
        om.add(family, kinds.get(family, "gauge"), lines)


@contextmanager
def backfilled_prometheus(work: Path, text: str) -> Iterator[str]:
    """Import ``text`` and serve it; yields the base URL."""
    data = work / "data"
    source = work / "history.om"
    source.write_text(text, encoding="utf-8")
    # One block for the whole history: the importer re-reads its input once per block.
    subprocess.run([require("promtool"), "tsdb", "create-blocks-from", "openmetrics", "-q",
                    "--max-block-duration=2000h", str(source), str(data)],
                   check=True, capture_output=True, timeout=300)
    source.unlink()
    config = work / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1m"}}))
    port = free_port()
    proc = spawn([require("prometheus"), f"--config.file={config}",
                  f"--storage.tsdb.path={data}", "--storage.tsdb.retention.time=100y",
                  f"--web.listen-address=127.0.0.1:{port}"], work / "prometheus.log")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (work / "prometheus.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "prometheus not ready within 30 s"
            time.sleep(0.2)
        yield url
    finally:
        stop_process(proc)
