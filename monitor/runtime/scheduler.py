"""Runs every (service, probe) on its interval with APScheduler 3.

Each job fires on a fixed grid, ``epoch + offset + k * interval``, with the offset from a
stable hash of its id: start times are spread across the interval and stay the same across
restarts. APScheduler's ``max_instances=1`` prevents overlapping runs of one probe; a
semaphore bounds how many probes run at once across the daemon.

Admission control: a run must start within its lag budget of its grid point,
``min(LAG_CAP, LAG_SHARE * interval)``, counting the wait for a concurrency slot: checked
when it fires and again when it takes its slot, so no run starts later. One that cannot is
shed: not run, counted in ``dozor_scheduler_skipped_runs_total{reason="overload"}``
and logged in one line per ``SHED_LOG_EVERY`` seconds, and not recorded: the probe's state,
runs and failures are untouched (the gap is the monitor's, not the service's). Past
saturation, running every late run grows the backlog and each run's cost with it (one core:
1,050 runs/s done at a 2,250/s target, against 1,500/s sustained below it); shedding bounds
the backlog and the lag of every run that starts (README, Scheduling: at twice the saturating
rate, 667 -> 836-899 runs/s done, lag p99 9.3 -> 1.0 s).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.triggers.interval import IntervalTrigger

from monitor.metric_names import SkipReason
from monitor.runtime.confirmation import ProbeState, Thresholds, record
from monitor.runtime.loop_timer import LoopScheduler
from monitor.runtime.plan import JobSpec, PlanDiff, diff_plans
from monitor.runtime.state import SAVED, SavedProbe
from monitor.serving.metrics import Metrics, ProbeSeries
from probes import PROBES, DeniedNetworks, ProbeContext, ProbeFn, ProbeResult, run_probe

# A run may start this share of its interval late at most: past half, it is nearer the next
# grid point than its own, and the next run will measure the service sooner than it would.
LAG_SHARE = 0.5
# ... and this many seconds late at most, whatever its interval: a run delayed more is waiting
# behind a backlog the daemon is not clearing. ~6x the worst lag a daemon with room saw (26 ms
# p99 at 1,500 runs/s on one core; 173 ms on a loaded 2-core machine with hostile targets),
# seconds below the backlog past saturation (p99 9.7 s at 2,250/s without shedding). 0.25 and
# 0.5 s did no better at 2x saturation (CPU per completed run within the machine's noise), and
# would shed more runs of a daemon that is only briefly stalled.
LAG_CAP = 1.0
SHED_LOG_EVERY = 10.0  # seconds: shed runs are logged as one line per period, with the count


def lag_budget(job: JobSpec) -> float:
    """How late after its grid point a run of ``job`` may start before it is shed."""
    return min(LAG_CAP, LAG_SHARE * job.interval)


class _Sheds:
    """Logs shed runs without flooding: the first at once, then one line per period with the
    count and the worst lag, until a period passes with none."""

    def __init__(self, log: Any) -> None:
        self._log = log
        self._count = 0
        self._worst = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def add(self, key: str, lag: float) -> None:
        if self._timer is None:
            self._log.warning("probe runs shed: overloaded", shed=1, job=key,
                              lag=round(lag, 3), every=SHED_LOG_EVERY)
            self._timer = asyncio.get_running_loop().call_later(SHED_LOG_EVERY, self.flush)
            return
        self._count += 1
        self._worst = max(self._worst, lag)

    def flush(self, stopping: bool = False) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        if not self._count:
            return  # a quiet period: the next shed is logged at once
        self._log.warning("probe runs shed: overloaded", shed=self._count,
                          worst_lag=round(self._worst, 3), seconds=SHED_LOG_EVERY)
        self._count, self._worst = 0, 0.0
        if not stopping:
            self._timer = asyncio.get_running_loop().call_later(SHED_LOG_EVERY, self.flush)


@dataclass(slots=True)
class _Entry:
    """A live job. Its logger, probe context and thresholds are built when the job is added
    or updated, not on every run: a run only looks them up."""

    job: JobSpec
    series: ProbeSeries
    ctx: ProbeContext
    thresholds: Thresholds
    state: ProbeState = field(default_factory=ProbeState)
    raising: bool = False  # the last attempt raised: its traceback is logged already
    raised_now: bool = False  # the current attempt raised

    def raised(self, exc: Exception) -> None:
        """``run_probe``'s ``on_raise``: log the traceback when the probe starts raising, not
        on every run of a streak."""
        if not self.raising:
            self.ctx.log.error("probe raised", error=f"{type(exc).__name__}: {exc}",
                               exc_info=exc)
        self.raised_now = True


def _trigger(job: JobSpec) -> IntervalTrigger:
    # A start date in the past anchors the grid; APScheduler fires at the next grid point.
    start = dt.datetime.fromtimestamp(job.offset, dt.UTC)
    return IntervalTrigger(seconds=job.interval, start_date=start, timezone=dt.UTC)


def _thresholds(job: JobSpec) -> Thresholds:
    return Thresholds(job.failure_threshold, job.success_threshold)


def _describe(series: ProbeSeries, job: JobSpec) -> None:
    """What a probe's series take from its job: the interval they export, and whether its
    runs' durations are the service's latency."""
    series.set_interval(job.interval)
    series.measures_latency = job.spec.measures_latency()


def scheduled_time(job: JobSpec, now: float) -> float:
    """The grid point this run belongs to: the latest one at or before ``now``."""
    return job.offset + math.floor((now - job.offset) / job.interval) * job.interval


class ProbeScheduler:
    """Owns the APScheduler instance and the live job table; applies catalog plans as diffs."""

    def __init__(self, metrics: Metrics, ctx_http: Any, user_agent: str, location: str,
                 max_concurrency: int = 1000, runtimes: Mapping[type, Any] | None = None,
                 deny: DeniedNetworks = DeniedNetworks()  # noqa: B008 - frozen
                 ) -> None:
        self._metrics = metrics
        self._deny = deny  # --deny-networks, in every run's context
        self._runtimes = runtimes or {}  # kind runtimes by spec type
        self._http = ctx_http
        self._user_agent = user_agent
        self._location = location
        self._limit = asyncio.Semaphore(max_concurrency)
        self._entries: dict[str, _Entry] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._log = structlog.get_logger("dozor.scheduler")
        # Bound once: a labelled child per skip costs a dict lookup and a lock on every skip.
        self._overlaps = metrics.skipped_runs.labels(SkipReason.OVERLAP.value)
        self._overloads = metrics.skipped_runs.labels(SkipReason.OVERLOAD.value)
        self._sheds = _Sheds(self._log)
        self._aps = LoopScheduler(
            timezone=dt.UTC,
            job_defaults={
                "max_instances": 1,
                "coalesce": True,  # after a stall, run once, not once per missed slot
                # Never skipped by APScheduler: how late is too late is _run's to decide.
                "misfire_grace_time": None,
            },
        )
        self._aps.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES)

    @property
    def jobs(self) -> dict[str, JobSpec]:
        return {k: e.job for k, e in self._entries.items()}

    def state(self, key: str) -> ProbeState:
        return self._entries[key].state

    def next_run(self, key: str) -> float | None:
        job = self._aps.get_job(key)
        if job is None or job.next_run_time is None:
            return None
        return float(job.next_run_time.timestamp())

    def start(self) -> None:
        self._aps.start()

    def apply(self, plan: dict[str, JobSpec]) -> PlanDiff:
        """Make the live jobs match ``plan``: unchanged jobs keep their schedule and state."""
        diff = diff_plans(self.jobs, plan)
        for key in diff.removed:
            entry = self._entries.pop(key)
            self._aps.remove_job(key)
            self._metrics.remove(entry.job.service, entry.job.probe)
        for key in (*diff.updated, *diff.rescheduled):
            entry = self._entries[key]
            if entry.job.spec != plan[key].spec:
                entry.series.drop_details()
            entry.job = plan[key]
            # A changed probe may have changed kind, and so the runtime it runs in.
            entry.ctx = replace(entry.ctx, runtime=self._runtimes.get(type(plan[key].spec)))
            entry.thresholds = _thresholds(plan[key])
            _describe(entry.series, plan[key])
        for key in diff.rescheduled:
            self._aps.reschedule_job(key, trigger=_trigger(plan[key]))
        for key in diff.added:
            job = plan[key]
            log = self._log.bind(service=job.service, probe=job.probe, location=self._location)
            self._entries[key] = _Entry(
                job, self._metrics.series(job.service, job.probe),
                ProbeContext(http=self._http, log=log, user_agent=self._user_agent,
                             runtime=self._runtimes.get(type(job.spec)),
                             service=job.service, probe=job.probe, deny=self._deny),
                _thresholds(job))
            _describe(self._entries[key].series, job)
            self._aps.add_job(self._run, _trigger(job), args=(key,), id=key, name=key)
        return diff

    async def _run(self, key: str) -> None:
        entry = self._entries.get(key)
        if entry is None or self._stopping:
            return  # removed by a reload after APScheduler picked it, or shutting down
        task = asyncio.current_task()
        assert task is not None
        # Admission: decided here, where it costs a clock read, not after the run queued.
        now = time.time()
        due = scheduled_time(entry.job, now)
        budget = lag_budget(entry.job)
        if now - due > budget:
            self._shed(key, now - due)
            return
        self._running.add(task)
        try:
            if not await self._slot(due + budget - now):
                self._shed(key, time.time() - due)
                return
            try:
                # A slot freed in time, taken late: the loop's iterations run long past
                # saturation (a batch of APScheduler's fires, then their runs' steps).
                lag = time.time() - due
                if lag > budget:
                    self._shed(key, lag)
                    return
                await self._probe(entry)
            finally:
                self._limit.release()
        finally:
            self._running.discard(task)

    async def _slot(self, wait: float) -> bool:
        """Take a concurrency slot within ``wait`` seconds; False if none came in time."""
        if not self._limit.locked():
            await self._limit.acquire()  # a free slot: taken at once, no timer armed
            return True
        try:
            async with asyncio.timeout(wait):
                await self._limit.acquire()
        except TimeoutError:
            return False
        return True

    def _shed(self, key: str, lag: float) -> None:
        self._overloads.inc()
        self._sheds.add(key, lag)

    async def _probe(self, entry: _Entry) -> None:
        job = entry.job
        started = time.time()
        self._metrics.scheduler_lag.observe(max(0.0, started - scheduled_time(job, started)))
        ctx = entry.ctx
        self._metrics.in_flight.inc()
        fn = PROBES[type(job.spec)]
        try:
            # Immediate retries (Datadog's fast retry): the last attempt decides the verdict.
            for attempt in range(job.retries + 1):
                result, duration = await self._attempt(entry, fn)
                entry.series.attempt(result.success)
                if result.success or attempt == job.retries:
                    break
                ctx.log.debug("probe attempt failed; retrying", attempt=attempt + 1,
                              reason=result.reason.value if result.reason else "")
        finally:
            self._metrics.in_flight.dec()
        # The verdict is known now, after every retry: not at the last attempt's start +
        # its duration, which would make a retried run look shorter than it was.
        record(entry.series, entry.state, ctx.log, result, duration, started, job.timezone,
               entry.thresholds, job.interval, ended=time.time())

    async def _attempt(self, entry: _Entry, fn: ProbeFn) -> tuple[ProbeResult, float]:
        found = await run_probe(fn, entry.job.spec, entry.ctx, entry.job.timeout, entry.raised)
        entry.raising, entry.raised_now = entry.raised_now, False
        return found

    def snapshot(self) -> dict[str, SavedProbe]:
        # A saved probe is the state's fields of the same names: one list, in state.py.
        return {key: SavedProbe(**{name: getattr(e.state, name) for name in SAVED})
                for key, e in self._entries.items()}

    def restore(self, saved: dict[str, SavedProbe]) -> int:
        """Resume confirmation state, last-success times and outages of probes still in the
        catalog, so a restart emits no false 'recovered' or 'failing'. The last run's verdict
        is not restored: ``dozor_probe_success`` stays absent until the first run, and with
        it any outage now (the time the monitor was away is not one). Returns how many were
        restored."""
        restored = 0
        for key, probe in saved.items():
            entry = self._entries.get(key)
            if entry is None:
                continue
            for name in SAVED:
                setattr(entry.state, name, getattr(probe, name))
            entry.state.resumed = True
            if probe.outage_start is not None:
                entry.series.set_outage(probe.outage_start, probe.outage_seconds)
            if probe.last_success is not None:
                entry.series.restore_last_success(probe.last_success)
            if probe.up is not None:
                entry.series.set_up(probe.up)
            restored += 1
        return restored

    def every(self, seconds: float, fn: Callable[[], Awaitable[None] | None], job_id: str
              ) -> None:
        """A housekeeping job (not a probe), e.g. refreshing maintenance state."""
        async def run() -> None:  # a coroutine, so APScheduler keeps it on the event loop
            done = fn()
            if done is not None:
                await done

        self._aps.add_job(run, IntervalTrigger(seconds=seconds, timezone=dt.UTC), id=job_id,
                          replace_existing=True)

    def _on_skipped(self, event: JobSubmissionEvent) -> None:
        self._overlaps.inc()
        self._log.warning("probe run skipped: previous run still going", job=event.job_id)

    async def stop(self, grace: float) -> int:
        """Stop starting runs, give in-flight ones ``grace`` seconds, cancel the rest.
        Returns how many runs had to be cancelled."""
        self._stopping = True
        self._sheds.flush(stopping=True)
        if self._aps.running:
            self._aps.pause()
        # Runs APScheduler already created but that have not started yet: let them start and
        # return at once, instead of being cancelled mid-flight by APScheduler's shutdown.
        await asyncio.sleep(0)
        pending = set(self._running)
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
        else:
            late = set()
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=1.0)
        if self._aps.running:
            self._aps.shutdown(wait=False)
        return len(late)


# APScheduler checks every job's callable against its arguments with inspect.signature at
# add_job: computed once here instead of once per probe (1.9 s of a 10,000-probe apply).
ProbeScheduler._run.__signature__ = inspect.signature(ProbeScheduler._run)  # type: ignore[attr-defined]
