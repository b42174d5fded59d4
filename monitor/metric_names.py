"""Every metric the daemon exports, by the name it has on /metrics (a counter's with
``_total``; a histogram's base name, its series adding ``_bucket``/``_count``/``_sum``).

The one source of these names: ``monitor/serving/metrics.py`` declares its families with them
and the generators (rules, escalation rules, dashboards, report) write their PromQL with them.
A leaf that imports nothing, so generators can use it without importing the daemon
(import-linter forbids that). ``tests/test_metric_names.py`` checks this list against what the
daemon renders and every ``dozor_*`` name in the generated output against this list.
Recording rules are named ``dozor:...``; they are Prometheus', not exported, and not here.
"""

from __future__ import annotations

from enum import StrEnum

# Per probe and location (the daemon's compact probe table).
PROBES_TOTAL = "dozor_probes_total"
PROBE_FAILURES_TOTAL = "dozor_probe_failures_total"
PROBE_SUCCESS = "dozor_probe_success"
PROBE_ATTEMPTS_TOTAL = "dozor_probe_attempts_total"
PROBE_UP = "dozor_probe_up"
PROBE_PHASE_SECONDS = "dozor_probe_phase_seconds"
PROBE_LAST_SUCCESS_TIMESTAMP_SECONDS = "dozor_probe_last_success_timestamp_seconds"
PROBE_OUTAGE_START_TIMESTAMP_SECONDS = "dozor_probe_outage_start_timestamp_seconds"
PROBE_LAST_OUTAGE_SECONDS = "dozor_probe_last_outage_seconds"
PROBE_INTERVAL_SECONDS = "dozor_probe_interval_seconds"
PROBE_DURATION_SECONDS = "dozor_probe_duration_seconds"  # histogram
# Per probe, only for the kinds that have them.
JOURNEY_STEP_DURATION_SECONDS = "dozor_journey_step_duration_seconds"
JOURNEY_TIME_TO_RESULT_SECONDS = "dozor_journey_time_to_result_seconds"
TLS_CERT_EXPIRY_TIMESTAMP_SECONDS = "dozor_tls_cert_expiry_timestamp_seconds"
# Catalog facts (info metrics, always 1).
SERVICE_INFO = "dozor_service_info"
LIFE_SITUATION_MEMBER = "dozor_life_situation_member"
LIFE_SITUATION_INFO = "dozor_life_situation_info"
REGION_INFO = "dozor_region_info"
CURATOR_INFO = "dozor_curator_info"
# Shared platforms: their facts (their probes' series carry the platform id in ``service``),
# and one edge per (service, probe) and platform the probe goes through.
PLATFORM_INFO = "dozor_platform_info"
PROBE_DEPENDS_ON = "dozor_probe_depends_on"
# Each service's effective standard.
SERVICE_AVAILABILITY_OBJECTIVE = "dozor_service_availability_objective"
SERVICE_OFFHOURS_AVAILABILITY_OBJECTIVE = "dozor_service_offhours_availability_objective"
SERVICE_MAX_OUTAGE_OBJECTIVE_SECONDS = "dozor_service_max_outage_objective_seconds"
SERVICE_LATENCY_P95_OBJECTIVE_SECONDS = "dozor_service_latency_p95_objective_seconds"
SERVICE_WINDOW_SECONDS = "dozor_service_window_seconds"
SERVICE_MAINTENANCE_COUNTS = "dozor_service_maintenance_counts"
MAINTENANCE_ACTIVE = "dozor_maintenance_active"
# The same, by the part of the standard (catalog.Standard's field) each one exports.
SERVICE_OBJECTIVES: dict[str, str] = {
    "availability": SERVICE_AVAILABILITY_OBJECTIVE,
    "offhours_availability": SERVICE_OFFHOURS_AVAILABILITY_OBJECTIVE,
    "max_outage": SERVICE_MAX_OUTAGE_OBJECTIVE_SECONDS,
    "latency_p95": SERVICE_LATENCY_P95_OBJECTIVE_SECONDS,
    "window": SERVICE_WINDOW_SECONDS,
    "maintenance_counts": SERVICE_MAINTENANCE_COUNTS,
}
# The daemon itself.
SCHEDULER_LAG_SECONDS = "dozor_scheduler_lag_seconds"  # histogram
SCHEDULER_SKIPPED_RUNS_TOTAL = "dozor_scheduler_skipped_runs_total"
PROBES_IN_FLIGHT = "dozor_probes_in_flight"
PROBES_CONFIGURED = "dozor_probes_configured"
CONFIG_LAST_RELOAD_SUCCESSFUL = "dozor_config_last_reload_successful"
CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS = "dozor_config_last_reload_success_timestamp_seconds"
BUILD_INFO = "dozor_build_info"
SHARD_INFO = "dozor_shard_info"
# The process that owns a TCP port (the daemon, or the supervisor under --workers), per port
# ``listen`` (HOST:PORT): its connections (monitor/listener) and the basic-auth logins checked.
HTTP_CONNECTIONS_OPEN = "dozor_http_connections_open"
HTTP_CONNECTIONS_REFUSED_TOTAL = "dozor_http_connections_refused_total"
HTTP_CONNECTIONS_TIMED_OUT_TOTAL = "dozor_http_connections_timed_out_total"
HTTP_LOGINS_TOTAL = "dozor_http_logins_total"
# The supervisor of `dozor run --workers N` (monitor/supervisor), beside its workers' series.
WORKER_UP = "dozor_worker_up"
WORKER_RESTARTS_TOTAL = "dozor_worker_restarts_total"

# The browser kind's own series (declared by the kind in probes/browser/__init__.py).
BROWSER_WEB_VITAL_SECONDS = "dozor_browser_web_vital_seconds"
BROWSER_CUMULATIVE_LAYOUT_SHIFT = "dozor_browser_cumulative_layout_shift"
BROWSER_PAGE_PROBLEMS = "dozor_browser_page_problems"
BROWSER_ACCESSIBILITY_VIOLATIONS = "dozor_browser_accessibility_violations"
BROWSER_PROCESSES = "dozor_browser_processes"
BROWSER_MEMORY_BYTES = "dozor_browser_memory_bytes"
BROWSER_RUNS_WAITING = "dozor_browser_runs_waiting"
BROWSER_LAUNCHES_TOTAL = "dozor_browser_launches_total"
BROWSER_RETIRED_TOTAL = "dozor_browser_retired_total"

# The heartbeat kind's own series (declared by the kind in probes/heartbeat/__init__.py).
HEARTBEAT_LAST_PING_TIMESTAMP_SECONDS = "dozor_heartbeat_last_ping_timestamp_seconds"
HEARTBEAT_JOB_DURATION_SECONDS = "dozor_heartbeat_job_duration_seconds"
HEARTBEAT_LAST_EXIT_CODE = "dozor_heartbeat_last_exit_code"
HEARTBEAT_RUNS_OPEN = "dozor_heartbeat_runs_open"
HEARTBEAT_PINGS_TOTAL = "dozor_heartbeat_pings_total"


class SkipReason(StrEnum):
    """The ``reason`` label of ``dozor_scheduler_skipped_runs_total``."""

    OVERLAP = "overlap"  # the previous run of the same probe was still going
    OVERLOAD = "overload"  # shed by admission control: too late to start (scheduler.py)


EXPORTED: frozenset[str] = frozenset(value for key, value in dict(globals()).items()
                                     if key.isupper() and isinstance(value, str))
