"""The metrics contract of DESIGN.md, on the daemon's own registry, under the names of
``monitor.metric_names``.

Probe series are bound once per (service, probe) in ``ProbeSeries`` so the hot path is a
handful of in-place cell updates, with no label lookups per run. Descriptive labels live
once, on info metrics, refreshed from the catalog. The per-probe and per-service families are
compact (monitor/serving/exposition.py): at 10,000 services prometheus_client's per-child objects
cost ~35 MB per 1,000 services and ~5.5 s per /metrics render; ``render()`` is the fast path.
"""

from __future__ import annotations

import asyncio
import contextlib
import platform
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor import metric_names as n
from monitor.catalog import Catalog
from monitor.localtime.hours import BUSINESS, OFFHOURS
from monitor.serving.exposition import Families, Family, ProbeTable, label_text
from monitor.serving.ports import Ports
from probes import KINDS, KindMetric, KindRuntime, Phase, ProbeResult, Reason

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
            objective = probe.spec.latency_objective()
            if objective is not None:
                edges.add(objective)
    return tuple(sorted(edges))


class ProbeSeries:
    """The series of one (service, probe) at one location: one row of the probe table,
    updated in place by column index, with no label lookups per run."""

    __slots__ = ("_cert", "_details", "_key", "_metrics", "_v", "measures_latency")

    def __init__(self, metrics: Metrics, service: str, probe: str) -> None:
        self._metrics = metrics
        self._key = (service, probe, metrics.location)
        self._v = metrics.probes.row(self._key)
        self._cert: Gauge | None = None  # bound at the first certificate seen, then reused
        # Journey step and kind series set, with their labels, to drop them on removal. None
        # until the first: most probes never set one, and an empty set is 216 bytes a probe.
        self._details: set[tuple[Gauge, tuple[str, ...]]] | None = None
        # False for a kind whose runs take no time of the service's (SpecBase.measures_latency):
        # its runs observe no duration, so the latency percentile is the services' alone.
        self.measures_latency = True

    def attempt(self, success: bool) -> None:
        """Every attempt, retries included: nothing a retry absorbs is hidden."""
        self._v[self._metrics.cols.attempt[success]] += 1

    def set_up(self, up: bool) -> None:
        # Absent (None) until the first confirmation: absent means unknown.
        self._v[self._metrics.cols.up] = 1.0 if up else 0.0

    def restore_last_success(self, timestamp: float) -> None:
        self._v[self._metrics.cols.last_success] = float(timestamp)

    def set_outage(self, start: float, seconds: float) -> None:
        v, cols = self._v, self._metrics.cols
        v[cols.outage_start] = float(start)
        v[cols.last_outage] = float(seconds)

    def set_interval(self, seconds: float) -> None:
        self._v[self._metrics.cols.interval] = float(seconds)

    def observe(self, result: ProbeResult, duration: float, hours: str, now: float) -> None:
        ok = result.success
        m, v = self._metrics, self._v
        cols = m.cols
        v[cols.total["success" if ok else "failure", hours]] += 1
        v[cols.success] = 1.0 if ok else 0.0
        if self.measures_latency:
            m.probe_duration.observe(v, duration)
        phases = result.phases
        for phase, col in cols.phases:
            v[col] = phases.get(phase, 0.0)
        if ok:
            # Absent until a success: 0 would fake an outage.
            v[cols.last_success] = float(now)
        elif result.reason is not None:
            v[cols.failure[result.reason]] += 1
        if result.cert_expiry is not None:
            if self._cert is None:
                self._cert = m.cert_expiry.labels(self._key[0], self._key[1])
            self._cert.set(result.cert_expiry)
        for step, seconds in result.steps.items() if result.steps else ():
            self._detail(m.journey_step, (*self._key, step), seconds)
        if result.time_to_result is not None:
            m.time_to_result.labels(*self._key).set(result.time_to_result)
        for name, labels, value in result.samples:
            gauge = m.kind_gauges.get(name)
            if gauge is not None and len(labels) == m.kind_labels[name]:
                self._detail(gauge, (*self._key, *labels), value)

    def _detail(self, gauge: Gauge, labels: tuple[str, ...], value: float) -> None:
        gauge.labels(*labels).set(value)
        if self._details is None:
            self._details = set()
        self._details.add((gauge, labels))

    def drop_details(self) -> None:
        """Forget what the runs of the probe's current spec exported beyond the common
        series (journey steps, a kind's own series): on removal, and when the spec changes,
        since the new one may never set them again (a step renamed, an audit switched off)."""
        for gauge, labels in self._details or ():
            _remove(gauge, labels)
        self._details = None


