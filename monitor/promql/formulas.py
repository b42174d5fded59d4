"""Formulas the rules record and the report recomputes, written once: the report inlines
them over a calendar month (``monitor.report``) where the rules record them
(``monitor.rules.sli``, ``monitor.rules.coverage``). The report's outages come from the same
gauges as ``location_outage_seconds`` (``monitor.report.outages``); its test evaluates this
formula against them.
"""

from __future__ import annotations

from monitor.metric_names import (
    BUILD_INFO,
    PROBE_INTERVAL_SECONDS,
    PROBE_LAST_OUTAGE_SECONDS,
    PROBE_OUTAGE_START_TIMESTAMP_SECONDS,
    PROBE_SUCCESS,
    PROBE_UP,
)
from monitor.promql.expr import braces

# Below this share of its scheduled runs done over the window (the report: the month), a
# service's figures describe too little of the period to judge it: its verdict is "not
# enough data" rather than met or broken, and it is left out of the rankings. 90 % leaves
# room for restarts and a bad day (three days of a 30-day month) and no more.
COVERAGE_THRESHOLD = 0.9
# The step every coverage count is made in: the 5m SLI recordings and the report's steps.
COVERAGE_STEP = 300
# How long a coverage count is carried over its daemon's absence by looking back at its own
# (or the raw series') last value: several evaluations of the 30s group, and a Prometheus
# restart, fit in it; one absence is carried from evaluation to evaluation indefinitely.
CARRY_LOOKBACK = "10m"
# An ongoing outage is counted up to this many intervals past its length at the last run.
OUTAGE_SLACK_INTERVALS = 1.5


def location_outage_seconds(*matchers: str) -> str:
    """Per (service, location): how long the service has been failing as the monitor saw it,
    0 while its last run succeeded, absent before any run of this daemon's life.

    The daemon exports the outage's start (``monitor.runtime.confirmation``: never before a
    gap in its own measurements), its length as of the last run, and the last run's
    verdict; an outage is ongoing while that verdict is a failure. A restored daemon exports
    no verdict until its first run, so the time it was away never shows as an outage,
    whatever its length. Between runs the outage grows with the clock, but never more than
    half an interval past the next run's due end: a daemon still scraped but no longer
    running the probe (stalled) does not make an outage of the time it did not measure.
    """
    sel = braces(*matchers)
    cap = (f"{PROBE_LAST_OUTAGE_SECONDS}{sel} + {OUTAGE_SLACK_INTERVALS:g} * "
           f"{PROBE_INTERVAL_SECONDS}{sel}")
    return (f"max by (service, location) (\n"
            f"  (\n"
            f"    (time() - {PROBE_OUTAGE_START_TIMESTAMP_SECONDS}{sel}) <= ({cap})\n"
            f"    or\n"
            f"    {cap}\n"
            f"  )\n"
            f"    and on (service, probe, location) ({PROBE_SUCCESS}{sel} == 0)\n"
            f"  or\n"
            f"  {PROBE_SUCCESS}{sel} * 0\n"
            f")")


def location_down(*matchers: str) -> str:
    """Per (service, location): 1 while any of the service's probes there is confirmed down
    (``dozor_probe_up`` has the failure and success thresholds applied), else 0. The
    service's state is the location quorum of this (``dozor:service_down``)."""
    return f"1 - min by (service, location) ({PROBE_UP}{braces(*matchers)})"


def location_down_own(excused: str, *matchers: str) -> str:
    """Per (service, location): ``location_down`` counting only the probes ``excused`` (a
    vector by service and probe: those going through a shared platform that is down) does not
    name. An excused probe counts as up, so a location where every down probe is excused is
    0, not absent (absent would drop it from the quorum). The service's own state is the
    location quorum of this (``dozor:service_down_own``)."""
    up = f"{PROBE_UP}{braces(*matchers)}"
    # Duplicates (an unexcused probe on both sides of ``or``) do not matter under min.
    return (f"1 - min by (service, location) (\n"
            f"  {up} unless on (service, probe) ({excused})\n"
            f"  or\n"
            f"  {up} * 0 + 1\n"
            f")")


def daemon_present() -> str:
    """One series per daemon while Prometheus scrapes it (every daemon exports its build,
    with or without probes). Its target labels (``instance``, ``job`` and whatever the
    scrape or remote write adds) name the daemon; version and Python are dropped so an
    upgrade is the same daemon."""
    return f"max without (version, python) ({BUILD_INFO})"


def daemon_seen_now() -> str:
    """Per daemon scraped now: the time (a last-seen timestamp once it is carried)."""
    return f"timestamp({daemon_present()})"


def daemon_runs_due(*matchers: str, lookback: str = "") -> str:
    """Per (service, location, daemon): the runs its schedule asks for in one
    ``COVERAGE_STEP``, from each probe's interval. With ``lookback``, from the intervals last
    exported within it (a daemon that has just gone away still owes its runs)."""
    interval = f"{PROBE_INTERVAL_SECONDS}{braces(*matchers)}"
    if lookback:
        interval = f"last_over_time({interval}[{lookback}])"
    return f"sum without (probe) ({COVERAGE_STEP} / {interval})"


def while_away(carried: str, *matchers: str) -> str:
    """``carried`` (runs due per service, location and daemon) only while that daemon is not
    scraped and no other daemon of the location probes the service: a daemon that is up and
    no longer exports a service had it removed (reload), and a service another daemon took
    over (a restarted pod under a new address, a new shard) is due there, not twice."""
    return (f"{carried}\n"
            f"unless ignoring (service, location) {daemon_present()}\n"
            f"unless on (service, location) {PROBE_INTERVAL_SECONDS}{braces(*matchers)}")
