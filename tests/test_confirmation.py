"""Retries and consecutive thresholds: what each counter counts, and when state flips."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from prometheus_client import generate_latest
from structlog.testing import capture_logs

from harness.catalog_factory import catalog_dict, write_catalog
from harness.stack import until
from harness.target import Target
from harness.tools import promtool_check_metrics, samples
from monitor.runtime.confirmation import ProbeState, Thresholds, record
from monitor.runtime.daemon import Daemon, DaemonOptions
from monitor.serving.metrics import Metrics
from probes import ProbeResult, Reason

KEY = {"service": "svc-00000", "probe": "portal", "location": "loc"}


def _value(metrics: Metrics, name: str, **extra: str) -> float | None:
    labels = frozenset({**KEY, **extra}.items())
    return samples(generate_latest(metrics.registry)).get((name, labels))


@pytest.mark.parametrize(
    ("runs", "failures", "successes", "states", "changes"),
    [
        # threshold 1: every change of verdict flips the state
        ("SFS", 1, 1, [1, 0, 1], ["probe failing", "probe recovered"]),
        # 3 failures needed: a blip or two does not take it down
        ("SFFSFFF", 3, 1, [1, 1, 1, 1, 1, 1, 0], ["probe failing"]),
        # 2 successes needed to come back
        ("FSFSS", 1, 2, [0, 0, 0, 0, 1], ["probe failing", "probe recovered"]),
        # unknown until confirmed: no state, no up series
        ("FF", 3, 1, [None, None], []),
    ],
)
def test_thresholds_decide_the_confirmed_state(
    runs: str, failures: int, successes: int, states: list[int | None], changes: list[str]
) -> None:
    metrics = Metrics("loc", "0")
    series = metrics.series("svc-00000", "portal")
    state = ProbeState()
    seen = []
    with capture_logs() as logs:
        for i, verdict in enumerate(runs):
            result = ProbeResult.ok() if verdict == "S" else ProbeResult.fail(Reason.CONNECT, "x")
            record(series, state, structlog.get_logger(), result, 0.01, 1000.0 + i,
                   "Europe/Moscow", Thresholds(failures, successes))
            seen.append(_value(metrics, "dozor_probe_up"))
    assert seen == states
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == changes
    # Every run counted, whatever the confirmation says.
    assert _value(metrics, "dozor_probes_total", result="failure", hours="offhours") == \
        runs.count("F")


async def test_retries_count_every_attempt_and_last_attempt_decides(
    tmp_path: Path, target: Target
) -> None:
    data = catalog_dict([f"{target.url}/a"], interval="2s", timeout="500ms")
    data["services"][0]["probes"][0]["retries"] = 2
    cfg = write_catalog(tmp_path / "c.yaml", data)
    target.fail_next = 2  # first run: fail, fail, succeed
    daemon = Daemon(DaemonOptions(config=cfg, port=0, location="loc"))
    await daemon.start()
    try:
        await until(lambda: target.hits >= 3, timeout=6)
        m = daemon.metrics
        # Wait for the run to be recorded, not a fixed 0.1 s that a loaded machine can exceed.
        await until(lambda: sum(_value(m, "dozor_probes_total", result=r, hours=h) or 0
                                for r in ("success", "failure")
                                for h in ("business", "offhours")) >= 1)
        assert _value(m, "dozor_probe_attempts_total", result="failure") == 2
        assert _value(m, "dozor_probe_attempts_total", result="success") == 1
        runs = sum(_value(m, "dozor_probes_total", result=r, hours=h) or 0
                   for r in ("success", "failure") for h in ("business", "offhours"))
        assert runs == 1  # one scheduled run, its verdict from the last attempt
        assert sum(_value(m, "dozor_probes_total", result="success", hours=h) or 0
                   for h in ("business", "offhours")) == 1
        assert _value(m, "dozor_probe_failures_total", reason="http_status") == 0
        checked = promtool_check_metrics(generate_latest(m.registry))
        assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")
    finally:
        await daemon.stop()


# (start, verdict) runs of 1 s each, interval 10 s -> exported outage (start, length).
@pytest.mark.parametrize(("runs", "outage"), [
    # continuous: from the end of the last success to the start of the run that succeeded
    ([(0, "S"), (10, "F"), (20, "F"), (30, "S")], (1.0, 29.0)),
    # still failing: its length as of the last run's end
    ([(0, "S"), (10, "F"), (20, "F")], (1.0, 20.0)),
    # first run ever fails: nothing measured before it, so it starts there
    ([(0, "F"), (10, "F")], (0.0, 11.0)),
    # the daemon stalled 40 s after a success: the outage starts at the run after the stall
    ([(0, "S"), (41, "F"), (50, "F")], (41.0, 10.0)),
    # a late run (lag or an overrunning previous run) is no stall
    ([(0, "S"), (14, "F")], (1.0, 14.0)),
    # failing at both ends of a stall: presumed failing across it
    ([(0, "S"), (10, "F"), (60, "F")], (1.0, 60.0)),
    # failing before a stall, up after: it ended unseen, its length is what was measured
    ([(0, "S"), (10, "F"), (60, "S")], (1.0, 10.0)),
    # failing at both ends of a long stall (over 5 minutes beyond the interval): a recovery
    # may hide in it, so the failure after it starts a new outage
    ([(0, "S"), (10, "F"), (400, "F")], (400.0, 1.0)),
    # the wall clock stepped back past the outage's start: a length of 0, never negative
    ([(0, "S"), (10, "F"), (-20, "F")], (1.0, 0.0)),
])
def test_outages_cover_only_measured_time(runs: list[tuple[float, str]],
                                          outage: tuple[float, float]) -> None:
    metrics = Metrics("loc", "0")
    series, state = metrics.series("svc-00000", "portal"), ProbeState()
    for started, verdict in runs:
        result = ProbeResult.ok() if verdict == "S" else ProbeResult.fail(Reason.CONNECT, "x")
        record(series, state, structlog.get_logger(), result, 1.0, 1000.0 + started,
               "Europe/Moscow", interval=10.0)
    start = _value(metrics, "dozor_probe_outage_start_timestamp_seconds")
    length = _value(metrics, "dozor_probe_last_outage_seconds")
    assert start is not None and length is not None
    assert (start - 1000.0, length) == outage


def test_no_outage_series_before_the_first_failure() -> None:
    metrics = Metrics("loc", "0")
    series, state = metrics.series("svc-00000", "portal"), ProbeState()
    record(series, state, structlog.get_logger(), ProbeResult.ok(), 1.0, 1000.0,
           "Europe/Moscow", interval=10.0)
    assert _value(metrics, "dozor_probe_outage_start_timestamp_seconds") is None
    assert _value(metrics, "dozor_probe_success") == 1


def test_a_retried_run_ends_when_its_verdict_is_known() -> None:
    """Interval 30 s, three 10 s attempts: the run at 30 ends at 60 (its slot at 60 skipped,
    the next at 90). Its end is the last attempt's, not its start plus one attempt, so the
    run at 90 is the next run, not one after a stall, and the outage runs from the success
    before it to the success after it."""
    metrics = Metrics("loc", "0")
    series, state = metrics.series("svc-00000", "portal"), ProbeState()
    fail = ProbeResult.fail(Reason.TIMEOUT, "x")
    for started, result in ((0, ProbeResult.ok()), (30, fail), (90, fail),
                            (150, ProbeResult.ok())):
        attempts = 1 if result.success else 3
        record(series, state, structlog.get_logger(), result, 10.0 if attempts > 1 else 1.0,
               1000.0 + started, "Europe/Moscow", interval=30.0,
               ended=1000.0 + started + (30.0 if attempts > 1 else 1.0))
    assert _value(metrics, "dozor_probe_outage_start_timestamp_seconds") == 1001.0
    assert _value(metrics, "dozor_probe_last_outage_seconds") == 149.0


def test_a_restart_longer_than_the_bridge_starts_a_new_outage() -> None:
    metrics = Metrics("loc", "0")
    series = metrics.series("svc-00000", "portal")
    fail = ProbeResult.fail(Reason.CONNECT, "x")
    restored = ProbeState(up=False, consecutive_failures=3, outage_start=900.0,
                          outage_seconds=100.0, resumed=True, last_run_end=1000.0)
    record(series, restored, structlog.get_logger(), fail, 1.0, 1000.0 + 10 + 300 + 1,
           "Europe/Moscow", interval=10.0)
    assert _value(metrics, "dozor_probe_outage_start_timestamp_seconds") == 1311.0
    short = ProbeState(up=False, consecutive_failures=3, outage_start=900.0,
                       outage_seconds=100.0, resumed=True, last_run_end=1000.0)
    record(series, short, structlog.get_logger(), fail, 1.0, 1000.0 + 60, "Europe/Moscow",
           interval=10.0)
    assert _value(metrics, "dozor_probe_outage_start_timestamp_seconds") == 900.0
    assert _value(metrics, "dozor_probe_last_outage_seconds") == 161.0
