"""The monitor's own health: throughput, scheduler lag, load, reloads, runs done of runs due,
per-location coverage of the catalog."""

from __future__ import annotations

from monitor.dashboards.model import Dashboard, Panel, Query
from monitor.dashboards.parts import (
    COVERAGE,
    GREEN,
    LEGEND,
    MERGE,
    ORANGE,
    RED,
    STAT,
    TABLE,
    UP,
    organize,
    service_link,
)
from monitor.metric_names import (
    BROWSER_MEMORY_BYTES,
    BROWSER_RETIRED_TOTAL,
    BROWSER_RUNS_WAITING,
    BUILD_INFO,
    CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS,
    CONFIG_LAST_RELOAD_SUCCESSFUL,
    PROBE_SUCCESS,
    PROBES_CONFIGURED,
    PROBES_IN_FLIGHT,
    PROBES_TOTAL,
    SCHEDULER_LAG_SECONDS,
    SCHEDULER_SKIPPED_RUNS_TOTAL,
    WORKER_RESTARTS_TOTAL,
    WORKER_UP,
)
from monitor.promql import COVERAGE_THRESHOLD

RELOAD = ({"type": "value", "options": {"0": {"text": "FAILED", "color": RED, "index": 0},
                                        "1": {"text": "ok", "color": GREEN, "index": 1}}},)


