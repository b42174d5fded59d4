"""The heartbeat kind: a passive check of a back-office job that pings Dozor (``/ping/<token>``)
when it starts, succeeds or fails; each scheduled run judges the pings against the job's
expectation (a period or a cron schedule, plus grace)."""

from probes._kind import KindMetric, KindOption
from probes.heartbeat.probe import probe_heartbeat
from probes.heartbeat.runtime import LISTEN_OPTION, HeartbeatRuntime, parse_listen
from probes.heartbeat.spec import HeartbeatSpec

METRICS = (
    KindMetric("dozor_heartbeat_last_ping_timestamp_seconds",
               "Unix time of the job's last ping (start, success or failure)."),
    KindMetric("dozor_heartbeat_job_duration_seconds",
               "The job's last finished run, from its start ping to its end ping."),
    KindMetric("dozor_heartbeat_last_exit_code",
               "The job's last reported exit code (0 success; -1 a failure without a code)."),
    KindMetric("dozor_heartbeat_runs_open", "The job's runs started and not yet ended."),
    KindMetric("dozor_heartbeat_pings_total",
               "Ping requests by outcome: accepted, not_found (unknown token or malformed), "
               "rate_limited, too_large.", ("outcome",), per_probe=False, type="counter"),
)

OPTIONS = (
    KindOption(LISTEN_OPTION, "serve /ping/<token> on this HOST:PORT instead of the "
               "--listen address (default: the --listen address)", parse_listen,
               listener=True),
)

__all__ = ["METRICS", "OPTIONS", "HeartbeatRuntime", "HeartbeatSpec", "probe_heartbeat"]
