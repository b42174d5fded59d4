"""The metrics contract of DESIGN.md, on the daemon's own registry.

Probe series are bound once per (service, probe) in ``ProbeSeries`` so the hot path is a
handful of child updates, with no label lookups per run. Descriptive labels live once, on
info metrics, refreshed from the catalog.
"""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import Iterable, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.registry import Collector

from monitor.catalog import Catalog
from monitor.hours import BUSINESS, OFFHOURS
from probes import Phase, ProbeResult, Reason

PROBE_LABELS = ("service", "probe", "location")
BASE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LAG_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def duration_buckets(catalog: Catalog) -> tuple[float, ...]:
    """Bucket edges that include every latency objective, so p95-against-objective rules
    compare with an exact edge instead of interpolating inside a bucket."""
    edges = set(BASE_BUCKETS)
    edges.add(catalog.standard.latency_p95)
    for service in catalog.services:
        edges.add(catalog.standard_for(service).latency_p95)
        for probe in service.probes:
            max_latency = getattr(probe.spec, "expect", None)
            if max_latency is not None and max_latency.max_latency is not None:
                edges.add(max_latency.max_latency)
    return tuple(sorted(edges))


class ProbeSeries:
    """The children of one (service, probe) at one location, bound once."""

    __slots__ = ("_attempts", "_duration", "_failures", "_key", "_last_success", "_metrics",
                 "_phases", "_steps", "_success", "_totals", "_up")

    def __init__(self, metrics: Metrics, service: str, probe: str) -> None:
        self._metrics = metrics
        self._key = (service, probe, metrics.location)
        m = metrics
        self._totals = {
            (result, hours): m.probes_total.labels(*self._key, result, hours)
            for result in ("success", "failure")
            for hours in (BUSINESS, OFFHOURS)
        }
        self._failures = {r: m.probe_failures.labels(*self._key, r.value) for r in Reason}
        self._success = m.probe_success.labels(*self._key)
        self._phases = {p: m.probe_phase.labels(*self._key, p.value) for p in Phase}
        self._last_success: Gauge | None = None  # absent until a success: 0 would fake an outage
        self._duration = m.probe_duration.labels(*self._key)
        self._attempts = {ok: m.attempts.labels(*self._key, "success" if ok else "failure")
                          for ok in (True, False)}
        self._up: Gauge | None = None  # created on first confirmation: absent means unknown
        self._steps: set[str] = set()  # journey step names seen, to drop them on removal

    def attempt(self, success: bool) -> None:
        """Every attempt, retries included: nothing a retry absorbs is hidden."""
        self._attempts[success].inc()

    def set_up(self, up: bool) -> None:
        if self._up is None:
            self._up = self._metrics.probe_up.labels(*self._key)
        self._up.set(1 if up else 0)

    def rebind_duration(self) -> None:
        self._duration = self._metrics.probe_duration.labels(*self._key)

    def restore_last_success(self, timestamp: float) -> None:
        self._set_last_success(timestamp)

    def _set_last_success(self, timestamp: float) -> None:
        if self._last_success is None:
            self._last_success = self._metrics.last_success.labels(*self._key)
        self._last_success.set(timestamp)

    def observe(self, result: ProbeResult, duration: float, hours: str, now: float) -> None:
        ok = result.success
        self._totals["success" if ok else "failure", hours].inc()
        self._success.set(1 if ok else 0)
        self._duration.observe(duration)
        phases = result.phases
        for phase, child in self._phases.items():
            child.set(phases.get(phase, 0.0))
        if ok:
            self._set_last_success(now)
        elif result.reason is not None:
            self._failures[result.reason].inc()
        if result.cert_expiry is not None:
            self._metrics.cert_expiry.labels(self._key[0], self._key[1]).set(result.cert_expiry)
        if result.steps:
            for step, seconds in result.steps.items():
                self._metrics.journey_step.labels(*self._key, step).set(seconds)
                self._steps.add(step)
        if result.time_to_result is not None:
            self._metrics.time_to_result.labels(*self._key).set(result.time_to_result)

    def drop_steps(self) -> None:
        for step in self._steps:
            _remove(self._metrics.journey_step, (*self._key, step))


