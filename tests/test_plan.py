import collections

import pytest

from harness.catalog_factory import catalog_dict
from monitor.catalog.model import Catalog
from monitor.runtime.plan import diff_plans, plan_jobs, start_offset
from monitor.runtime.scheduler import scheduled_time


def test_offsets_are_stable_and_inside_the_interval() -> None:
    key = "kindergarten-smo/portal"
    assert start_offset(key, 60) == start_offset(key, 60)
    assert start_offset("a/portal", 60) != start_offset("b/portal", 60)
    for i in range(1000):
        assert 0 <= start_offset(f"svc-{i}/p", 60) < 60


def test_ten_thousand_probes_spread_evenly_over_the_interval() -> None:
    per_second = collections.Counter(int(start_offset(f"svc-{i:05d}/portal", 60))
                                     for i in range(10_000))
    assert len(per_second) == 60
    # Uniform would be 166.7 per second; a clumping hash would blow well past these bounds.
    assert max(per_second.values()) < 230
    assert min(per_second.values()) > 110


def test_plan_uses_defaults_region_timezone_and_probe_overrides() -> None:
    data = catalog_dict(["http://127.0.0.1:1/a", "http://127.0.0.1:1/b"], interval="30s")
    data["services"][1]["probes"][0]["interval"] = "10s"
    data["services"][1]["probes"][0]["timeout"] = "2s"
    jobs = plan_jobs(Catalog.model_validate(data))
    a, b = jobs["svc-00000/portal"], jobs["svc-00001/portal"]
    assert (a.interval, a.timeout, a.timezone) == (30.0, 5.0, "Europe/Moscow")
    assert (b.interval, b.timeout, b.timezone) == (10.0, 2.0, "Asia/Vladivostok")


def test_diff_classifies_added_removed_rescheduled_updated() -> None:
    base = catalog_dict([f"http://127.0.0.1:1/{i}" for i in range(4)])
    old = plan_jobs(Catalog.model_validate(base))
    base["services"][0]["probes"][0]["interval"] = "30s"  # rescheduled
    base["services"][1]["probes"][0]["http"]["url"] = "http://127.0.0.1:2/"  # updated
    del base["services"][2]  # removed
    base["services"].append({**base["services"][-1], "id": "new-one"})  # added
    diff = diff_plans(old, plan_jobs(Catalog.model_validate(base)))
    assert diff.added == ("new-one/portal",)
    assert diff.removed == ("svc-00002/portal",)
    assert diff.rescheduled == ("svc-00000/portal",)
    assert diff.updated == ("svc-00001/portal",)
    assert diff.unchanged == 1


@pytest.mark.parametrize(
    ("now", "expected"), [(0.0, 0.0), (9.99, 0.0), (10.0, 10.0), (1025.5, 1020.0)]
)
def test_scheduled_time_is_the_latest_grid_point(now: float, expected: float) -> None:
    job = next(iter(plan_jobs(Catalog.model_validate(
        catalog_dict(["http://127.0.0.1:1/"], interval="10s"))).values()))
    # Times relative to the job's own grid, which starts at its hashed offset.
    assert scheduled_time(job, job.offset + now) == pytest.approx(job.offset + expected)
