"""The supervisor's own series, beside its workers' merged ones: whether each worker is
probing its share, and how often one had to be started again."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics

from monitor import metric_names as n


class SupervisorMetrics:
    def __init__(self, workers: Sequence[str]) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # as the workers do
        self.registry = CollectorRegistry(auto_describe=True)
        self.up = Gauge(n.WORKER_UP, "1 while the worker probes its share of the services.",
                        ["worker"], registry=self.registry)
        self.restarts = Counter(n.WORKER_RESTARTS_TOTAL, "Worker processes started again "
                                "after they exited on their own (a crash, a kill).",
                                ["worker"], registry=self.registry)
        for worker in workers:  # every series from the start: a rate needs its zero
            self.up.labels(worker).set(0)
            self.restarts.labels(worker)
