"""What happens after a probe run: metrics, the confirmed up/down state, a log line per change.

Confirmation (Gatus's thresholds): the state turns *down* after ``failure_threshold``
consecutive failed runs and *up* after ``success_threshold`` consecutive successful runs.
Before the first confirmation the state is unknown and ``dozor_probe_up`` is absent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from monitor.localtime.hours import hours_label
from monitor.serving.metrics import ProbeSeries
from probes import ProbeResult


@dataclass(slots=True)
class ProbeState:
    """Kept across reloads for unchanged probes; ``up`` is None until the first confirmation."""

    up: bool | None = None
    since: float = 0.0
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    last_success: float | None = None


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
) -> None:
    hours = hours_label(dt.datetime.fromtimestamp(started, dt.UTC), timezone)
    series.observe(result, duration, hours, started + duration)
    reason = result.reason.value if result.reason else ""
    if result.success:
        state.last_success = started + duration
        state.consecutive_successes += 1
        state.consecutive_failures = 0
        confirmed = state.consecutive_successes >= thresholds.successes
    else:
        state.consecutive_failures += 1
        state.consecutive_successes = 0
        confirmed = state.consecutive_failures >= thresholds.failures
    if confirmed and state.up is not result.success:
        _log_change(log, state, result, reason, started)
        state.up = result.success
        state.since = started
    if state.up is not None:
        series.set_up(state.up)
    log.debug("probe run", success=result.success, reason=reason, detail=result.detail,
              duration=round(duration, 6), hours=hours)


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
