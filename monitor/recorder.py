"""What happens after a probe run: metrics, the up/down state, and a log line per change."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from monitor.hours import hours_label
from monitor.metrics import ProbeSeries
from probes import ProbeResult


@dataclass(slots=True)
class ProbeState:
    """Kept across reloads for unchanged probes; ``up`` is None until the first verdict."""

    up: bool | None = None
    since: float = 0.0
    last_reason: str = ""


def record(
    series: ProbeSeries,
    state: ProbeState,
    log: Any,
    result: ProbeResult,
    duration: float,
    started: float,
    timezone: str,
) -> None:
    hours = hours_label(dt.datetime.fromtimestamp(started, dt.UTC), timezone)
    series.observe(result, duration, hours, started + duration)
    reason = result.reason.value if result.reason else ""
    if state.up is not result.success:
        was = "unknown" if state.up is None else ("up" if state.up else "down")
        now = "up" if result.success else "down"
        event = "probe recovered" if now == "up" else "probe failing"
        if state.up is None and result.success:
            log.debug("probe up", state=now, previous=was)  # startup: not a change worth a line
        elif result.success:
            log.warning(event, state=now, previous=was, down_for=round(started - state.since, 3))
        else:
            log.warning(event, state=now, previous=was, reason=reason, detail=result.detail)
        state.up = result.success
        state.since = started
    log.debug("probe run", success=result.success, reason=reason, detail=result.detail,
              duration=round(duration, 6), hours=hours)
    state.last_reason = reason
