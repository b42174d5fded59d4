"""The report's PromQL: the formulas of the generated rules (``monitor/rules/sli.py``),
inlined over the calendar month instead of read from the ``:window`` recordings.

Why not the recordings: ``dozor:service_availability:window`` and friends cover the rolling
standard window ending at evaluation time, not a calendar month, and backfilled or freshly
loaded history has no recordings at all. So each 5-minute step is computed exactly as the
``dozor.sli.5m`` group computes it (per-location counts, the location quorum, failures =
quorum ratio × quorum events, maintenance-excluded steps dropped) and the month is the sum
of its 5-minute steps (a subquery at the 5m step: every run counted once, where the rules'
overlapping 30s evaluations count each run ten times; the ratio is the same).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.metric_names import (
    BROWSER_ACCESSIBILITY_VIOLATIONS,
    MAINTENANCE_ACTIVE,
    PROBE_DURATION_SECONDS,
    PROBE_INTERVAL_SECONDS,
    PROBE_LAST_OUTAGE_SECONDS,
    PROBE_OUTAGE_START_TIMESTAMP_SECONDS,
    PROBE_SUCCESS,
    PROBES_TOTAL,
    SERVICE_WINDOW_SECONDS,
)
from monitor.promql import (
    CARRY_LOOKBACK,
    braces,
    daemon_runs_due,
    daemon_seen_now,
    duration,
    quorum,
    while_away,
)
from monitor.report.model import BARRIERS

SVC = ("service",)
FIVE = "5m"


def service_matcher(services: Sequence[str]) -> str:
    """``service=~"a|b"`` for a chunk of service ids (regex-escaped, PromQL-quoted)."""
    alternatives = "|".join(re.sub(r"([.+*?()|\[\]{}^$\\])", r"\\\1", s) for s in services)
    return 'service=~"' + alternatives.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _location_runs(svc: str, hours: str, *matchers: str) -> str:
    """Runs per location in one 5m step: ``dozor:location_probe_events:increase5m``."""
    sel = braces(svc, 'hours="offhours"' if hours == "offhours" else "", *matchers)
    return f"sum by (service, location) (increase({PROBES_TOTAL}{sel}[{FIVE}]))"


def step_events(svc: str, hours: str, excluded: bool) -> str:
    """The service's runs in one 5m step: ``dozor:service_probe_events:increase5m``."""
    return _maintenance(quorum(_location_runs(svc, hours), SVC), svc, excluded)


def step_failures(svc: str, hours: str, excluded: bool) -> str:
    """``dozor:service_probe_failures:increase5m``: quorum ratio × quorum events."""
    runs = _location_runs(svc, hours)
    failed = _location_runs(svc, hours, 'result="failure"')
    ratio = f"{failed}\n/\n({runs} > 0)"
    return _maintenance(f"({quorum(f'({ratio})', SVC)})\n* ({quorum(runs, SVC)})", svc,
                        excluded)


def _maintenance(expr: str, svc: str, excluded: bool) -> str:
    if not excluded:
        return expr
    # Maintenance excluded: the 5m steps under announced maintenance are not events at all.
    return (f"({expr})\nunless on (service) "
            f"(max by (service) ({MAINTENANCE_ACTIVE}{braces(svc)}) == 1)")


def over(expr: str, seconds: int, step: int = 300, fn: str = "sum_over_time") -> str:
    """Sum (or ``fn``) of ``expr`` over the ``seconds`` before the evaluation time, one value
    per step. The range is one second short so the step at the very start (which covers the
    step before the period) is left out."""
    return f"{fn}((\n{expr}\n)[{seconds - 1}s:{duration(step)}])"


def latency_p95(svc: str, seconds: int) -> str:
    """``dozor:service_latency_p95_seconds``: quantile of the period's bucket increases per
    location (only where some run was observed), then the location quorum."""
    buckets = over(f"sum by (service, location, le) "
                   f"(increase({PROBE_DURATION_SECONDS}_bucket{braces(svc)}[{FIVE}]))",
                   seconds)
    # Buckets are cumulative, so their sum is > 0 exactly when the +Inf bucket is.
    location = (f"histogram_quantile(0.95, {buckets})\n"
                f"and on (service, location) (sum by (service, location) ({buckets}) > 0)")
    return quorum(f"({location})", SVC)


def outage_probes(svc: str, seconds: int) -> str:
    """The probes with any outage in the period (``monitor.report.outages``): one that began
    or ended in it, or a failed run in it. One pass over the period, so the per-step queries
    below only read the few probes that had one."""
    sel, period = braces(svc), f"{seconds}s"
    return (f"group by (service) (\n"
            f"  changes({PROBE_OUTAGE_START_TIMESTAMP_SECONDS}{sel}[{period}]) > 0\n"
            f"  or changes({PROBE_LAST_OUTAGE_SECONDS}{sel}[{period}]) > 0\n"
            f"  or min_over_time({PROBE_SUCCESS}{sel}[{period}]) == 0\n)")


