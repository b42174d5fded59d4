"""One service: availability and budget, outages, latency, hours of the week, certificate,
locations; announced maintenance as annotations."""

from __future__ import annotations

from monitor.dashboards.model import Annotation, Dashboard, Panel, Query, Threshold, Variable
from monitor.dashboards.parts import (
    AVAILABILITY,
    BARS,
    BUDGET,
    COVERAGE,
    FILTERED,
    FILTERS,
    GREEN,
    LEGEND,
    MERGE,
    ORANGE,
    RED,
    STAT,
    TABLE,
    TIMELINE,
    UP,
    UP_DOWN,
    info_variable,
    organize,
    up_down_cells,
)
from monitor.metric_names import (
    BROWSER_ACCESSIBILITY_VIOLATIONS,
    BROWSER_PAGE_PROBLEMS,
    BROWSER_WEB_VITAL_SECONDS,
    MAINTENANCE_ACTIVE,
    PROBE_LAST_SUCCESS_TIMESTAMP_SECONDS,
    PROBE_PHASE_SECONDS,
    PROBE_SUCCESS,
    PROBE_UP,
    PROBES_TOTAL,
    TLS_CERT_EXPIRY_TIMESTAMP_SECONDS,
)
from monitor.promql import COVERAGE_THRESHOLD

SVC = 'service="$service"'
DAY = 86400
CERT = (Threshold(RED), Threshold(ORANGE, 7 * DAY), Threshold(GREEN, 21 * DAY))
OUTAGE = (Threshold(GREEN), Threshold(RED, 3600))
BUDGET_LEFT = (f"1 - (1 - dozor:service_availability:window{{{SVC}}})\n"
               f"/ on (service) dozor:service_error_budget{{{SVC}}}")
SERVICE = info_variable("service", "Service", multi=False, filters=FILTERED)
# Prometheus knows UTC only; the map is read in the service's local time by this offset.
TZ_OFFSET = Variable("tzoffset", "UTC offset of the map, hours",
                     values=tuple(str(h) for h in range(2, 13)), default="3")


def hour_of_week(selector: str) -> str:
    """Runs matching ``selector`` summed per hour of the week over the dashboard's range.

    A subquery steps through the range hour by hour; at each step the hour just ended gets a
    label ``how`` = ISO weekday × 100 + hour (``305`` is Wednesday 05:00–06:00 local), made
    by ``count_values`` from ``day_of_week()``/``hour()`` of the step's time; joining the
    hour's run count onto that one-series vector and summing over time groups the counts by
    hour of the week in one query, rather than one query per cell.
    """
    at = "vector(time() - 3600 + $tzoffset * 3600)"
    how = f"((day_of_week({at}) + 6) % 7 + 1) * 100 + hour({at})"
    return (f"sum_over_time((\n  sum(increase({PROBES_TOTAL}{{{selector}}}[1h]))\n"
            f'  * on () group_right ()\n  count_values("how", {how})\n)[$__range:1h])')


def hour_of_week_availability() -> str:
    failures = hour_of_week(f'{SVC},result="failure"')
    ratio = (f"1 - (\n{failures}\n"
             f"/ on (how)\n({hour_of_week(SVC)} > 0)\n)")
    return (f'label_replace(label_replace(\n{ratio},\n'
            f'"day", "$1", "how", "(.).."), "hour", "$1", "how", ".(..)")')


def _hours_availability(hours: str) -> str:
    selector = f'{SVC},hours="{hours}"'
    runs = f"sum(increase({PROBES_TOTAL}{{{selector}}}[$__range]))"
    failed = f'sum(increase({PROBES_TOTAL}{{{selector},result="failure"}}[$__range]))'
    return f"1 - {failed}\n/ ({runs} > 0)"


def _location(metric: str) -> str:
    return f"max by (probe, location) ({metric}{{{SVC}}})"


def _browser_panel(title: str, metric: str, label: str, width: int, description: str,
                   unit: str = "") -> Panel:
    """A browser kind's last-run gauge per probe and ``label``, the worst location."""
    return Panel(
        title, "timeseries",
        (Query(f"max by (probe, {label}) ({metric}{{{SVC}}})", f"{{{{probe}}}} {{{{{label}}}}}"),),
        width=width, height=8, unit=unit, options=LEGEND, may_be_empty=True,
        description=description)