@dataclass(frozen=True, slots=True)
class _Columns:
    """Where each per-probe series lives in a probe's value list."""

    total: dict[tuple[str, str], int]
    failure: dict[Reason, int]
    success: int
    phases: tuple[tuple[Phase, int], ...]
    attempt: dict[bool, int]
    up: int
    last_success: int
    outage_start: int
    last_outage: int
    interval: int


_OBJECTIVE_HELP = {
    "availability": "Share of successful probe events required over the window (ratio).",
    "offhours_availability": "Share of successful off-hours probe events required (ratio).",
    "max_outage": "Longest single outage allowed in the window.",
    "latency_p95": "95th percentile probe duration allowed.",
    "window": "Window over which the standard is judged.",
    "maintenance_counts": "1 when announced maintenance still counts against the 24/7 standard.",
}


class Metrics:
    """Every collector the daemon exports, on a registry of its own."""

    def __init__(self, location: str, version: str, buckets: Sequence[float] = BASE_BUCKETS,
                 shard: str = "0/1", worker: str = "") -> None:
        # _created samples would double the series count for no query anyone writes.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.location = location
        # Two parts: the compact families (one per-probe or per-service series each) and the
        # few prometheus_client metrics in ``_rest``; ``registry`` shows both, for any client.
        self._rest = CollectorRegistry(auto_describe=True)
        # What is exported of it: under a supervisor, with the worker named on daemon-wide
        # series, so the merged /metrics has each series once.
        self._exported: CollectorRegistry = self._rest
        if worker:
            self._exported = CollectorRegistry(auto_describe=False)
            self._exported.register(_WorkerLabelled(self._rest, worker))
        self._families = Families()
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_Both(self._exported, self._families))
        self._series: dict[tuple[str, str], ProbeSeries] = {}
        r = self._rest
        f = self._family
        self.probes = ProbeTable(PROBE_LABELS)
        t = self.probes
        runs = [(result, hours) for result in ("success", "failure")
                for hours in (BUSINESS, OFFHOURS)]
        self.probes_total = t.columns(
            n.PROBES_TOTAL, "Probe runs by result and by business/off-hours in the service's "
            "local time.", "counter", ("result", "hours"), runs)
        self.probe_failures = t.columns(
            n.PROBE_FAILURES_TOTAL, "Failed probe runs by reason.", "counter", ("reason",),
            [(r.value,) for r in Reason])
        self.probe_success = t.columns(
            n.PROBE_SUCCESS, "Result of the last probe run (1 success, 0 failure); absent "
            "until the first run.", "gauge", absent=True)
        self.attempts = t.columns(
            n.PROBE_ATTEMPTS_TOTAL, "Every probe attempt, immediate retries included.",
            "counter", ("result",), [("success",), ("failure",)])
        self.probe_up = t.columns(
            n.PROBE_UP, "Confirmed state after failure/success thresholds (1 up, 0 down); "
            "absent until the first confirmation.", "gauge", absent=True)
        self.probe_phase = t.columns(
            n.PROBE_PHASE_SECONDS, "Last run's phase durations (blackbox_exporter's "
            "meanings).", "gauge", ("phase",), [(p.value,) for p in Phase])
        self.last_success = t.columns(
            n.PROBE_LAST_SUCCESS_TIMESTAMP_SECONDS, "Unix time of the last successful run.",
            "gauge", absent=True)
        self.outage_start = t.columns(
            n.PROBE_OUTAGE_START_TIMESTAMP_SECONDS, "Unix time the current or most recent "
            "outage began: the end of the last success before its first failed run, or that "
            "run's start if the monitor saw nothing just before it (first run, restart).",
            "gauge", absent=True)
        self.last_outage = t.columns(
            n.PROBE_LAST_OUTAGE_SECONDS, "Length of the current or most recent outage as of "
            "the last run (final once a run succeeded); time the monitor was away is not "
            "counted.", "gauge", absent=True)
        self.interval = t.columns(
            n.PROBE_INTERVAL_SECONDS, "The probe's scheduled interval: coverage is runs done "
            "over runs this implies.", "gauge", absent=True)
        self.buckets = tuple(buckets)
        self.probe_duration = t.histogram(  # last: new edges only resize the rows' tails
            n.PROBE_DURATION_SECONDS, "Whole-probe duration, including failures.",
            self.buckets)
        for family in (self.probes_total, self.probe_failures, self.probe_success,
                       self.attempts, self.probe_up, self.probe_phase, self.last_success,
                       self.outage_start, self.last_outage, self.interval,
                       self.probe_duration):
            self._families.add(family)
        self.cols = _Columns(
            total={run: self.probes_total.col(*run) for run in runs},
            failure={r: self.probe_failures.col(r.value) for r in Reason},
            success=self.probe_success.col(),
            phases=tuple((p, self.probe_phase.col(p.value)) for p in Phase),
            attempt={ok: self.attempts.col("success" if ok else "failure")
                     for ok in (True, False)},
            up=self.probe_up.col(),
            last_success=self.last_success.col(),
            outage_start=self.outage_start.col(),
            last_outage=self.last_outage.col(),
            interval=self.interval.col())
        self.journey_step = Gauge(
            n.JOURNEY_STEP_DURATION_SECONDS, "Last run's duration of each journey step.",
            [*PROBE_LABELS, "step"], registry=r)
        self.time_to_result = Gauge(
            n.JOURNEY_TIME_TO_RESULT_SECONDS, "Last journey's time from submitting an "
            "application until its result was ready.", PROBE_LABELS, registry=r)
        self.cert_expiry = Gauge(
            n.TLS_CERT_EXPIRY_TIMESTAMP_SECONDS, "Earliest certificate expiry seen in the "
            "served chain.", ["service", "probe"], registry=r)
        # Each kind's own series (probes.KindMetric): per-probe gauges its runs set, and
        # daemon-wide ones read from its runtime when scraped (see add_runtime).
        self.kind_gauges = {
            m.name: Gauge(m.name, m.help, [*PROBE_LABELS, *m.labels], registry=r)
            for kind in KINDS for m in kind.metrics if m.per_probe}
        self.kind_labels = {m.name: len(m.labels) for kind in KINDS for m in kind.metrics}
        self._runtime_metrics = {kind.name: _RuntimeCollector(
            [m for m in kind.metrics if not m.per_probe]) for kind in KINDS}
        for collector in self._runtime_metrics.values():
            r.register(collector)
        self.service_info = f(
            n.SERVICE_INFO, "Catalog facts about a service (always 1).", "gauge",
            ["service", "name", "level", "region", "department", "curator", "mszu"])
        self.life_situation_member = f(
            n.LIFE_SITUATION_MEMBER, "Service membership of a life situation (always 1).",
            "gauge", ["life_situation", "service"])
        self.life_situation_info = f(
            n.LIFE_SITUATION_INFO, "Life situation names (always 1).", "gauge",
            ["life_situation", "name"])
        self.region_info = f(
            n.REGION_INFO, "Region names and time zones (always 1).", "gauge",
            ["region", "name", "timezone"])
        self.curator_info = f(
            n.CURATOR_INFO, "Curators and their deputies (always 1).", "gauge",
            ["curator", "name", "deputy"])
        self.platform_info = f(
            n.PLATFORM_INFO, "Catalog facts about a shared platform services depend on "
            "(always 1); its probes' series carry its id in the service label.", "gauge",
            ["platform", "name", "curator", "region"])
        self.probe_depends_on = f(
            n.PROBE_DEPENDS_ON, "A service's probe goes through this platform (always 1): its "
            "service's depends_on and its own.", "gauge", ["service", "probe", "platform"])
        self.objectives = {
            part: f(name, _OBJECTIVE_HELP[part], "gauge", ["service"])
            for part, name in n.SERVICE_OBJECTIVES.items()
        }
        self.maintenance_active = f(
            n.MAINTENANCE_ACTIVE, "1 while announced maintenance is in progress.",
            "gauge", ["service"])
        self.scheduler_lag = Histogram(
            n.SCHEDULER_LAG_SECONDS, "Delay from a probe's scheduled time to its start.",
            buckets=LAG_BUCKETS, registry=r)
        self.skipped_runs = Counter(
            n.SCHEDULER_SKIPPED_RUNS_TOTAL, "Runs not started, by reason: overlap (the previous "
            "run of the same probe was still going), overload (shed by admission control: too "
            "late to start).", ["reason"], registry=r)
        for reason in n.SkipReason:  # all pre-set to 0, so rate() sees the first skip
            self.skipped_runs.labels(reason.value)
        self.in_flight = Gauge(
            n.PROBES_IN_FLIGHT, "Probe runs in progress.", registry=r)
        self.configured = Gauge(
            n.PROBES_CONFIGURED, "Probes scheduled from the running catalog.", registry=r)
        self.reload_ok = Gauge(
            n.CONFIG_LAST_RELOAD_SUCCESSFUL, "1 if the last catalog load succeeded.",
            registry=r)
        self.reload_time = Gauge(
            n.CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS,
            "Unix time of the last successful catalog load.", registry=r)
        Gauge(n.BUILD_INFO, "Build facts (always 1).", ["version", "python"],
              registry=r).labels(version, platform.python_version()).set(1)
        Gauge(n.SHARD_INFO, "This replica's shard as INDEX/COUNT (always 1).", ["shard"],
              registry=r).labels(shard).set(1)

    def _family(self, name: str, help_text: str, kind: str, labels: Sequence[str]) -> Family:
        family = Family(name, help_text, kind, labels)
        self._families.add(family)
        return family

    def render(self) -> bytes:
        """The /metrics body: the same samples as ``generate_latest(self.registry)``, fast."""
        return generate_latest(self._exported) + "".join(self._families.chunks()).encode()

    async def stream(self) -> AsyncIterator[bytes]:
        """``render()`` in ~1 ms slices on the event loop, so probes keep running and timing
        their reads between slices (at 10,000 services a render is ~0.3 s of CPU), and sent
        as they come: the 45 MB body of 10,000 services is never held whole."""
        yield generate_latest(self._exported)
        for chunk in self._families.chunks():
            yield chunk.encode()
            await asyncio.sleep(0)

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
        series.drop_details()
        labels = (service, probe, self.location)
        self.probes.remove(labels)
        _remove(self.time_to_result, labels)
        _remove(self.cert_expiry, (service, probe))

    def add_ports(self, ports: Ports) -> None:
        """The series of the TCP ports this process owns (not a worker's: its supervisor's)."""
        self._rest.register(ports)

    def add_runtime(self, kind: str, runtime: KindRuntime) -> None:
        """Read kind ``kind``'s daemon-wide metrics from ``runtime`` at every scrape."""
        self._runtime_metrics[kind].runtime = runtime

    def use_buckets(self, buckets: Sequence[float]) -> bool:
        """Swap the duration histogram when new latency objectives need new edges. Its counts
        restart, which Prometheus treats as a counter reset. Returns whether it swapped."""
        wanted = tuple(buckets)
        if wanted == self.buckets:
            return False
        old, self.buckets = self.probe_duration, wanted
        self.probe_duration = self.probes.swap_histogram(old, wanted)
        self._families.replace(old, self.probe_duration)
        return True

    def describe_catalog(self, catalog: Catalog) -> None:
        """Refresh info and objective metrics. Each family is filled aside and swapped in whole,
        so a scrape rendering between reload steps sees the old rows or the new, never a half."""
        info = (self.service_info, self.life_situation_member, self.life_situation_info,
                self.region_info, self.curator_info, self.platform_info,
                self.probe_depends_on, self.maintenance_active, *self.objectives.values())
        fresh = {id(f): Family(f.name, f.help, f.kind, f.labelnames) for f in info}

        # Seven families have one row per service labelled service="<id>" alone: one tuple
        # and one label text per service for all seven, not seven of each.
        shared: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[tuple[str, ...], str]] = {}

        def put(family: Family, value: float, *labels: str) -> None:
            target = fresh[id(family)]
            found = shared.get((target.labelnames, labels))
            if found is None:
                found = shared[target.labelnames, labels] = (
                    labels, label_text(target.labelnames, labels))
            target.put(*found, float(value))

        o = self.objectives
        for s in catalog.services:
            put(self.service_info, 1, s.id, s.name, s.level, s.region, s.department, s.curator,
                str(s.mszu).lower())
            for bundle in s.life_situations:
                put(self.life_situation_member, 1, bundle, s.id)
            std = catalog.standard_for(s)
            put(o["availability"], std.availability, s.id)
            put(o["offhours_availability"], std.offhours_availability, s.id)
            put(o["max_outage"], std.max_outage, s.id)
            put(o["latency_p95"], std.latency_p95, s.id)
            put(o["window"], std.window, s.id)
            put(o["maintenance_counts"], 1 if std.maintenance_counts else 0, s.id)
            put(self.maintenance_active, 0, s.id)
            for probe in s.probes:
                for used in catalog.dependencies(s, probe):
                    put(self.probe_depends_on, 1, s.id, probe.name, used)
        for p in catalog.platforms:
            put(self.platform_info, 1, p.id, p.name, p.curator, p.region)
        for ls in catalog.life_situations:
            put(self.life_situation_info, 1, ls.id, ls.name)
        for region in catalog.regions:  # codes are unique: the catalog checks it
            put(self.region_info, 1, region.code, region.name, region.timezone)
        for c in catalog.curators:
            put(self.curator_info, 1, c.id, c.name, c.deputy or "")
        for family in info:
            family.rows = fresh[id(family)].rows
        self.configured.set(sum(len(s.probes) for s in catalog.probed))

    def set_maintenance(self, service: str, active: bool) -> None:
        self.maintenance_active.cell(service)[1] = 1.0 if active else 0.0

    def reload_result(self, ok: bool) -> None:
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_time.set(time.time())