class Metrics:
    """Every collector the daemon exports, on a registry of its own."""

    def __init__(self, location: str, version: str, buckets: Sequence[float] = BASE_BUCKETS,
                 shard: str = "0/1") -> None:
        # _created samples would double the series count for no query anyone writes.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.location = location
        self.registry = CollectorRegistry(auto_describe=True)
        self._series: dict[tuple[str, str], ProbeSeries] = {}
        r = self.registry
        self.probes_total = Counter(
            "dozor_probes", "Probe runs by result and by business/off-hours in the service's "
            "local time.", [*PROBE_LABELS, "result", "hours"], registry=r)
        self.probe_failures = Counter(
            "dozor_probe_failures", "Failed probe runs by reason.", [*PROBE_LABELS, "reason"],
            registry=r)
        self.probe_success = Gauge(
            "dozor_probe_success", "Result of the last probe run (1 success, 0 failure).",
            PROBE_LABELS, registry=r)
        self.buckets = tuple(buckets)
        self.probe_duration = self._duration_histogram()
        self.attempts = Counter(
            "dozor_probe_attempts", "Every probe attempt, immediate retries included.",
            [*PROBE_LABELS, "result"], registry=r)
        self.probe_up = Gauge(
            "dozor_probe_up", "Confirmed state after failure/success thresholds (1 up, 0 down); "
            "absent until the first confirmation.", PROBE_LABELS, registry=r)
        self.journey_step = Gauge(
            "dozor_journey_step_duration_seconds", "Last run's duration of each journey step.",
            [*PROBE_LABELS, "step"], registry=r)
        self.time_to_result = Gauge(
            "dozor_journey_time_to_result_seconds", "Last journey's time from submitting an "
            "application until its result was ready.", PROBE_LABELS, registry=r)
        self.probe_phase = Gauge(
            "dozor_probe_phase_seconds", "Last run's phase durations (blackbox_exporter's "
            "meanings).", [*PROBE_LABELS, "phase"], registry=r)
        self.last_success = Gauge(
            "dozor_probe_last_success_timestamp_seconds", "Unix time of the last successful run.",
            PROBE_LABELS, registry=r)
        self.cert_expiry = Gauge(
            "dozor_tls_cert_expiry_timestamp_seconds", "Earliest certificate expiry seen in the "
            "served chain.", ["service", "probe"], registry=r)
        self.service_info = Gauge(
            "dozor_service_info", "Catalog facts about a service (always 1).",
            ["service", "name", "level", "region", "department", "curator", "mszu"], registry=r)
        self.life_situation_member = Gauge(
            "dozor_life_situation_member", "Service membership of a life situation (always 1).",
            ["life_situation", "service"], registry=r)
        self.life_situation_info = Gauge(
            "dozor_life_situation_info", "Life situation names (always 1).",
            ["life_situation", "name"], registry=r)
        self.region_info = Gauge(
            "dozor_region_info", "Region names and time zones (always 1).",
            ["region", "name", "timezone"], registry=r)
        self.curator_info = Gauge(
            "dozor_curator_info", "Curators and their deputies (always 1).",
            ["curator", "name", "deputy"], registry=r)
        self.objectives = {
            "availability": Gauge(
                "dozor_service_availability_objective",
                "Share of successful probe events required over the window (ratio).",
                ["service"], registry=r),
            "offhours_availability": Gauge(
                "dozor_service_offhours_availability_objective",
                "Share of successful off-hours probe events required (ratio).",
                ["service"], registry=r),
            "max_outage": Gauge(
                "dozor_service_max_outage_objective_seconds",
                "Longest single outage allowed in the window.", ["service"], registry=r),
            "latency_p95": Gauge(
                "dozor_service_latency_p95_objective_seconds",
                "95th percentile probe duration allowed.", ["service"], registry=r),
            "window": Gauge(
                "dozor_service_window_seconds", "Window over which the standard is judged.",
                ["service"], registry=r),
            "maintenance_counts": Gauge(
                "dozor_service_maintenance_counts",
                "1 when announced maintenance still counts against the 24/7 standard.",
                ["service"], registry=r),
        }
        self.maintenance_active = Gauge(
            "dozor_maintenance_active", "1 while announced maintenance is in progress.",
            ["service"], registry=r)
        self.scheduler_lag = Histogram(
            "dozor_scheduler_lag_seconds", "Delay from a probe's scheduled time to its start.",
            buckets=LAG_BUCKETS, registry=r)
        self.skipped_runs = Counter(
            "dozor_scheduler_skipped_runs", "Runs skipped because the previous run of the same "
            "probe was still going.", registry=r)
        self.in_flight = Gauge(
            "dozor_probes_in_flight", "Probe runs in progress.", registry=r)
        self.configured = Gauge(
            "dozor_probes_configured", "Probes scheduled from the running catalog.", registry=r)
        self.reload_ok = Gauge(
            "dozor_config_last_reload_successful", "1 if the last catalog load succeeded.",
            registry=r)
        self.reload_time = Gauge(
            "dozor_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful catalog load.", registry=r)
        Gauge("dozor_build_info", "Build facts (always 1).", ["version", "python"],
              registry=r).labels(version, platform.python_version()).set(1)
        Gauge("dozor_shard_info", "This replica's shard as INDEX/COUNT (always 1).", ["shard"],
              registry=r).labels(shard).set(1)

    def _duration_histogram(self) -> Histogram:
        return Histogram(
            "dozor_probe_duration_seconds", "Whole-probe duration, including failures.",
            PROBE_LABELS, buckets=self.buckets, registry=self.registry)

    def series(self, service: str, probe: str) -> ProbeSeries:
        key = (service, probe)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = ProbeSeries(self, service, probe)
        return found

    def remove(self, service: str, probe: str) -> None:
        """Drop a removed probe's series so they vanish instead of going stale."""
        series = self._series.pop((service, probe), None)
        if series is None:
            return
        series.drop_steps()
        labels = (service, probe, self.location)
        for result in ("success", "failure"):
            _remove(self.attempts, (*labels, result))
        for result in ("success", "failure"):
            for hours in (BUSINESS, OFFHOURS):
                _remove(self.probes_total, (*labels, result, hours))
        for reason in Reason:
            _remove(self.probe_failures, (*labels, reason.value))
        for phase in Phase:
            _remove(self.probe_phase, (*labels, phase.value))
        for metric in (self.probe_success, self.last_success, self.probe_duration,
                       self.probe_up, self.time_to_result):
            _remove(metric, labels)
        _remove(self.cert_expiry, (service, probe))

    def use_buckets(self, buckets: Sequence[float]) -> bool:
        """Swap the duration histogram when new latency objectives need new edges. Its counts
        restart, which Prometheus treats as a counter reset. Returns whether it swapped."""
        wanted = tuple(buckets)
        if wanted == self.buckets:
            return False
        self.registry.unregister(self.probe_duration)
        self.buckets = wanted
        self.probe_duration = self._duration_histogram()
        for series in self._series.values():
            series.rebind_duration()
        return True

    def describe_catalog(self, catalog: Catalog) -> None:
        """Refresh info and objective metrics; synchronous, so no scrape sees a half state."""
        info: Iterable[Collector] = (
            self.service_info, self.life_situation_member, self.life_situation_info,
            self.region_info, self.curator_info, self.maintenance_active,
            *self.objectives.values(),
        )
        for metric in info:
            metric.clear()  # type: ignore[attr-defined]
        regions = {r.code: r for r in catalog.regions}
        for s in catalog.services:
            self.service_info.labels(
                s.id, s.name, s.level, s.region, s.department, s.curator, str(s.mszu).lower()
            ).set(1)
            for bundle in s.life_situations:
                self.life_situation_member.labels(bundle, s.id).set(1)
            std = catalog.standard_for(s)
            o = self.objectives
            o["availability"].labels(s.id).set(std.availability)
            o["offhours_availability"].labels(s.id).set(std.offhours_availability)
            o["max_outage"].labels(s.id).set(std.max_outage)
            o["latency_p95"].labels(s.id).set(std.latency_p95)
            o["window"].labels(s.id).set(std.window)
            o["maintenance_counts"].labels(s.id).set(1 if std.maintenance_counts else 0)
            self.maintenance_active.labels(s.id).set(0)
        for ls in catalog.life_situations:
            self.life_situation_info.labels(ls.id, ls.name).set(1)
        for region in regions.values():
            self.region_info.labels(region.code, region.name, region.timezone).set(1)
        for c in catalog.curators:
            self.curator_info.labels(c.id, c.name, c.deputy or "").set(1)
        self.configured.set(sum(len(s.probes) for s in catalog.services))

    def set_maintenance(self, service: str, active: bool) -> None:
        self.maintenance_active.labels(service).set(1 if active else 0)

    def reload_result(self, ok: bool) -> None:
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_time.set(time.time())


def _remove(metric: Counter | Gauge | Histogram, labels: tuple[str, ...]) -> None:
    # KeyError: never observed (e.g. cert expiry on plain HTTP), nothing to drop.
    with contextlib.suppress(KeyError):
        metric.remove(*labels)
