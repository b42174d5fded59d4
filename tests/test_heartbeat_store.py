"""The heartbeat runtime's parts without HTTP: the ping paths, the token buckets under a
pinned clock, what a reload keeps or forgets, and saved state that cannot be trusted."""

from __future__ import annotations

from typing import Any

import pytest

from probes import RuntimeJob
from probes.heartbeat.endpoint import Ping, parse
from probes.heartbeat.limits import Buckets
from probes.heartbeat.spec import HeartbeatSpec
from probes.heartbeat.store import JobStore

A = "job-a-token-0123456789"
B = "job-b-token-0123456789"


def _job(probe: str, token: str, **spec: Any) -> RuntimeJob:
    fields = {"token": token, "period": "1d", **spec}
    return RuntimeJob("svc", probe, HeartbeatSpec.model_validate(fields), "Europe/Moscow")


@pytest.mark.parametrize(("tail", "rid", "ping"), [
    (A, None, Ping(A, "success", None, None)),
    (f"{A}/start", "r-1", Ping(A, "start", None, "r-1")),
    (f"{A}/fail", None, Ping(A, "fail", None, None)),
    (f"{A}/0", None, Ping(A, "success", 0, None)),
    (f"{A}/255", "x", Ping(A, "fail", 255, "x")),
    (f"{A}/256", None, None),
    (f"{A}/-1", None, None),
    (f"{A}/0007", None, None),
    (f"{A}/stop", None, None),
    (f"{A}/start/x", None, None),
    ("", None, None),
    (f"/{A}", None, None),
    (A, "r" * 65, None),
    (A, "with space", None),
    (A, "", None),
])
def test_ping_paths(tail: str, rid: str | None, ping: Ping | None) -> None:
    assert parse(tail, rid) == ping


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    buckets = Buckets(rate=5.0, burst=20.0, size=3)
    assert all(buckets.take("a", 100.0) for _ in range(20))
    assert not buckets.take("a", 100.0)
    assert buckets.take("b", 100.0)  # another key has its own
    assert buckets.take("a", 100.2)  # one more after 1/5 s
    assert not buckets.take("a", 100.2)
    for key in ("c", "d", "e"):
        buckets.take(key, 101.0)
    assert len(buckets) == 3  # bounded: the oldest keys are forgotten


def test_a_reload_keeps_a_jobs_record_unless_its_token_changed_or_it_went() -> None:
    store = JobStore()
    store.bind([_job("a", A), _job("b", B)], now=10.0)
    assert store.find(A) == ("svc", "a") and store.find(B) == ("svc", "b")
    assert store.find(A[:-1]) is None and store.find(A + "x") is None
    store.records["svc", "a"].ping("success", 20.0)
    store.records["svc", "b"].ping("success", 20.0)
    store.bind([_job("a", A, grace="1h"), _job("b", "job-b-rotated-0123456789")], now=30.0)
    assert store.records["svc", "a"].last_success == 20.0  # same token, new grace: kept
    assert store.records["svc", "b"].last_success is None  # new token: a new record
    assert store.records["svc", "b"].since == 30.0
    assert store.find(B) is None
    store.bind([_job("a", A)], now=40.0)
    assert ("svc", "b") not in store.records


def test_state_round_trips_and_untrustworthy_state_is_refused() -> None:
    store = JobStore()
    store.bind([_job("a", A)], now=10.0)
    record = store.records["svc", "a"]
    record.ping("start", 20.0, rid="r1")
    record.ping("fail", 25.0, exit_code=2, excerpt="oops")
    record.ping("start", 30.0, rid="r2")
    saved = store.snapshot()
    fresh = JobStore()
    fresh.bind([_job("a", A), _job("b", B)], now=50.0)
    assert fresh.restore(saved, saved_before=60.0) == 1
    assert fresh.records["svc", "a"] == record
    assert fresh.records["svc", "b"].since == 50.0  # nothing saved for it
    job = saved["jobs"][0]
    for bad in ({**job, "since": "yesterday"}, {**job, "last_success": 1e12},
                {**job, "exit_code": 300}, {**job, "open_runs": {"r": "now"}},
                {**job, "open_runs": [1]}, {**job, "duration": -1},
                {**job, "service": None}, "a job"):
        with pytest.raises(ValueError, match=r"not|without"):
            fresh.restore({"jobs": [bad]}, saved_before=60.0)
    bad_snapshots: tuple[Any, ...] = (None, [], {"jobs": {}})
    for bad_snapshot in bad_snapshots:
        with pytest.raises(ValueError, match="not a heartbeat snapshot"):
            fresh.restore(bad_snapshot, saved_before=60.0)