class _Both:
    """The registry's one collector: the prometheus_client metrics, then the compact ones."""

    def __init__(self, rest: CollectorRegistry, families: Families) -> None:
        self._rest = rest
        self._families = families

    def describe(self) -> list[Metric]:
        return []  # names are unique by construction; skips a full collect at registration

    def collect(self) -> Iterator[Metric]:
        yield from self._rest.collect()
        yield from self._families.collect()


class _WorkerLabelled:
    """The daemon-wide series of one worker (those without a ``service`` label: scheduler
    lag, in-flight runs, reload results, a kind runtime's counters) with a ``worker`` label;
    per-probe series are the worker's own already (its share of the services)."""

    def __init__(self, inner: CollectorRegistry, worker: str) -> None:
        self._inner = inner
        self._worker = worker

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        for metric in self._inner.collect():
            out = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            out.samples = [
                sample if "service" in sample.labels
                else sample._replace(labels={**sample.labels, "worker": self._worker})
                for sample in metric.samples]
            yield out


class _RuntimeCollector:
    """A kind runtime's daemon-wide series: every declared family, from the start (samples
    once the daemon has attached the runtime)."""

    def __init__(self, declared: Sequence[KindMetric]) -> None:
        self.runtime: KindRuntime | None = None
        self._declared = declared

    def collect(self) -> Iterator[Metric]:
        samples: dict[str, list[tuple[tuple[str, ...], float]]] = {}
        for name, labels, value in self.runtime.samples() if self.runtime is not None else ():
            samples.setdefault(name, []).append((labels, value))
        for metric in self._declared:
            family: GaugeMetricFamily | CounterMetricFamily
            if metric.type == "counter":
                family = CounterMetricFamily(metric.name, metric.help, labels=metric.labels)
            else:
                family = GaugeMetricFamily(metric.name, metric.help, labels=metric.labels)
            for labels, value in samples.get(metric.name, []):
                family.add_metric(list(labels), value)
            yield family


def _remove(metric: Counter | Gauge | Histogram, labels: tuple[str, ...]) -> None:
    # KeyError: never observed (e.g. cert expiry on plain HTTP), nothing to drop.
    with contextlib.suppress(KeyError):
        metric.remove(*labels)
