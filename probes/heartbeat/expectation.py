"""Is a job meeting its expectation at ``now``? A pure function of the spec, the job's
record, the time, its zone and the business calendar, so tests pin every one of them.

The next due time counts from the last success (or, before any, from when Dozor started
expecting the job): ``period`` after it, or the first ``cron`` time after it. With
``business_hours_only`` a due time outside business hours is not expected: a period's moves
to the start of the next business hours, a cron time is skipped. The verdict, first match:

1. a run started and open longer than ``max_duration``: failure ``timeout``;
2. a failure reported (``/fail``, non-zero exit code) and no success since: ``assertion``;
3. past the due time plus ``grace`` with no success since, and no run open that started
   since then and is within ``max_duration`` (without one, grace must cover the run time):
   ``missed``;
4. otherwise success.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from probes._result import Reason
from probes._spec import format_duration
from probes.heartbeat.record import FAIL_WITHOUT_CODE, JobRecord
from probes.heartbeat.spec import HeartbeatSpec

IsBusiness = Callable[[dt.datetime, str], bool]

STEP = dt.timedelta(minutes=15)  # business hours start on a quarter hour in every zone
HORIZON = dt.timedelta(days=31)  # past it, no business time is coming (never, in practice)
MAX_SKIPS = 400  # cron times skipped for being outside business hours, per evaluation
SHOWN = 200  # characters of a body excerpt in a failure's detail


@dataclass(frozen=True, slots=True)
class Verdict:
    success: bool
    reason: Reason | None = None
    detail: str = ""


def always_business(_: dt.datetime, __: str) -> bool:
    return True


def evaluate(spec: HeartbeatSpec, job: JobRecord, now: float, timezone: str,
             is_business: IsBusiness = always_business) -> Verdict:
    zone = _zone(timezone)
    if spec.max_duration is not None and job.open_runs:
        oldest = min(job.open_runs.values())
        if now - oldest > spec.max_duration:
            return Verdict(False, Reason.TIMEOUT,
                           f"a run started at {_local(oldest, zone)} is still open after "
                           f"{format_duration(now - oldest)} (max_duration "
                           f"{format_duration(spec.max_duration)})")
    if job.failing_since_success():
        assert job.last_failure is not None
        code = ("" if job.exit_code in (None, FAIL_WITHOUT_CODE)
                else f" with exit code {job.exit_code}")
        shown = " ".join(job.excerpt.split())[:SHOWN]
        return Verdict(False, Reason.ASSERTION,
                       f"the job reported failure{code} at {_local(job.last_failure, zone)}"
                       + (f": {shown}" if shown else ""))
    base = job.last_success if job.last_success is not None else job.since
    due = next_due(spec, base, timezone, is_business)
    if due is None or now <= due + spec.grace:
        return Verdict(True)
    if spec.max_duration is not None and any(start >= base for start in job.open_runs.values()):
        return Verdict(True)  # running now, within max_duration (checked above)
    since = ("no success yet" if job.last_success is None
             else f"last success {_local(job.last_success, zone)}")
    return Verdict(False, Reason.MISSED,
                   f"no success by {_local(due, zone)} + grace {format_duration(spec.grace)} "
                   f"({since})")


def next_due(spec: HeartbeatSpec, after: float, timezone: str,
             is_business: IsBusiness = always_business) -> float | None:
    """The first time after ``after`` the job must have succeeded by (grace not added), or
    None when no such time is coming (business hours only, and none within a month)."""
    start = dt.datetime.fromtimestamp(after, _zone(timezone))
    if spec.period is not None:
        due = start + dt.timedelta(seconds=spec.period)
        if spec.business_hours_only:
            found = _next_business(due, timezone, is_business)
            return None if found is None else found.timestamp()
        return due.timestamp()
    assert spec.cron is not None
    trigger = _trigger(spec.cron, timezone)
    # Strictly after: a success at 02:00:00 sharp is for the 02:00 run, not the next one.
    fire = trigger.get_next_fire_time(None, start + dt.timedelta(microseconds=1))
    if not spec.business_hours_only:
        return None if fire is None else float(fire.timestamp())
    for _ in range(MAX_SKIPS):
        if fire is None:
            return None
        if is_business(fire, timezone):
            return float(fire.timestamp())
        # Jump to the next business hours instead of walking every minute of a long holiday.
        resume = _next_business(fire, timezone, is_business)
        if resume is None:
            return None
        fire = trigger.get_next_fire_time(None, resume)
    return None


def _next_business(at: dt.datetime, timezone: str, is_business: IsBusiness
                   ) -> dt.datetime | None:
    if is_business(at, timezone):
        return at
    utc = at.astimezone(dt.UTC)
    step = utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0) + STEP
    end = utc + HORIZON
    while step <= end:
        if is_business(step, timezone):
            return step.astimezone(at.tzinfo)
        step += STEP
    return None


@lru_cache(maxsize=256)
def _trigger(cron: str, timezone: str) -> CronTrigger:
    return CronTrigger.from_crontab(cron, timezone=ZoneInfo(timezone))


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local(at: float, zone: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(at, zone).strftime("%Y-%m-%d %H:%M:%S %Z")
