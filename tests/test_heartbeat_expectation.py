"""A heartbeat's verdict under a pinned clock: a late job, a failed job, a job that starts and
never ends, a job expected only on working days (the project's own calendar: no alarm on a
Russian public holiday), and the period + grace boundaries. Pure functions, no daemon."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from monitor.localtime.hours import BUSINESS, hours_label
from probes import Reason
from probes.heartbeat.expectation import evaluate, next_due
from probes.heartbeat.record import JobRecord
from probes.heartbeat.spec import HeartbeatSpec

MSK = "Europe/Moscow"
TOKEN = "a-token-of-sixteen-chars"


def _spec(**fields: Any) -> HeartbeatSpec:
    return HeartbeatSpec.model_validate({"token": TOKEN, **fields})


def _at(text: str, zone: str = MSK) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def _business(at: dt.datetime, zone: str) -> bool:
    return hours_label(at, zone) == BUSINESS


def test_period_and_grace_boundaries() -> None:
    spec = _spec(period="1h", grace="10m")
    job = JobRecord(since=_at("2027-03-01 00:00"))
    job.ping("success", _at("2027-03-01 10:00"))
    assert evaluate(spec, job, _at("2027-03-01 11:10"), MSK).success  # due + grace exactly
    late = evaluate(spec, job, _at("2027-03-01 11:10:01"), MSK)
    assert (late.success, late.reason) == (False, Reason.MISSED)
    assert "2027-03-01 11:00:00 MSK" in late.detail and "10m" in late.detail
    job.ping("success", _at("2027-03-01 11:30"))  # the late job reports: success again
    assert evaluate(spec, job, _at("2027-03-01 11:31"), MSK).success


def test_a_job_never_pinged_is_late_from_when_it_was_first_expected() -> None:
    spec = _spec(period="1d", grace="1h")
    job = JobRecord(since=_at("2027-03-01 12:00"))
    assert evaluate(spec, job, _at("2027-03-02 12:59"), MSK).success
    missed = evaluate(spec, job, _at("2027-03-02 13:01"), MSK)
    assert missed.reason is Reason.MISSED and "no success yet" in missed.detail


def test_a_failed_job_fails_with_its_exit_code_until_the_next_success() -> None:
    spec = _spec(period="1d")
    job = JobRecord(since=_at("2027-03-01 00:00"))
    job.ping("start", _at("2027-03-01 02:00"), rid="r1")
    job.ping("fail", _at("2027-03-01 02:03"), rid="r1", exit_code=3,
             excerpt="pg_dump: error:\nconnection refused")
    failed = evaluate(spec, job, _at("2027-03-01 02:04"), MSK)
    assert (failed.success, failed.reason) == (False, Reason.ASSERTION)
    assert "exit code 3" in failed.detail
    assert "pg_dump: error: connection refused" in failed.detail  # one line
    assert job.duration == 180.0 and job.exit_code == 3 and not job.open_runs
    job.ping("success", _at("2027-03-01 03:00"))
    assert evaluate(spec, job, _at("2027-03-01 03:01"), MSK).success
    assert job.exit_code == 0


def test_a_job_that_starts_and_never_ends_times_out() -> None:
    spec = _spec(period="1d", grace="1h", max_duration="30m")
    job = JobRecord(since=_at("2027-03-01 00:00"))
    job.ping("success", _at("2027-03-01 02:10"))
    job.ping("start", _at("2027-03-02 02:00"), rid="r2")
    assert evaluate(spec, job, _at("2027-03-02 02:30"), MSK).success
    hung = evaluate(spec, job, _at("2027-03-02 02:30:01"), MSK)
    assert (hung.success, hung.reason) == (False, Reason.TIMEOUT)
    assert "2027-03-02 02:00:00 MSK" in hung.detail and "30m" in hung.detail


def test_an_open_run_excuses_lateness_only_within_max_duration() -> None:
    # Due 02:00 + 10m grace; the job started at 02:05 and runs long, within max_duration.
    spec = _spec(cron="0 2 * * *", grace="10m", max_duration="2h")
    job = JobRecord(since=_at("2027-03-01 00:00"))
    job.ping("start", _at("2027-03-01 02:05"))
    assert evaluate(spec, job, _at("2027-03-01 03:00"), MSK).success
    assert evaluate(spec, job, _at("2027-03-01 04:06"), MSK).reason is Reason.TIMEOUT
    # Without max_duration the grace must cover the run: a long run is late.
    plain = _spec(cron="0 2 * * *", grace="10m")
    assert evaluate(plain, job, _at("2027-03-01 03:00"), MSK).reason is Reason.MISSED


def test_the_end_without_a_run_id_closes_the_latest_open_run() -> None:
    job = JobRecord(since=0.0)
    job.ping("start", 100.0, rid="a")
    job.ping("start", 200.0, rid="b")
    job.ping("success", 260.0)
    assert job.duration == 60.0 and list(job.open_runs) == ["a"]
    job.ping("success", 400.0, rid="a")
    assert job.duration == 300.0 and not job.open_runs


def test_cron_in_the_region_time_zone() -> None:
    spec = _spec(cron="0 2 * * *", grace="30m")
    job = JobRecord(since=_at("2027-03-01 12:00", "Asia/Vladivostok"))
    due = next_due(spec, job.since, "Asia/Vladivostok")
    assert due == _at("2027-03-02 02:00", "Asia/Vladivostok")
    assert evaluate(spec, job, _at("2027-03-02 02:29", "Asia/Vladivostok"),
                    "Asia/Vladivostok").success
    assert evaluate(spec, job, _at("2027-03-02 02:31", "Asia/Vladivostok"),
                    "Asia/Vladivostok").reason is Reason.MISSED
    # A success at 02:00 sharp is that day's run: the next one is due the day after.
    job.ping("success", _at("2027-03-02 02:00", "Asia/Vladivostok"))
    assert next_due(spec, job.last_success or 0.0, "Asia/Vladivostok") == _at(
        "2027-03-03 02:00", "Asia/Vladivostok")


def test_working_days_only_no_alarm_on_a_public_holiday() -> None:
    # A report job due at 10:00 on working days. Last success: Thursday 2026-12-31.
    spec = _spec(cron="0 10 * * *", grace="1h", business_hours_only=True)
    job = JobRecord(since=_at("2026-12-01 00:00"))
    job.ping("success", _at("2026-12-31 10:05"))
    # The New Year holidays, 1–8 January 2027 (and the weekend after): nothing is expected.
    for day in ("2027-01-01", "2027-01-04", "2027-01-07", "2027-01-08", "2027-01-10"):
        verdict = evaluate(spec, job, _at(f"{day} 12:00"), MSK, _business)
        assert verdict.success, (day, verdict)
    # The first working day, Monday 11 January: due at 10:00, missed after 11:00.
    assert next_due(spec, job.last_success or 0.0, MSK, _business) == _at("2027-01-11 10:00")
    assert evaluate(spec, job, _at("2027-01-11 10:59"), MSK, _business).success
    missed = evaluate(spec, job, _at("2027-01-11 11:01"), MSK, _business)
    assert missed.reason is Reason.MISSED and "2027-01-11 10:00:00 MSK" in missed.detail
    # Defender of the Fatherland Day (Tuesday 23 February 2027) is skipped too.
    # Monday 22 February 2027 is a day off as well (moved from Saturday 20 February); a job
    # that ran anyway reports success, and the next run is due on Wednesday.
    job.ping("success", _at("2027-02-22 10:01"))
    due = next_due(spec, job.last_success or 0.0, MSK, _business)
    assert due == _at("2027-02-24 10:00")
    assert evaluate(spec, job, _at("2027-02-23 12:00"), MSK, _business).success


def test_without_the_calendar_the_holiday_is_a_working_day() -> None:
    spec = _spec(cron="0 10 * * *", grace="1h", business_hours_only=True)
    job = JobRecord(since=_at("2026-12-01 00:00"))
    job.ping("success", _at("2026-12-31 10:05"))
    # The same job judged by every-instant-is-business (no calendar): 1 January alarms.
    assert evaluate(spec, job, _at("2027-01-01 12:00"), MSK).reason is Reason.MISSED


def test_a_period_due_at_night_moves_to_the_morning() -> None:
    spec = _spec(period="12h", grace="15m", business_hours_only=True)
    job = JobRecord(since=0.0)
    job.ping("success", _at("2027-03-02 12:00"))  # a Tuesday; due 00:00 -> 06:00 Wednesday
    assert next_due(spec, job.last_success or 0.0, MSK, _business) == _at("2027-03-03 06:00")
    assert evaluate(spec, job, _at("2027-03-03 06:14"), MSK, _business).success
    assert evaluate(spec, job, _at("2027-03-03 06:16"), MSK, _business).reason is Reason.MISSED


def test_a_nightly_cron_with_business_hours_only_is_never_due() -> None:
    spec = _spec(cron="0 2 * * *", business_hours_only=True)
    assert next_due(spec, _at("2027-03-01 00:00"), MSK, _business) is None
    assert evaluate(spec, JobRecord(since=0.0), _at("2027-06-01 12:00"), MSK, _business).success
