"""Synthetic probe history for rule and report tests: what the daemon would export after
each run, computed by the daemon's own outage logic (``monitor.runtime.confirmation``) so a
test's input series cannot drift from what a real daemon exports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from monitor.runtime.confirmation import ProbeState, advance


@dataclass(frozen=True, slots=True)
class Exported:
    """The outage gauges after a run: ``start`` 0 until the first outage (the daemon leaves
    the series absent; 0 is filtered out by every formula since no run failed yet)."""

    start: float
    seconds: float


def outages(runs: Iterable[tuple[float, bool]], duration: float,
            interval: float) -> list[Exported]:
    """One ``Exported`` per (start time, success) run, in order, scheduled every
    ``interval`` seconds (a longer pause between runs is the daemon stalling)."""
    state, out = ProbeState(), []
    for started, ok in runs:
        advance(state, ok, started, started + duration, interval)
        out.append(Exported(state.outage_start or 0.0, state.outage_seconds))
    return out
