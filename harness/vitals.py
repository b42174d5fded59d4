"""The daemon's vital signs, read honestly: RSS and open descriptors from /proc, run counts
and scheduler lag from the daemon's own Prometheus registry (what a scrape would show).

Shared by tests/test_hostile_endpoints.py and bench/ (hostile_harness, soak, scheduler_bench).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

Buckets = list[tuple[float, float]]  # cumulative (le, count), sorted by le


def rss_bytes() -> int:
    """Resident set size of this process (VmRSS)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def histogram(source: Collector, name: str) -> Buckets:
    """Cumulative buckets of an unlabelled histogram, e.g. dozor_scheduler_lag_seconds, read
    from a registry or (cheaper beside thousands of probe series) the metric itself."""
    out = [(float(s.labels["le"]), s.value) for m in source.collect() for s in m.samples
           if s.name == f"{name}_bucket"]
    return sorted(out)


def since(now: Buckets, before: Buckets) -> Buckets:
    """Observations made between two snapshots of one histogram."""
    return [(le, c1 - c0) for (le, c1), (_, c0) in zip(now, before, strict=True)]


def quantile(buckets: Buckets, q: float) -> float:
    """Prometheus's histogram_quantile (linear within a bucket); NaN when empty."""
    total = buckets[-1][1] if buckets else 0.0
    if total == 0:
        return float("nan")
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_count) / max(count - prev_count, 1e-9)
        prev_le, prev_count = le, count
    return prev_le


def runs_by_service(registry: CollectorRegistry) -> dict[str, float]:
    """dozor_probes_total summed over result and hours, per service."""
    runs: dict[str, float] = {}
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == "dozor_probes_total":
                runs[s.labels["service"]] = runs.get(s.labels["service"], 0.0) + s.value
    return runs


def failures_by_reason(registry: CollectorRegistry) -> dict[str, dict[str, float]]:
    """dozor_probe_failures_total as {service: {reason: count}}, in one pass."""
    out: dict[str, dict[str, float]] = {}
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == "dozor_probe_failures_total":
                out.setdefault(s.labels["service"], {})[s.labels["reason"]] = s.value
    return out


def counter(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A counter's sample with exactly these labels (none: an unlabelled counter), or 0."""
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value