def _near_outage(sel: str, step: int) -> str:
    # Further back than a step, so scrapes sparser than it still show a change (changes()
    # needs two samples in its range).
    near = duration(10 * step)
    return (f"min_over_time({PROBE_SUCCESS}{sel}[{near}]) == 0\n"
            f"  or changes({PROBE_LAST_OUTAGE_SECONDS}{sel}[{near}]) > 0")


def outage_steps(metric: str, svc: str, step: int) -> str:
    """A per-probe gauge as last scraped in each step, only at steps where the probe was
    failing or its outage length moved (``monitor.report.outages``): a 20 s outage between
    two steps still shows, with its final length once a run succeeded."""
    sel = braces(svc)
    return (f"last_over_time({metric}{sel}[{duration(step)}])\n"
            f"and on (service, probe, location) (\n  {_near_outage(sel, step)}\n)")


def measuring_locations(svc: str, step: int) -> str:
    """Per service, how many locations measured it in each step (its quorum's size then),
    only at the steps near one of its outages."""
    sel = braces(svc)
    return (f"count by (service) (\n"
            f"  group by (service, location) (last_over_time({PROBE_SUCCESS}{sel}"
            f"[{duration(step)}]))\n)\n"
            f"and on (service) group by (service) (\n  {_near_outage(sel, step)}\n)")


def last_value(metric: str, svc: str, seconds: int, by: str = "service") -> str:
    """A catalog fact as last exported in the period (objectives may change mid-month)."""
    return f"max by ({by}) (last_over_time({metric}{braces(svc)}[{seconds}s]))"


def info(metric: str, seconds: int) -> str:
    return f"last_over_time({metric}[{seconds}s])"


# --- coverage (monitor.report.coverage) -------------------------------------------------------

def step_due(svc: str) -> str:
    """Per (service, location): the runs due in one 5m step while a daemon exports the
    schedule (``dozor:location_runs_due:increase5m`` without its carry over absences, which
    ``monitor.report.coverage`` adds from the steps below)."""
    return f"sum by (service, location) ({daemon_runs_due(svc)})"


def step_dropped(svc: str) -> str:
    """Per (service, location, daemon): the schedule of a daemon that went away within the
    carry's lookback, as the rules start carrying it; a step or two of it per absence."""
    return while_away(daemon_runs_due(svc, lookback=CARRY_LOOKBACK), svc)


def step_done(svc: str) -> str:
    """``dozor:location_runs_done:increase5m``: runs in one 5m step where runs are due (a
    daemon that has just gone away still counts the runs it made before)."""
    scheduled = f"{daemon_runs_due(svc)}\nor\n{step_dropped(svc)}"
    return (f"{_location_runs(svc, 'all')}\n"
            f"and on (service, location) (\n{scheduled}\n)")


def step_appeared(svc: str) -> str:
    """Per (service, location): 1 at a step where some daemon exports its schedule and none
    did a step before (back from an absence, or taken over by another daemon)."""
    now = f"group by (service, location) ({PROBE_INTERVAL_SECONDS}{braces(svc)})"
    before = f"group by (service, location) ({PROBE_INTERVAL_SECONDS}{braces(svc)} offset {FIVE})"
    return f"{now}\nunless\n{before}"


def daemons_last_seen(seconds: int) -> str:
    """Per daemon: the last 5m step it was scraped in the ``seconds`` before evaluation."""
    return f"max_over_time(({daemon_seen_now()})[{seconds}s:{FIVE}])"


def window_seconds(seconds: int) -> str:
    """The standard's window as exported in the period (it is national: one value)."""
    return f"max(last_over_time({SERVICE_WINDOW_SECONDS}[{seconds}s]))"


# --- accessibility (services whose probes export an audit) -----------------------------------
# The gauge holds each probe's last audit (violated rules per impact) until the next one, so
# read at a step it is the page as last audited. Per service the worst page is taken: every
# probe and location (one page audited from several places is the same markup; one that
# differs was served differently, and some citizen got it).

def accessibility_worst(svc: str, seconds: int) -> str:
    """Per (service, impact): the most violations any of its audits had in the period, every
    scraped value read (not only the 5m steps): a one-audit spike is still the month's worst."""
    sel = braces(svc)
    return (f"max by (service, impact) "
            f"(max_over_time({BROWSER_ACCESSIBILITY_VIOLATIONS}{sel}[{seconds}s]))")


