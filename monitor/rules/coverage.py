"""Coverage: the share of scheduled runs that really happened, per service and location.

A run is due every probe interval (``dozor_probe_interval_seconds``) for as long as the
probe is in a daemon's catalog, including while that daemon is down. Its series are then
stale and absent, so each daemon's schedule is carried forward from its own last recorded
value (``CARRY_LOOKBACK`` back, evaluation after evaluation) until the daemon is scraped
again, another daemon of the location takes the service over, or the daemon has been gone
for the standard's window (a decommissioned location stops counting). This is per daemon,
not per location: one shard of a location down is an absence though its siblings are up.
A schedule seen for the first time owes runs from one interval later, so a new probe, daemon
or Prometheus does not start with a dip. Runs done are ``dozor:location_probe_events:
increase5m``, 0 where runs are due and none came.

Windows sum both counts over their evaluations (``windows.chain``: 1h from the 5m counts,
1d from the 1h sums, the standard's window from the 1d sums; ``:sum<w>`` are such sums, only
their ratio means anything) and divide only then. Not each 5m ratio: a 5m ``increase`` of a
probe run every 5 minutes or more is 0 or above 1 by the sampling alone, so clamping each
would read a healthy probe as partly missed. Sums, not ``avg_over_time × factor`` as the
availability windows: an average extrapolates what it has over what it lacks, so the first
minutes of a history would weigh as much as a whole window. Both counts have a sample at
every evaluation while runs are due (0 runs during an absence), so an absence is counted,
never passed over.

A service's coverage is the location quorum of its locations' (``monitor.promql.quorum``):
the coverage a strict majority of them reached, as the availability figures are what a
majority of them agree on.
"""

from __future__ import annotations

from monitor.metric_names import PROBE_INTERVAL_SECONDS
from monitor.promql import (
    CARRY_LOOKBACK,
    COVERAGE_STEP,
    HOUR,
    Record,
    daemon_runs_due,
    daemon_seen_now,
    duration,
    quorum,
    while_away,
)
from monitor.rules.windows import Windows

SCHEDULE = "dozor:daemon_schedule_runs:5m"
FROM = "dozor:daemon_runs_due_from_timestamp_seconds"
LAST_SEEN = "dozor:daemon_last_seen_timestamp_seconds"
DUE, DONE = "dozor:location_runs_due:{}", "dozor:location_runs_done:{}"


def _first_due() -> str:
    """Per (service, location, daemon) exporting its schedule now: from when its runs would be
    due if it were new, one interval after it was scraped (the latest over its probes). By
    then a working probe has run, wherever its start falls on its grid, so a new probe never
    reads as having missed a run."""
    return (f"max without (probe) (timestamp({PROBE_INTERVAL_SECONDS}) + "
            f"{PROBE_INTERVAL_SECONDS})")


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def coverage_5m(windows: Windows) -> list[Record]:
    """For ``dozor.sli.5m``, in order: each rule reads what the ones above recorded at the
    same evaluation."""
    carried = while_away(f"last_over_time({SCHEDULE}[{CARRY_LOOKBACK}])")
    due = (f"sum by (service, location) (\n"
           f"  clamp(time() - {FROM}, 0, {COVERAGE_STEP}) / {COVERAGE_STEP}\n"
           f"  * {SCHEDULE}\n)")
    return [
        # When each daemon was last scraped, kept for the window after it went away.
        Record(LAST_SEEN, f"{daemon_seen_now()}\nor\n"
                          f"(last_over_time({LAST_SEEN}[{CARRY_LOOKBACK}]) "
                          f"> time() - {windows.standard})"),
        # The runs each daemon's schedule asks for in 5 minutes, per service and location;
        # carried while the daemon is away, for at most the window after it was last seen.
        Record(SCHEDULE, f"{daemon_runs_due()}\nor\n(\n{_indent(carried)}\n"
                         f"  and ignoring (service, location) {LAST_SEEN}\n)"),
        # From when runs are due: one interval after the schedule was first seen (the same
        # daemon's, carried with it), so a new probe, daemon or Prometheus starts with none
        # missed.
        Record(FROM, f"last_over_time({FROM}[{CARRY_LOOKBACK}]) and {SCHEDULE}\n"
                     f"or\n{_first_due()}"),
        Record(DUE.format("increase5m"), due),
        Record(DONE.format("increase5m"),
               'sum without (hours) (dozor:location_probe_events:increase5m{hours="all"})\n'
               f"  and on (service, location) {DUE.format('increase5m')}\n"
               f"or\n{DUE.format('increase5m')} * 0"),
    ]


def coverage_window(window: int, base: int) -> list[Record]:
    """Over ``window`` from the ``base`` counts (``windows.chain``): due and done sums, then
    the location's coverage and the service's quorum of it. ``:window`` is read in
    ``dozor.ranking``."""
    w = duration(window)
    location = f"dozor:location_coverage:{w}"
    return [
        *(Record(_sum(name, w), f"sum_over_time({_counts(name, base)}[{w}])")
          for name in (DUE, DONE)),
        # Done can exceed due by the sampling of increase (and a daemon that ran while
        # Prometheus could not see it); never more than every run.
        Record(location, f"clamp_max(\n  {_sum(DONE, w)}\n  / ({_sum(DUE, w)} > 0)\n, 1)"),
        Record(f"dozor:service_coverage:{w}", quorum(location, ("service",))),
    ]


def _sum(name: str, window: str) -> str:
    return name.format(f"sum{window}")


def _counts(name: str, base: int) -> str:
    return name.format("increase5m") if base < HOUR else _sum(name, duration(base))
