"""From a catalog to the set of scheduled probe jobs: pure data, no I/O, easy to diff."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from monitor.catalog import Catalog


@dataclass(frozen=True, slots=True)
class JobSpec:
    """Everything one scheduled (service, probe) needs. Equal specs mean an unchanged job."""

    service: str
    probe: str
    interval: float
    timeout: float
    timezone: str
    spec: Any  # a probe kind's frozen spec model; its type picks the probe function
    retries: int = 0
    failure_threshold: int = 1
    success_threshold: int = 1
    # Derived from the key and interval; every run reads it (its lag), so it is hashed once.
    offset: float = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "offset", start_offset(self.key, self.interval))

    @property
    def key(self) -> str:
        return f"{self.service}/{self.probe}"


def start_offset(key: str, interval: float) -> float:
    """A stable point inside the interval, from a hash of the id: 10,000 probes spread evenly
    instead of firing at once, and each keeps its phase across restarts and replicas."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / 2**64
    return round(fraction * interval, 3)


def plan_jobs(catalog: Catalog) -> dict[str, JobSpec]:
    regions = catalog.timezones()
    jobs: dict[str, JobSpec] = {}
    # A platform's probes run like a service's, under the platform's id.
    for service in catalog.probed:
        for probe in service.probes:
            job = JobSpec(
                service=service.id,
                probe=probe.name,
                interval=catalog.interval(probe),
                timeout=catalog.timeout(probe),
                timezone=regions[service.region],
                spec=probe.spec,
                retries=probe.retries,
                failure_threshold=probe.failure_threshold,
                success_threshold=probe.success_threshold,
            )
            jobs[job.key] = job
    return jobs


@dataclass(frozen=True, slots=True)
class PlanDiff:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    rescheduled: tuple[str, ...]  # interval changed: new trigger, state kept
    updated: tuple[str, ...]  # spec/timeout/timezone changed: same trigger, state kept
    unchanged: int


def diff_plans(old: dict[str, JobSpec], new: dict[str, JobSpec]) -> PlanDiff:
    added = tuple(sorted(new.keys() - old.keys()))
    removed = tuple(sorted(old.keys() - new.keys()))
    both = sorted(old.keys() & new.keys())
    rescheduled = tuple(k for k in both if old[k].interval != new[k].interval)
    updated = tuple(k for k in both if old[k].interval == new[k].interval and old[k] != new[k])
    return PlanDiff(added, removed, rescheduled, updated,
                    len(both) - len(rescheduled) - len(updated))
