"""What happens after a probe run: metrics, the confirmed up/down state, the outage the
monitor saw, a log line per change.

Confirmation (Gatus's thresholds): the state turns *down* after ``failure_threshold``
consecutive failed runs and *up* after ``success_threshold`` consecutive successful runs.
Before the first confirmation the state is unknown and ``dozor_probe_up`` is absent.

Outages are raw (every failed run counts, as the 24/7 standard's "longest outage" does) and
only ever cover time the monitor measured: a streak of failures starts at the end of the
last success seen just before it, or at the first failed run when nothing was seen just
before it (first run ever, first run after a restart, or a run starting more than 1.5
intervals after the previous one ended, the daemon itself stalled: the monitor was away). A
streak failing when the monitor went away and again at its first run back keeps its true
start if the gap was short (``BRIDGE_SECONDS`` beyond the interval: a restart, an upgrade):
such a gap between two failures is presumed failing, a gap next to a success never, and a
longer gap never either (the failure after it starts a new outage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.localtime.hours import hours_label_at
from monitor.serving.metrics import ProbeSeries
from probes import ProbeResult

# The longest monitor gap (beyond the probe's interval) across which an outage failing at
# both ends is presumed to have lasted; past it, the failure after the gap starts a new one.
BRIDGE_SECONDS = 300.0


@dataclass(slots=True)
class ProbeState:
    """Kept across reloads for unchanged probes; ``up`` is None until the first confirmation."""

    up: bool | None = None
    since: float = 0.0
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    last_success: float | None = None
    outage_start: float | None = None  # the current or most recent outage the monitor saw
    outage_seconds: float = 0.0  # its length as of the last run (final once it ended)
    resumed: bool = False  # restored from the state file, no run since
    last_run_end: float | None = None  # the previous run's end, to see the monitor's gaps


@dataclass(frozen=True, slots=True)
class Thresholds:
    failures: int = 1
    successes: int = 1


def record(
    series: ProbeSeries,
    state: ProbeState,
    log: Any,
    result: ProbeResult,
    duration: float,
    started: float,
    timezone: str,
    thresholds: Thresholds = Thresholds(),
    interval: float = 0.0,
    ended: float | None = None,
) -> None:
    """``interval``: the probe's schedule, to tell a run missed by the monitor (a stalled
    daemon) from the next run; 0 when unknown. ``ended``: when the run's verdict was known,
    after every retry (``started + duration`` when there were none)."""
    hours = hours_label_at(started, timezone)
    end = started + duration if ended is None else ended
    series.observe(result, duration, hours, end)
    reason = result.reason.value if result.reason else ""
    advance(state, result.success, started, end, interval)
    if state.outage_start is not None:
        series.set_outage(state.outage_start, state.outage_seconds)
    confirmed = (state.consecutive_successes >= thresholds.successes if result.success
                 else state.consecutive_failures >= thresholds.failures)
    if confirmed and state.up is not result.success:
        _log_change(log, state, result, reason, started)
        state.up = result.success
        state.since = started
    if state.up is not None:
        series.set_up(state.up)
    log.debug("probe run", success=result.success, reason=reason, detail=result.detail,
              duration=round(duration, 6), hours=hours)


def advance(state: ProbeState, success: bool, started: float, ended: float,
            interval: float = 0.0) -> None:
    """One run's effect on the state before any confirmation: its outage, the streak
    counters and the last success."""
    _track_outage(state, success, started, ended, interval)
    if success:
        state.last_success = ended
        state.consecutive_successes += 1
        state.consecutive_failures = 0
    else:
        state.consecutive_failures += 1
        state.consecutive_successes = 0


def _track_outage(state: ProbeState, success: bool, started: float, ended: float,
                  interval: float) -> None:
    """Update the outage from one run; reads the streak counters as they were before it."""
    start, failing = state.outage_start, state.consecutive_failures > 0
    gap = None if state.last_run_end is None else started - state.last_run_end
    # A run normally starts within an interval of the previous one's end; one that ran
    # late past that (the previous slot's run overran, or some lag) is still continuous.
    away = state.resumed or (interval > 0 and gap is not None and gap > 1.5 * interval)
    # Failing at both ends of a gap is presumed failing across it only for a short gap (a
    # restart, an upgrade): a long one may hide a recovery nobody saw.
    bridged = not away or gap is None or gap <= interval + BRIDGE_SECONDS
    state.last_run_end = ended
    state.resumed = False
    if success:
        if failing and start is not None and not away:
            # It ended at the latest when this run started; if the monitor was away since
            # the last failure, its length stays what the monitor measured before the gap.
            state.outage_seconds = max(0.0, started - start)  # the clock may step back
        return
    if start is None or not failing or not bridged:  # a new outage
        # From the end of the success seen just before, if the monitor saw it just before.
        last = state.last_success
        start = state.outage_start = last if last is not None and not away else started
    state.outage_seconds = max(0.0, ended - start)


def _log_change(log: Any, state: ProbeState, result: ProbeResult, reason: str,
                started: float) -> None:
    was = "unknown" if state.up is None else ("up" if state.up else "down")
    if state.up is None and result.success:
        log.debug("probe up", state="up", previous=was)  # startup: not a change worth a line
    elif result.success:
        log.warning("probe recovered", state="up", previous=was,
                    down_for=round(started - state.since, 3))
    else:
        log.warning("probe failing", state="down", previous=was, reason=reason,
                    detail=result.detail, consecutive_failures=state.consecutive_failures)
