"""Restart without loss: atomic state writes survive kill -9; a restart fakes no transition."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from harness.catalog_factory import catalog_dict, write_catalog
from harness.stack import until
from harness.target import Target
from monitor.runtime.daemon import Daemon, DaemonOptions
from monitor.runtime.state import SavedProbe, StateFileError, load_state, save_state

pytestmark = pytest.mark.e2e  # restarts the daemon, and kill -9s a state writer subprocess

ROOT = Path(__file__).resolve().parent.parent

# Rewrites the state file as fast as it can; every generation g has all entries stamped g.
WRITER = """
import sys
from pathlib import Path
from monitor.runtime.state import SavedProbe, save_state
path = Path(sys.argv[1])
g = 0
while True:
    g += 1
    save_state(path, {f"svc-{i:05d}/portal": SavedProbe(float(g), True, float(g), 0, g)
                      for i in range(3000)}, float(g))
    print(g, flush=True)
"""


def test_kill_9_during_writes_always_leaves_a_loadable_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    rng = random.Random(7)
    generations = []
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        proc.stdout.readline()  # at least one complete write, then kill mid-stream
        time.sleep(rng.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        proc.stdout.close()
        saved = load_state(path)  # never torn: it parses, and it is one whole generation
        stamps = {p.consecutive_successes for p in saved.values()}
        assert len(saved) == 3000
        assert len(stamps) == 1
        generations.append(stamps.pop())
    assert len(set(generations)) > 1  # the kills really landed at different points


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"{not json", "not a Dozor state file"), (b'{"format": 99, "probes": {}}', "format"),
     (b'{"format": 1, "probes": {"a/b": {"bogus": 1}}}', "not a Dozor state file"),
     *((b'{"format": 1, "saved_at": 100, "probes": {"a/b": {"last_success": 1, "up": true, '
        b'"since": 1, '
        b'"consecutive_failures": 0, "consecutive_successes": 1, ' + field + b'}}}',
        "probe 'a/b': " + message)
       for field, message in ((b'"outage_start": "x"', "outage_start is not a time"),
                              (b'"outage_seconds": null', "outage_seconds is not a length"),
                              (b'"outage_seconds": -5', "outage_seconds is not a length"),
                              (b'"outage_start": true', "outage_start is not a time"),
                              (b'"outage_start": NaN', "outage_start is not a time"),
                              (b'"last_run_end": Infinity', "last_run_end is not a time"),
                              (b'"outage_start": 1e300', "outage_start is after the file"),
                              (b'"up": 1', "up is not true"),
                              (b'"consecutive_failures": -1', "consecutive_failures is not"))
       )],
)
def test_unusable_state_files_are_named_not_crashed_on(
    tmp_path: Path, content: bytes, fragment: str
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(StateFileError, match=fragment):
        load_state(path)


def test_a_state_file_from_before_outages_were_kept_loads_with_none(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b'{"format": 1, "saved_at": 5, "probes": {"a/b": {"last_success": 4.0, '
                     b'"up": true, "since": 1.0, "consecutive_failures": 0, '
                     b'"consecutive_successes": 3}}}')
    assert load_state(path) == {"a/b": SavedProbe(4.0, True, 1.0, 0, 3, None, 0.0)}


def test_missing_state_file_is_a_fresh_start(tmp_path: Path) -> None:
    assert load_state(tmp_path / "none.json") == {}
    save_state(tmp_path / "sub" / "s.json", {"a/b": SavedProbe(None, None, 0.0, 0, 0)}, 1.0)
    assert load_state(tmp_path / "sub" / "s.json") == {"a/b": SavedProbe(None, None, 0.0, 0, 0)}


def _restartable(tmp_path: Path, target: Target) -> DaemonOptions:
    """A daemon probing ``target`` every second with a state file: start it twice."""
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(
        [f"{target.url}/a"], interval="1s", timeout="500ms"))
    return DaemonOptions(config=cfg, port=0, location="loc", state_file=tmp_path / "state.json")


async def test_restart_restores_state_and_emits_no_false_transition(
    tmp_path: Path, target: Target
) -> None:
    options = _restartable(tmp_path, target)

    first = Daemon(options)
    await first.start()
    try:
        await until(lambda: first.scheduler.state("svc-00000/portal").up is True)
        last_ok = first.scheduler.state("svc-00000/portal").last_success
        target.status = 503
        await until(lambda: first.scheduler.state("svc-00000/portal").up is False)
    finally:
        await first.stop()  # saves the state
    went_down = first.scheduler.state("svc-00000/portal").since

    second = Daemon(options)
    with capture_logs() as logs:
        await second.start()
        try:
            # Restored before any run: the last success and the down state are back.
            samples = {s.name: s.value for fam in text_string_to_metric_families(
                generate_latest(second.metrics.registry).decode()) for s in fam.samples
                if s.labels.get("service") == "svc-00000"}
            assert samples["dozor_probe_last_success_timestamp_seconds"] == last_ok
            assert samples["dozor_probe_up"] == 0
            hits = target.hits
            await until(lambda: target.hits >= hits + 2)  # still down: nothing to report
            assert not [e for e in logs if e["event"] == "probe failing"]
            target.status = 200
            await until(lambda: any(e["event"] == "probe recovered" for e in logs))
        finally:
            await second.stop()
    recovered = next(e for e in logs if e["event"] == "probe recovered")
    assert recovered["previous"] == "down"
    # The outage is measured from the restored down time, not from the second start (which
    # is a stop and a start later) nor from zero: exactly up-since minus went-down.
    came_up = second.scheduler.state("svc-00000/portal").since
    # Not a clock reading: both sides come from the same timestamps; 2 ms covers the rounding
    # of down_for to 3 decimals, so load cannot move it.
    assert recovered["down_for"] == pytest.approx(came_up - went_down, abs=2e-3)
    assert any(e["event"] == "state restored" and e["probes"] == 1 for e in logs)



def _own_samples(daemon: Daemon) -> dict[str, float]:
    return {s.name: s.value for fam in text_string_to_metric_families(
        generate_latest(daemon.metrics.registry).decode()) for s in fam.samples
        if s.labels.get("service") == "svc-00000" and "phase" not in s.labels
        and "result" not in s.labels and "reason" not in s.labels and "le" not in s.labels}


async def test_a_healthy_service_restarted_has_no_outage_and_no_verdict_before_its_run(
    tmp_path: Path, target: Target
) -> None:
    """The monitor's own gap is never the service's outage: healthy at the stop and failing at
    the first run back, the outage starts at that run, not at the success before the stop."""
    options = _restartable(tmp_path, target)
    first = Daemon(options)
    await first.start()
    try:
        await until(lambda: first.scheduler.state("svc-00000/portal").up is True)
    finally:
        await first.stop()
    last_ok = first.scheduler.state("svc-00000/portal").last_success
    assert last_ok is not None
    target.status = 503  # broken while the monitor was away: when, nobody measured

    second = Daemon(options)
    await second.start()
    try:
        restored = _own_samples(second)
        # Restored facts are back; no verdict, so no outage and no failed run, until a run.
        assert restored["dozor_probe_last_success_timestamp_seconds"] == last_ok
        assert restored["dozor_probe_up"] == 1
        assert restored["dozor_probe_interval_seconds"] == 1  # for coverage, from the catalog
        assert "dozor_probe_success" not in restored
        assert "dozor_probe_outage_start_timestamp_seconds" not in restored
        back = time.time()
        await until(lambda: _own_samples(second).get("dozor_probe_success") == 0)
        seen = _own_samples(second)
    finally:
        await second.stop()
    assert seen["dozor_probe_outage_start_timestamp_seconds"] >= back > last_ok
    assert seen["dozor_probe_last_outage_seconds"] < back - last_ok  # the gap is not in it


async def test_an_outage_across_a_restart_keeps_its_true_start(
    tmp_path: Path, target: Target
) -> None:
    options = _restartable(tmp_path, target)
    first = Daemon(options)
    await first.start()
    try:
        await until(lambda: first.scheduler.state("svc-00000/portal").up is True)
        target.status = 503
        await until(lambda: _own_samples(first).get("dozor_probe_success") == 0)
        began = _own_samples(first)["dozor_probe_outage_start_timestamp_seconds"]
    finally:
        await first.stop()
    # The outage began where the last success ended: measured without a gap.
    assert began == first.scheduler.state("svc-00000/portal").last_success

    second = Daemon(options)
    await second.start()
    try:
        assert "dozor_probe_success" not in _own_samples(second)
        await until(lambda: _own_samples(second).get("dozor_probe_success") == 0)
        seen = _own_samples(second)
        target.status = 200
        await until(lambda: _own_samples(second).get("dozor_probe_success") == 1)
        ended = _own_samples(second)
    finally:
        await second.stop()
    assert seen["dozor_probe_outage_start_timestamp_seconds"] == began
    # Ended: its final length runs from the true start to the run that saw it up again.
    assert ended["dozor_probe_outage_start_timestamp_seconds"] == began
    assert ended["dozor_probe_last_outage_seconds"] > seen["dozor_probe_last_outage_seconds"]
