"""PromQL shared by the generators that write it: the rules (``monitor.rules``), the
escalation rules (``monitor.alertmanager``) and the report's queries (``monitor.report``).

- ``expr``: expression building blocks (label lists, selectors, the location quorum) and
  Prometheus duration strings;
- ``rulefile``: the typed model of a Prometheus rule file (``Group`` of ``Record``/``Alert``);
- ``formulas``: what the rules record and the report recomputes, defined once.

A leaf of its own: it imports nothing else from ``monitor`` (import-linter checks it), so any
generator may use it without reaching into another generator.
"""

from __future__ import annotations

from monitor.promql.expr import DAY, HOUR, MINUTE, braces, by, duration, quorum
from monitor.promql.formulas import (
    CARRY_LOOKBACK,
    COVERAGE_STEP,
    COVERAGE_THRESHOLD,
    daemon_present,
    daemon_runs_due,
    daemon_seen_now,
    location_down,
    location_down_own,
    location_outage_seconds,
    while_away,
)
from monitor.promql.rulefile import Alert, Group, Record

__all__ = ["CARRY_LOOKBACK", "COVERAGE_STEP", "COVERAGE_THRESHOLD", "DAY", "HOUR", "MINUTE",
           "Alert", "Group", "Record", "braces", "by", "daemon_present", "daemon_runs_due",
           "daemon_seen_now", "duration", "location_down", "location_down_own",
           "location_outage_seconds", "quorum",
           "while_away"]
