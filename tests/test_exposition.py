"""/metrics' fast path (``Metrics.render``) exposes exactly the samples, help and types that
prometheus_client's ``generate_latest`` produces from the same registry, and passes promtool.
Table-driven over the states a probe series goes through."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from harness.catalog_factory import catalog_dict
from harness.tools import promtool_check_metrics
from monitor.catalog.model import Catalog
from monitor.serving.metrics import Metrics, duration_buckets
from probes import Phase, ProbeResult, Reason

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _parse(text: str) -> tuple[Samples, dict[str, tuple[str, str]]]:
    samples: Samples = {}
    meta = {}
    for family in text_string_to_metric_families(text):
        meta[family.name] = (family.type, family.documentation)
        for s in family.samples:
            samples[s.name, frozenset(s.labels.items())] = s.value
    return samples, meta


def _metrics() -> tuple[Metrics, Catalog]:
    data = catalog_dict([f"http://127.0.0.1:1/s{i}" for i in range(6)], latency_p95="1.5s")
    data["services"][1]["standard"] = {"latency_p95": "700ms"}
    data["services"][2]["name"] = 'a "quoted" back\\slash\nand newline'
    catalog = Catalog.model_validate(data)
    m = Metrics("msk-1", "1.2.3", duration_buckets(catalog))
    m.describe_catalog(catalog)
    return m, catalog


def _runs(m: Metrics, catalog: Catalog) -> None:
    for i, service in enumerate(catalog.services):
        series = m.series(service.id, "portal")
        ok = i % 2 == 0
        result = (ProbeResult.ok({Phase.CONNECT: 0.001, Phase.PROCESSING: 0.02}) if ok else
                  ProbeResult.fail(Reason.TLS, "expired", cert_expiry=1.9e9))
        series.attempt(ok)
        series.observe(result, 0.003 * 10**i, "business", 1.7e9 + i)  # 3 ms .. 300 s
        series.set_up(ok)


def _removed(m: Metrics, c: Catalog) -> None:
    _runs(m, c)
    m.remove(c.services[0].id, "portal")


def _buckets_swapped(m: Metrics, c: Catalog) -> None:
    _runs(m, c)
    m.use_buckets((0.1, 0.2))


def _maintenance_and_restore(m: Metrics, c: Catalog) -> None:
    m.set_maintenance(c.services[1].id, True)
    m.series(c.services[3].id, "portal").restore_last_success(1.6e9)


def _journey_steps(m: Metrics, c: Catalog) -> None:
    m.series(c.services[0].id, "apply").observe(
        ProbeResult(True, steps={"login": 0.2, "submit": 0.4}, time_to_result=12.0), 0.7,
        "offhours", 1.7e9)


SCENARIOS: dict[str, Callable[[Metrics, Catalog], None]] = {
    "catalog only": lambda m, c: None,
    "after runs": _runs,
    "removed probe": _removed,
    "buckets swapped": _buckets_swapped,
    "maintenance and restore": _maintenance_and_restore,
    "journey steps": _journey_steps,
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fast_render_equals_generic_exposition(scenario: str) -> None:
    m, catalog = _metrics()
    SCENARIOS[scenario](m, catalog)
    fast = m.render()
    generic = generate_latest(m.registry)
    assert _parse(fast.decode()) == _parse(generic.decode())
    checked = promtool_check_metrics(fast)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


def test_histogram_buckets_are_cumulative_and_match_count() -> None:
    m, catalog = _metrics()
    _runs(m, catalog)
    samples, _ = _parse(m.render().decode())
    key = {"service": catalog.services[2].id, "probe": "portal", "location": "msk-1"}
    bucket = {float(dict(labels)["le"]): v for (name, labels), v in samples.items()
              if name == "dozor_probe_duration_seconds_bucket"
              and {k: v for k, v in labels if k != "le"} == key}
    # One observation of 0.3 s: every bucket from 0.5 s up holds it, 0.25 s and below do not.
    assert bucket[0.25] == 0 and bucket[0.5] == 1 and bucket[float("inf")] == 1
    assert samples["dozor_probe_duration_seconds_count", frozenset(key.items())] == 1
    assert samples["dozor_probe_duration_seconds_sum", frozenset(key.items())] == pytest.approx(0.3)
    names = {dict(labels).get("name") for (name, labels), _ in samples.items()
             if name == "dozor_service_info"}
    assert 'a "quoted" back\\slash\nand newline' in names


@pytest.mark.parametrize("swap_after", range(1, 41))  # a render here is 41 chunks
async def test_bucket_swap_during_a_streamed_render_keeps_it_whole(swap_after: int) -> None:
    """A reload changing the bucket edges while /metrics streams (between any two chunks)
    must not cut the body short: the rest renders with the new edges."""
    m, catalog = _metrics()
    _runs(m, catalog)
    chunks: list[bytes] = []
    async for chunk in m.stream():
        chunks.append(chunk)
        if len(chunks) == swap_after:
            assert m.use_buckets((0.1, 0.2))
    assert len(chunks) > swap_after  # the swap came between two chunks
    body = b"".join(chunks)
    checked = promtool_check_metrics(body)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")
    # Whole, not merely valid: every family a full render has is in the streamed body ...
    assert _type_families(body) == _type_families(m.render())
    # ... and the histogram's remainder uses the new edges.
    assert 'le="0.2"' in body.decode()


def _type_families(exposition: bytes) -> set[str]:
    return {line.split()[2] for line in exposition.decode().splitlines()
            if line.startswith("# TYPE ")}
