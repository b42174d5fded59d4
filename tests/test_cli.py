"""The CLI as a user runs it: real processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.catalog_factory import EVERY_KIND, catalog_dict, write_catalog
from harness.stack import free_port
from harness.tools import dozor, samples
from probes import KINDS

ROOT = Path(__file__).resolve().parent.parent


def test_check_valid_prints_one_line_summary(tmp_path: Path) -> None:
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(["http://127.0.0.1:1/a"] * 3))
    done = dozor("check", str(cfg))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "3 services, 3 probes, 2 curators" in lines[0]


def test_check_invalid_prints_every_error_and_exits_1(tmp_path: Path) -> None:
    data = catalog_dict(["http://127.0.0.1:1/a", "ftp://nope/"])
    data["services"][0]["curator"] = "nobody"
    data["services"][1]["level"] = "galactic"
    cfg = write_catalog(tmp_path / "bad.yaml", data)
    done = dozor("check", str(cfg))
    assert done.returncode == 1
    err = done.stderr
    assert "nobody" in err and "galactic" in err and "ftp://nope/" in err
    assert err.count("bad.yaml:") >= 3  # each error names the file and a line
    assert "Traceback" not in err


def test_check_demo_catalog_is_valid() -> None:
    done = dozor("check", "config/examples/demo")
    assert done.returncode == 0, done.stderr
    assert "services" in done.stdout


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return str(r.read().decode())


@pytest.mark.e2e
def test_run_reloads_on_sighup_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(["http://127.0.0.1:1/a"]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--log-format", "json", "run", "--config", str(cfg),
         "--listen", f"127.0.0.1:{port}", "--location", "msk"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                body = _get(f"http://127.0.0.1:{port}/metrics")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    err = proc.stderr.read() if proc.stderr else ""
                    pytest.fail(f"daemon did not come up: {err}")
                time.sleep(0.2)
        assert 'dozor_probes_configured 1.0' in body
        write_catalog(cfg, catalog_dict(["http://127.0.0.1:1/a", "http://127.0.0.1:1/b"]))
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while 'dozor_probes_configured 2.0' not in _get(f"http://127.0.0.1:{port}/metrics"):
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    events = [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert "dozor started" in names and "dozor stopped" in names
    applied = [e for e in events if e["event"] == "catalog applied"]
    assert applied[-1]["added"] == 1 and applied[-1]["unchanged"] == 1


# One probe of every kind against closed 127.0.0.1 ports: verdicts do not matter here, only
# that the daemon runs each kind through its generic code (buckets, scheduling, metrics).


def _kinds_catalog(kinds: list[str]) -> dict[str, Any]:
    data = catalog_dict(["http://127.0.0.1:1/a"], interval="1s", timeout="500ms")
    data["services"][0]["probes"] = [{"name": kind, kind: EVERY_KIND[kind]} for kind in kinds]
    return data


def _spawn_run(cfg: Path, port: int, prelude: str = "") -> subprocess.Popen[str]:
    """``dozor run`` in a subprocess, JSON logs on stderr; ``prelude`` is Python run first
    (to break something on purpose)."""
    code = f"import sys\n{prelude}\nfrom monitor.cli import main\nsys.exit(main())\n"
    return subprocess.Popen(
        [sys.executable, "-c", code, "--log-format", "json", "run", "--config", str(cfg),
         "--listen", f"127.0.0.1:{port}", "--location", "msk"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_for_metrics(proc: subprocess.Popen[str], port: int, ready: Callable[[str], bool],
                      what: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            body = _get(f"http://127.0.0.1:{port}/metrics")
            if ready(body):
                return body
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            err = proc.stderr.read() if proc.stderr else ""
            pytest.fail(f"timed out waiting for {what}: {err}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    """SIGTERM; asserts a clean exit 0 and returns the JSON log events."""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert proc.stderr is not None
    err = proc.stderr.read()
    lines = err.splitlines()
    assert all(line.startswith("{") for line in lines), err  # nothing but JSON log lines
    events = [json.loads(line) for line in lines]
    assert not [e for e in events if "never retrieved" in e["event"]], err
    return events


def _runs(body: str, probe: str) -> float:
    found = samples(body.encode())
    return sum(v for (name, labels), v in found.items()
               if name == "dozor_probes_total" and dict(labels)["probe"] == probe)


@pytest.mark.e2e
def test_run_serves_every_probe_kind_and_reloads_onto_dns_only(tmp_path: Path) -> None:
    port = free_port()
    kinds = list(EVERY_KIND)
    assert set(kinds) == {kind.name for kind in KINDS}, "every registered kind runs here"
    cfg = write_catalog(tmp_path / "c.yaml", _kinds_catalog(kinds))
    proc = _spawn_run(cfg, port)
    try:
        # Every kind has run at least once and has its series.
        body = _wait_for_metrics(proc, port, lambda b: all(_runs(b, k) >= 1 for k in kinds),
                                 "a run of every kind")
        assert f"dozor_probes_configured {len(kinds)}.0" in body
        # 0.3 (the HTTP probe's max_latency) became a bucket edge; nothing else needed one.
        assert 'dozor_probe_duration_seconds_bucket{service="svc-00000",probe="http",' \
               'location="msk",le="0.3"}' in body
        write_catalog(cfg, _kinds_catalog(["dns"]))
        proc.send_signal(signal.SIGHUP)
        body = _wait_for_metrics(proc, port, lambda b: "dozor_probes_configured 1.0" in b,
                                 "the DNS-only catalog to apply")
        assert "dozor_config_last_reload_successful 1.0" in body
        assert 'probe="http"' not in body and 'probe="dns"' in body
        events = _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert [e for e in events if e["event"] == "catalog applied"][-1]["removed"] == len(kinds) - 1
    assert not [e for e in events if e["level"] == "error"]


# Applying any catalog with a service "svc-00001" raises, as a bug in the apply path would;
# rolling back to the running catalog (which has none) still works.
_BREAK_APPLY = """
from monitor.runtime.scheduler import ProbeScheduler
_apply = ProbeScheduler.apply
def _broken(self, plan):
    if any(key.startswith("svc-00001/") for key in plan):
        raise RuntimeError("apply broke")
    return _apply(self, plan)
