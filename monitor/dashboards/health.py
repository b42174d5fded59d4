"""The monitor's own health: throughput, scheduler lag, load, reloads, per-location coverage."""

from __future__ import annotations

from monitor.dashboards.model import Dashboard, Panel, Query
from monitor.dashboards.parts import GREEN, LEGEND, MERGE, ORANGE, RED, STAT, TABLE, UP, organize

RELOAD = ({"type": "value", "options": {"0": {"text": "FAILED", "color": RED, "index": 0},
                                        "1": {"text": "ok", "color": GREEN, "index": 1}}},)


def health() -> Dashboard:
    rate = Panel(
        "Probe runs per second", "timeseries",
        (Query("sum by (instance, location) (rate(dozor_probes_total[$__rate_interval]))",
               "{{location}} ({{instance}})"),),
        width=12, height=8, unit="ops", options=LEGEND)
    lag = Panel(
        "Scheduler lag", "timeseries",
        tuple(Query(f"histogram_quantile({q}, sum by (le, instance) "
                    "(rate(dozor_scheduler_lag_seconds_bucket[$__rate_interval])))",
                    f"p{round(q * 100)} {{{{instance}}}}") for q in (0.5, 0.95, 0.99)),
        width=12, height=8, unit="s", options=LEGEND,
        description="Delay from each probe's grid point to its start.")
    in_flight = Panel(
        "Probes in flight and configured", "timeseries",
        (Query("dozor_probes_in_flight", "in flight {{instance}}"),
         Query("dozor_probes_configured", "configured {{instance}}")),
        width=12, height=8, options=LEGEND)
    skipped = Panel(
        "Skipped runs (previous run still going)", "timeseries",
        (Query("sum by (instance) (increase(dozor_scheduler_skipped_runs_total"
               "[$__rate_interval]))", "{{instance}}"),),
        width=12, height=8, options=LEGEND)
    reload = Panel(
        "Last catalog reload", "stat",
        (Query("dozor_config_last_reload_successful", "{{instance}}", instant=True),),
        width=6, height=6, mappings=RELOAD, color_mode="thresholds",
        thresholds=UP, options=STAT)
    reload_age = Panel(
        "Since the last successful reload", "stat",
        (Query("time() - dozor_config_last_reload_success_timestamp_seconds", "{{instance}}",
               instant=True),),
        width=6, height=6, unit="s", options={**STAT, "colorMode": "none"})
    scraped = Panel(
        "Daemons scraped", "stat",
        (Query('up{job=~".*dozor.*"}', "{{instance}}", instant=True),),
        width=6, height=6, mappings=RELOAD, color_mode="thresholds",
        thresholds=UP, options=STAT)
    build = Panel(
        "Versions", "table",
        (Query("dozor_build_info", instant=True, table=True),),
        width=6, height=6, options=TABLE,
        transformations=(organize({}, hide=("Time", "Value", "__name__")),))
    coverage = Panel(
        "Per-location coverage", "table",
        (Query("count by (location) (dozor_probe_success)", instant=True, table=True),
         Query("count by (location) (count by (location, service) (dozor_probe_success))\n"
               "/ scalar(count(dozor:service_info))", instant=True, table=True),
         Query("count by (location) (dozor_probe_success == 0)", instant=True, table=True)),
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
    return Dashboard(
        "dozor-monitor", "Dozor: monitor health",
        "Is the watch itself working: probes, scheduler, reloads, vantage points.",
        rows=((rate, lag), (in_flight, skipped), (reload, reload_age, scraped, build),
              (coverage,)),
        time_from="now-6h")
