"""The supervisor's merged /metrics, from real daemons' expositions: each family once, with
every worker's samples, shared lines once, and promtool finds nothing to report."""

from __future__ import annotations

from harness.catalog_factory import catalog_dict
from harness.tools import promtool_check_metrics, samples
from monitor.catalog import Catalog
from monitor.runtime.plan import plan_jobs
from monitor.runtime.shard import Shard
from monitor.serving.metrics import Metrics, duration_buckets
from monitor.supervisor.merge import families, merge
from probes import ProbeResult


def _catalog() -> Catalog:
    return Catalog.model_validate(catalog_dict([f"http://127.0.0.1:9/{i}" for i in range(10)]))


def _worker(catalog: Catalog, index: int) -> bytes:
    """A worker's exposition: its share of the services, after one run of each probe."""
    share = Shard(index, 2).select(catalog)
    metrics = Metrics("loc", "1", duration_buckets(catalog), shard=f"{index}/2",
                      worker=str(index))
    metrics.describe_catalog(share)
    for job in plan_jobs(share).values():
        metrics.series(job.service, job.probe).observe(ProbeResult(success=True), 0.1,
                                                       "business", 1.0)
        metrics.scheduler_lag.observe(0.001)
    return metrics.render()


def test_merged_metrics_have_every_family_once_and_every_series_once() -> None:
    catalog = _catalog()
    bodies = [_worker(catalog, i).decode() for i in (0, 1)]
    merged = "".join(merge(bodies))
    assert promtool_check_metrics(merged.encode()).returncode == 0
    names = [name for name, _, _ in families(merged)]
    assert len(names) == len(set(names)) == len([n for n, _, _ in families(bodies[0])])
    found = samples(merged.encode())
    runs = {dict(labels)["service"] for (name, labels), value in found.items()
            if name == "dozor_probes_total" and dict(labels)["result"] == "success"
            and value == 1}
    assert runs == {s.id for s in catalog.services}  # both workers' shares
    lag = {dict(labels)["worker"] for (name, labels) in found
           if name == "dozor_scheduler_lag_seconds_count"}
    assert lag == {"0", "1"}  # daemon-wide series: one per worker, told apart by the label
    regions = [labels for (name, labels) in found if name == "dozor_region_info"]
    assert len(regions) == len(catalog.regions)  # alike in both bodies: written once


def test_a_missing_worker_leaves_its_share_out_not_a_broken_exposition() -> None:
    catalog = _catalog()
    merged = "".join(merge([_worker(catalog, 0).decode(), ""]))
    assert promtool_check_metrics(merged.encode()).returncode == 0
    services = {dict(labels)["service"] for (name, labels) in samples(merged.encode())
                if name == "dozor_probes_total"}
    assert services == {s.id for s in Shard(0, 2).select(catalog).services}