ProbeScheduler.apply = _broken
"""


@pytest.mark.e2e
def test_sighup_reload_that_raises_is_a_failed_reload(tmp_path: Path) -> None:
    port = free_port()
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(
        ["http://127.0.0.1:1/a"], interval="1s", timeout="500ms"))
    proc = _spawn_run(cfg, port, _BREAK_APPLY)
    try:
        _wait_for_metrics(proc, port, lambda b: "dozor_probes_configured 1.0" in b, "start")
        write_catalog(cfg, catalog_dict(["http://127.0.0.1:1/a", "http://127.0.0.1:1/b"],
                                        interval="1s", timeout="500ms"))
        proc.send_signal(signal.SIGHUP)
        body = _wait_for_metrics(
            proc, port, lambda b: "dozor_config_last_reload_successful 0.0" in b,
            "the reload to be reported failed")
        assert "dozor_probes_configured 1.0" in body
        assert 'service="svc-00001"' not in body
        runs = _runs(body, "portal")
        _wait_for_metrics(proc, port, lambda b: _runs(b, "portal") >= runs + 1,
                          "the running catalog's probe to keep running")
        events = _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    errors = [e for e in events if e["level"] == "error"]
    assert [e["event"] for e in errors] == ["reload failed; running catalog kept"]
    assert errors[0]["error"] == "RuntimeError: apply broke"
    assert errors[0]["exception"].startswith("Traceback")  # a bug: where it is, in that line
    assert "running catalog restored" in [e["event"] for e in events]


@pytest.mark.parametrize("workers", [(), ("--workers", "2")], ids=["one process", "workers"])
def test_run_on_a_taken_port_says_so_in_one_line(tmp_path: Path, workers: tuple[str, ...]
                                                 ) -> None:
    config = write_catalog(tmp_path / "c.yaml", catalog_dict(["http://127.0.0.1:1/"]))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = dozor("--log-level", "error", "run", "--config", str(config), "--listen",
                     f"127.0.0.1:{port}", *workers)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"dozor run: cannot listen on 127.0.0.1:{port}: address already in use")
    assert "Traceback" not in done.stderr
