"""Formulas the rules and the report both compute, written once: the report inlines them
over a calendar month where the rules record them (``monitor.rules.sli``).
"""

from __future__ import annotations

from monitor.metric_names import PROBE_OUTAGE_START_TIMESTAMP_SECONDS, PROBE_SUCCESS
from monitor.promql.expr import braces


def location_outage_seconds(*matchers: str) -> str:
    """Per (service, location): how long the service has been failing as the monitor saw it,
    0 while its last run succeeded, absent before any run of this daemon's life.

    The daemon exports the outage's start (``monitor.runtime.confirmation``: never before a
    gap in its own measurements) and the last run's verdict; an outage is ongoing while that
    verdict is a failure. A restored daemon exports no verdict until its first run, so the
    time it was away never shows as an outage, whatever its length.
    """
    sel = braces(*matchers)
    return (f"max by (service, location) (\n"
            f"  (time() - {PROBE_OUTAGE_START_TIMESTAMP_SECONDS}{sel})\n"
            f"    and on (service, probe, location) ({PROBE_SUCCESS}{sel} == 0)\n"
            f"  or\n"
            f"  {PROBE_SUCCESS}{sel} * 0\n"
            f")")
