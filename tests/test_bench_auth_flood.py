"""bench/auth_flood.py end to end at toy size (issue 17): it starts ``dozor run --web-config``
(TLS, basic auth), floods it from 8 loopback addresses in another process and writes the
figures' JSON. Only its shape and the flood's addresses are checked: the figures are the
bench's (bench/README.md), never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("probes_per_s", "lag_p50_ms", "lag_p99_ms", "latency_error_p50_ms",
           "latency_error_p99_ms", "loop_thread_cpu_share", "other_threads_cpu_share",
           "loadavg")


@pytest.mark.e2e
def test_auth_flood_bench_writes_every_window(tmp_path: Path) -> None:
    out = tmp_path / "flood.json"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "auth_flood.py"), "--cost", "4", "--services",
         "10", "--interval", "1", "--timeout", "0.5", "--window", "1.5", "--warmup", "0.2",
         "--rounds", "1", "--floods", "none,spread", "--out", str(out)],
        cwd=ROOT, check=True, capture_output=True, timeout=120)  # a hang check, not a figure
    report = json.loads(out.read_text())
    windows = {(r["code"], r["flood"]): r for r in report["results"]}
    assert set(windows) == {("new", "none"), ("new", "spread")}
    for r in windows.values():
        assert all(k in r for k in FIGURES), r
        assert r["latency_error_samples"] > 0  # runs were matched with the applied delays
    assert "flood_in_window" not in windows["new", "none"]
    flood = windows["new", "spread"]["flood_whole_run"]
    # Each of the 8 clients came from its own loopback address and got answers there.
    assert sorted(flood["by_address"]) == [f"127.0.0.{11 + k}" for k in range(8)]
    assert set(flood["status"]) <= {"401", "429", "503"}, flood
    assert [(s["code"], s["flood"]) for s in report["summary"]] == [
        ("new", "none"), ("new", "spread")]