def service() -> Dashboard:
    availability = Panel(
        "Availability over the standard's window", "stat",
        (Query(f"dozor:service_availability:window{{{SVC}}}", "availability", instant=True),
         Query(f"dozor:service_availability_objective{{{SVC}}}", "objective", instant=True)),
        width=5, height=6, unit="percentunit", decimals=3, thresholds=AVAILABILITY,
        options=STAT)
    budget = Panel(
        "Error budget remaining", "stat",
        (Query(BUDGET_LEFT, "budget left", instant=True),),
        width=5, height=6, unit="percentunit", decimals=1, thresholds=BUDGET, options=STAT,
        description="Share of the window's error budget (1 − objective) not yet spent; "
                    "below 0 the service breaks the standard.")
    offhours = Panel(
        "Off-hours availability over the window", "stat",
        (Query(f"dozor:service_offhours_availability:window{{{SVC}}}", "off-hours",
               instant=True),),
        width=5, height=6, unit="percentunit", decimals=3, thresholds=AVAILABILITY,
        options=STAT, may_be_empty=True,
        description="Nights 22:00–06:00, weekends and holidays, local time. Empty until "
                    "the service has been probed off-hours.")
    longest = Panel(
        "Longest outage in the window", "stat",
        (Query(f"dozor:service_longest_outage_seconds:window{{{SVC}}}", "longest",
               instant=True),),
        width=5, height=6, unit="s", thresholds=OUTAGE, options=STAT, may_be_empty=True,
        description="Longest stretch the monitor saw the service failing; time the monitor "
                    "itself was away never counts. Empty until the service has been probed.")
    cert = Panel(
        "Certificate expires in", "stat",
        (Query(f"min by (probe) ({TLS_CERT_EXPIRY_TIMESTAMP_SECONDS}{{{SVC}}}) - time()",
               "{{probe}}", instant=True),),
        width=4, height=6, unit="s", thresholds=CERT, options=STAT, may_be_empty=True,
        description="Red under 7 days, orange under 21. Empty for services without HTTPS.")
    timeline = Panel(
        "Outages: confirmed state and each run", "state-timeline",
        (Query(f"{PROBE_UP}{{{SVC}}}", "confirmed {{probe}} @ {{location}}"),
         Query(f"{PROBE_SUCCESS}{{{SVC}}}", "run {{probe}} @ {{location}}")),
        width=24, height=7, mappings=UP_DOWN, color_mode="thresholds",
        thresholds=UP, options=TIMELINE)
    trend = Panel(
        "Availability vs objective", "timeseries",
        (Query(f'1 - dozor:service_sli_error_ratio:1h{{{SVC},hours="all"}}', "1h"),
         Query(f'1 - dozor:service_sli_error_ratio:1d{{{SVC},hours="all"}}', "1d"),
         Query(f"dozor:service_availability:window{{{SVC}}}", "window"),
         Query(f"dozor:service_availability_objective{{{SVC}}}", "objective")),
        width=12, height=8, unit="percentunit", decimals=3, options=LEGEND)
    budget_trend = Panel(
        "Error budget remaining over time", "timeseries",
        (Query(BUDGET_LEFT, "budget left"),),
        width=12, height=8, unit="percentunit", thresholds=BUDGET, options=LEGEND,
        custom={"thresholdsStyle": {"mode": "area"}, "fillOpacity": 0})
    phases = Panel(
        "Phase timings of the last run (stacked)", "timeseries",
        (Query(f"max by (phase) ({PROBE_PHASE_SECONDS}{{{SVC}}})", "{{phase}}"),),
        width=12, height=8, unit="s", options=LEGEND,
        custom={"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 40},
        description="resolve, connect, tls, processing, transfer (blackbox_exporter's "
                    "meaning); the worst location per phase.")
    latency = Panel(
        "Latency p95 vs objective", "timeseries",
        (Query(f"dozor:service_latency_p95_seconds:1h{{{SVC}}}", "p95 over 1h"),
         Query(f"dozor:service_latency_p95_seconds:window{{{SVC}}}", "p95 over the window"),
         Query(f"dozor:service_latency_p95_objective_seconds{{{SVC}}}", "objective")),
        width=12, height=8, unit="s", options=LEGEND)
    week = Panel(
        "Availability by hour of the week (local time = UTC + $tzoffset h)", "table",
        (Query(hour_of_week_availability(), instant=True, table=True),),
        width=16, height=10, unit="percentunit", decimals=2, thresholds=AVAILABILITY,
        color_mode="thresholds", options=TABLE, may_be_empty=True,
        description="Rows: ISO weekday (1 = Monday); columns: hour of the day; each cell is "
                    "the share of successful runs in that hour over the dashboard's range "
                    "(all locations' runs). Use a 7-day or longer range for all 168 cells; "
                    "empty until the service has a whole clock hour of history.",
        transformations=({"id": "groupingToMatrix",
                          "options": {"columnField": "hour", "rowField": "day",
                                      "valueField": "Value"}},),
        overrides=({"matcher": {"id": "byType", "options": "number"},
                    "properties": [{"id": "custom.cellOptions",
                                    "value": {"type": "color-background"}}]},))
    hours = Panel(
        "Off-hours vs business hours", "bargauge",
        (Query(_hours_availability("business"), "business hours (range)", instant=True),
         Query(_hours_availability("offhours"), "off-hours (range)", instant=True),
         Query(f"dozor:service_offhours_availability:window{{{SVC}}}",
               "off-hours (standard's window)", instant=True)),
        width=8, height=10, unit="percentunit", decimals=3, minimum=0.9, maximum=1,
        thresholds=AVAILABILITY, color_mode="thresholds", options=BARS,
        description="Share of successful runs in business hours and off-hours (local time) "
                    "over the dashboard's range, and off-hours over the standard's window.")
    coverage = Panel(
        "Coverage over the standard's window", "stat",
        (Query(f"dozor:service_coverage:window{{{SVC}}}", "service (quorum)", instant=True),
         Query(f"dozor:location_coverage:window{{{SVC}}}", "{{location}}", instant=True)),
        width=6, height=8, unit="percentunit", decimals=2, thresholds=COVERAGE,
        color_mode="thresholds", options=STAT,
        description="Share of the scheduled runs (one per probe interval) that really "
                    "happened, while the monitor was down too. Below "
                    f"{COVERAGE_THRESHOLD:.0%} the service is not judged: not enough data.")
    coverage_trend = Panel(
        "Coverage by location (1h)", "timeseries",
        (Query(f"dozor:location_coverage:1h{{{SVC}}}", "{{location}}"),
         Query(f"dozor:service_coverage:1h{{{SVC}}}", "service (quorum)")),
        width=18, height=8, unit="percentunit", decimals=2, minimum=0, maximum=1,
        thresholds=COVERAGE, options=LEGEND,
        custom={"thresholdsStyle": {"mode": "line"}, "fillOpacity": 0},
        description="Dips are runs the monitor missed (a daemon down or restarting, skipped "
                    "runs), not failures of the service.")
    locations = Panel(
        "Per-location results", "table",
        (Query(_location(PROBE_SUCCESS), instant=True, table=True),
         Query(_location(PROBE_UP), instant=True, table=True),
         Query(f"time() - {_location(PROBE_LAST_SUCCESS_TIMESTAMP_SECONDS)}",
               instant=True, table=True)),
        width=24, height=7, options=TABLE,
        transformations=(MERGE, organize({"Value #A": "last run", "Value #B": "confirmed",
                                          "Value #C": "since last success"})),
        overrides=(up_down_cells("last run"), up_down_cells("confirmed"),
                   {"matcher": {"id": "byName", "options": "since last success"},
                    "properties": [{"id": "unit", "value": "s"}]}))
    vitals = _browser_panel(
        "Web Vitals (browser probes)", BROWSER_WEB_VITAL_SECONDS, "vital", 10, unit="s",
        description="The last run's LCP, FCP, TTFB and TBT of the page each browser probe "
                    "ends on, the worst location. Empty for services without browser probes.")
    problems = _browser_panel(
        "Page problems (browser probes)", BROWSER_PAGE_PROBLEMS, "problem", 7,
        description="Console errors, uncaught page errors and failed requests (network "
                    "errors, HTTP 4xx/5xx) in each browser probe's last run.")
    accessibility = _browser_panel(
        "Accessibility violations (last audit)", BROWSER_ACCESSIBILITY_VIOLATIONS, "impact", 7,
        description="Violated axe-core rules by impact in each audited browser probe's last "
                    "run. Empty for services without an accessibility audit.")
    return Dashboard(
        "dozor-service", "Dozor: service",
        "One e-service against the 24/7 standard.",
        rows=((availability, budget, offhours, longest, cert), (timeline,),
              (trend, budget_trend), (phases, latency), (week, hours),
              (coverage, coverage_trend), (vitals, problems, accessibility), (locations,)),
        variables=(*FILTERS, SERVICE, TZ_OFFSET),
        annotations=(Annotation("Maintenance",
                                f"max by (service) ({MAINTENANCE_ACTIVE}{{{SVC}}}) == 1",
                                "orange", "announced maintenance"),),
        time_from="now-7d")