def accessibility_last(svc: str, seconds: int) -> str:
    """Per (service, impact): the worst page at the period's last step with an audit. Not
    each series' last value: a probe or daemon gone mid-month would keep its old findings in
    the service's figure after pages audited since had them fixed."""
    worst = f"max by (service, impact) ({BROWSER_ACCESSIBILITY_VIOLATIONS}{braces(svc)})"
    return over(worst, seconds, fn="last_over_time")


def accessibility_steps(svc: str, seconds: int, barrier_free: bool) -> str:
    """Per service: the period's 5m steps at which it had an audit; with ``barrier_free``,
    only those at which no audited page had a violation of a barrier impact."""
    impacts = 'impact=~"' + "|".join(BARRIERS) + '"'
    worst = f"max by (service) ({BROWSER_ACCESSIBILITY_VIOLATIONS}{braces(svc, impacts)})"
    return over(f"{worst} == 0" if barrier_free else worst, seconds, fn="count_over_time")


# --- platform attribution (monitor.report.collect) --------------------------------------------
# A service's failed runs in a 5-minute step are the platform's, not its own, as far as the
# platform's own failures explain them: per step,
#
#     attributed = min(dependent failure ratio, platform failure ratio) × runs
#
# where runs is the step's quorum runs of the service (as ``step_events``), the dependent
# failure ratio is the location quorum of (failed runs of the service's probes that go through
# the platform) / (all the service's runs) at each location, and the platform failure ratio is
# the location quorum of the platform's own failed/all runs in the step (its own locations).
# So a platform down the whole step excuses every failure of the probes that depend on it, a
# platform failing one run in five excuses a fifth of the service's runs at most, a healthy
# platform (or one without runs in the step) excuses nothing, and failures of probes that do
# not go through the platform are never excused. A probe depends on its service's platforms
# and on its own ``depends_on`` (``Catalog.dependencies``).


@dataclass(frozen=True, slots=True)
class Dependents:
    """The services of a chunk going through one platform: wholly (every probe) or through
    some probes only (probe name -> services)."""

    platform: str
    services: tuple[str, ...] = ()
    probes: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(sorted({*self.services, *(s for _, ids in self.probes for s in ids)}))


def _dependent_failed(d: Dependents) -> str:
    """Per (service, location): the step's failed runs of the probes going through it."""
    terms = []
    if d.services:
        terms.append(braces(service_matcher(d.services), 'result="failure"'))
    for probe, ids in d.probes:
        terms.append(braces(service_matcher(ids), f'probe="{probe}"', 'result="failure"'))
    return "sum by (service, location) (\n  " + "\n  or ".join(
        f"increase({PROBES_TOTAL}{sel}[{FIVE}])" for sel in terms) + "\n)"


def platform_ratio(platform: str) -> str:
    """The platform's failure ratio in one step (location quorum), without labels, so every
    dependent compares with it."""
    svc = service_matcher([platform])
    runs, failed = _location_runs(svc, "all"), _location_runs(svc, "all", 'result="failure"')
    return f"max without (service) ({quorum(f'({failed} / ({runs} > 0))', SVC)})"


def step_attributed(d: Dependents, excluded: bool) -> str:
    """Per dependent service: its failed runs in one step that the platform explains (the
    rule above)."""
    svc = service_matcher(d.ids)
    runs = _location_runs(svc, "all")
    positive = f"({runs} > 0)"
    ratio = quorum(f"(({_dependent_failed(d)} / {positive}) or {positive} * 0)", SVC)
    platform = platform_ratio(d.platform)
    smaller = (f"(({ratio}) <= on () group_left () ({platform}))\n"
               f"or\n(({ratio}) * 0 + on () group_left () ({platform}))")
    return _maintenance(f"({smaller})\n* on (service) ({quorum(runs, SVC)})", svc, excluded)


def _labelled(parts: Sequence[Dependents], excluded: bool) -> str:
    return "\nor\n".join(f'label_replace({step_attributed(d, excluded)}, "platform", '
                         f'"{d.platform}", "", "")' for d in parts)


def attributed_by_platform(parts: Sequence[Dependents], seconds: int) -> str:
    """Per (service, platform): the failed runs over the period the platform explains
    (maintenance counted, as measured)."""
    return over(_labelled(parts, False), seconds)


def attributed_any(parts: Sequence[Dependents], seconds: int, excluded: bool) -> str:
    """Per service: the failed runs over the period some platform explains. Two platforms
    failing in one step explain as much as the one explaining more: a run is excused once."""
    return over(f"max by (service) (\n{_labelled(parts, excluded)}\n)", seconds)