def health() -> Dashboard:
    rate = Panel(
        "Probe runs per second", "timeseries",
        (Query(f"sum by (instance, location) (rate({PROBES_TOTAL}[$__rate_interval]))",
               "{{location}} ({{instance}})"),),
        width=12, height=8, unit="ops", options=LEGEND)
    lag = Panel(
        "Scheduler lag", "timeseries",
        tuple(Query(f"histogram_quantile({q}, sum by (le, instance) "
                    f"(rate({SCHEDULER_LAG_SECONDS}_bucket[$__rate_interval])))",
                    f"p{round(q * 100)} {{{{instance}}}}") for q in (0.5, 0.95, 0.99)),
        width=12, height=8, unit="s", options=LEGEND,
        description="Delay from each probe's grid point to its start.")
    in_flight = Panel(
        "Probes in flight and configured", "timeseries",
        (Query(PROBES_IN_FLIGHT, "in flight {{instance}} {{worker}}"),
         Query(PROBES_CONFIGURED, "configured {{instance}} {{worker}}")),
        width=12, height=8, options=LEGEND)
    skipped = Panel(
        "Skipped runs, by reason", "timeseries",
        (Query(f"sum by (instance, reason) (increase({SCHEDULER_SKIPPED_RUNS_TOTAL}"
               "[$__rate_interval]))", "{{reason}} {{instance}}"),),
        width=12, height=8, options=LEGEND,
        description="Runs not started. overlap: the previous run of the same probe was still "
                    "going. overload: shed by admission control, too late after its grid point "
                    "(the daemon is short of CPU: DozorOverloaded).")
    reload = Panel(
        "Last catalog reload", "stat",
        (Query(CONFIG_LAST_RELOAD_SUCCESSFUL, "{{instance}} {{worker}}", instant=True),),
        width=6, height=6, mappings=RELOAD, color_mode="thresholds",
        thresholds=UP, options=STAT)
    reload_age = Panel(
        "Since the last successful reload", "stat",
        (Query(f"time() - {CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS}", "{{instance}}",
               instant=True),),
        width=6, height=6, unit="s", options={**STAT, "colorMode": "none"})
    scraped = Panel(
        "Daemons scraped", "stat",
        (Query('up{job=~".*dozor.*"}', "{{instance}}", instant=True),),
        width=6, height=6, mappings=RELOAD, color_mode="thresholds",
        thresholds=UP, options=STAT)
    build = Panel(
        "Versions", "table",
        (Query(BUILD_INFO, instant=True, table=True),),
        width=6, height=6, options=TABLE,
        transformations=(organize({}, hide=("Time", "Value", "__name__")),))
    coverage = Panel(
        "What each location probes", "table",
        # Counted from the run counters, pre-set per probe: dozor_probe_success is absent
        # until a probe's first run, which would undercount right after a start or reload.
        (Query(f"count by (location) (group by (location, service, probe) ({PROBES_TOTAL}))",
               instant=True, table=True),
         Query(f"count by (location) (group by (location, service) ({PROBES_TOTAL}))\n"
               "/ scalar(count(dozor:service_info))", instant=True, table=True),
         Query(f"count by (location) ({PROBE_SUCCESS} == 0)", instant=True, table=True)),
        width=24, height=7, options=TABLE,
        description="Probes each vantage point runs, its share of the catalog's services, "
                    "and how many of its probes failed their last run.",
        transformations=(MERGE, organize({"Value #A": "probes", "Value #B": "services covered",
                                          "Value #C": "failing now"})),
        overrides=({"matcher": {"id": "byName", "options": "services covered"},
                    "properties": [
                        {"id": "unit", "value": "percentunit"},
                        {"id": "thresholds", "value": {"mode": "absolute", "steps": [
                            {"color": RED, "value": None}, {"color": ORANGE, "value": 0.5},
                            {"color": GREEN, "value": 1}]}},
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}}]},))
    runs_done = Panel(
        "Scheduled runs done, by location (1h)", "timeseries",
        # Sums over the location's services (a probe run every second weighs as its runs do),
        # each service's runs done capped at its runs due first, so one service's extra
        # runs (the sampling of increase) cannot hide another's missed ones.
        (Query("sum by (location) (\n"
               "  dozor:location_runs_done:sum1h <= dozor:location_runs_due:sum1h\n"
               "  or dozor:location_runs_due:sum1h\n)\n"
               "/ sum by (location) (dozor:location_runs_due:sum1h)", "{{location}}"),),
        width=16, height=8, unit="percentunit", decimals=2, minimum=0, maximum=1,
        thresholds=COVERAGE, options=LEGEND,
        custom={"thresholdsStyle": {"mode": "line"}, "fillOpacity": 0},
        description="Coverage: the share of the runs the schedules ask for (one per probe "
                    "interval) that happened, counted while a daemon is down too. A dip is "
                    "the monitor's own gap: a daemon down or restarting, skipped runs.")
    thin = Panel(
        f"Services with not enough data (coverage below {COVERAGE_THRESHOLD:.0%})", "table",
        (Query(f"dozor:service_coverage:window < {COVERAGE_THRESHOLD:g}", instant=True,
               table=True),),
        width=8, height=8, unit="percentunit", decimals=2, thresholds=COVERAGE,
        color_mode="thresholds", options=TABLE, may_be_empty=True,
        description="Over the standard's window. These services are judged neither "
                    "compliant nor not, and not ranked. Empty while every service is covered.",
        transformations=(organize({"Value": "coverage"}, hide=("Time", "__name__")),),
        overrides=(service_link(),))
    browser = Panel(
        "Browser probes' Chromium: memory and processes", "timeseries",
        (Query(f"sum by (instance) ({BROWSER_MEMORY_BYTES})", "memory {{instance}}"),
         Query(f"sum by (instance) ({BROWSER_RUNS_WAITING})", "runs waiting {{instance}}")),
        width=12, height=8, unit="bytes", options=LEGEND, may_be_empty=True,
        overrides=({"matcher": {"id": "byRegexp", "options": "runs waiting.*"},
                    "properties": [{"id": "unit", "value": "short"},
                                   {"id": "custom.axisPlacement", "value": "right"}]},),
        description="Memory of each daemon's Chromium tree (PSS: shared pages counted once) "
                    "and browser runs waiting for a slot (--browser-concurrency).")
    retired = Panel(
        "Browsers retired (1h)", "timeseries",
        (Query(f"sum by (reason) (increase({BROWSER_RETIRED_TOTAL}[1h]))", "{{reason}}"),),
        width=12, height=8, options=LEGEND, may_be_empty=True,
        description="recycle: every --browser-recycle-runs runs (expected); timeout: a run "
                    "cut by its timeout (a hung page); crash: Chromium died. Each is a "
                    "Chromium tree killed and a fresh one started.")
    workers = Panel(
        "Worker processes (dozor run --workers)", "timeseries",
        (Query(f"sum by (instance) ({WORKER_UP})", "probing {{instance}}"),
         Query(f"sum by (instance, worker) (increase({WORKER_RESTARTS_TOTAL}[1h]))",
               "restarts (1h) {{instance}} worker {{worker}}")),
        width=24, height=8, options=LEGEND, may_be_empty=True,
        description="Workers probing their share of the services, per daemon, and workers "
                    "started again after a crash or kill. While one is down its share is "
                    "not probed (coverage shows the gap). Empty for single-process daemons.")
    return Dashboard(
        "dozor-monitor", "Dozor: monitor health",
        "Is the watch itself working: probes, scheduler, reloads, vantage points.",
        rows=((rate, lag), (in_flight, skipped), (reload, reload_age, scraped, build),
              (runs_done, thin), (coverage,), (workers,), (browser, retired)),
        time_from="now-6h")
