"""The CLI as a user runs it: real processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harness.catalog_factory import catalog_dict, write_catalog
from harness.stack import free_port

ROOT = Path(__file__).resolve().parent.parent


def _dozor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, check=False, env=env)


def test_check_valid_prints_one_line_summary(tmp_path: Path) -> None:
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(["http://127.0.0.1:1/a"] * 3))
    done = _dozor("check", str(cfg))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "3 services, 3 probes, 2 curators" in lines[0]


def test_check_invalid_prints_every_error_and_exits_1(tmp_path: Path) -> None:
    data = catalog_dict(["http://127.0.0.1:1/a", "ftp://nope/"])
    data["services"][0]["curator"] = "nobody"
    data["services"][1]["level"] = "galactic"
    cfg = write_catalog(tmp_path / "bad.yaml", data)
    done = _dozor("check", str(cfg))
    assert done.returncode == 1
    err = done.stderr
    assert "nobody" in err and "galactic" in err and "ftp://nope/" in err
    assert err.count("bad.yaml:") >= 3  # each error names the file and a line
    assert "Traceback" not in err


def test_check_demo_catalog_is_valid() -> None:
    done = _dozor("check", "config/examples/demo")
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
