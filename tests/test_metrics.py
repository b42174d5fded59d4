import time

from prometheus_client import generate_latest

from harness.catalog_factory import catalog_dict
from harness.tools import Samples, promtool_check_metrics, samples
from monitor.catalog.model import Catalog
from monitor.serving.metrics import Metrics, duration_buckets
from probes import Phase, ProbeResult, Reason


def _samples(metrics: Metrics) -> Samples:
    return samples(generate_latest(metrics.registry))


def _catalog() -> Catalog:
    data = catalog_dict(["http://127.0.0.1:1/a", "https://127.0.0.1:1/b"], latency_p95="1.5s")
    data["services"][1]["standard"] = {"latency_p95": "700ms", "availability": "99.9%"}
    return Catalog.model_validate(data)


def test_exposition_passes_promtool_check_metrics_with_no_output() -> None:
    catalog = _catalog()
    m = Metrics("msk-1", "1.2.3", duration_buckets(catalog))
    m.describe_catalog(catalog)
    a = m.series("svc-00000", "portal")
    b = m.series("svc-00001", "portal")
    a.observe(ProbeResult.ok({Phase.CONNECT: 0.001, Phase.PROCESSING: 0.02}), 0.03, "business",
              time.time())
    b.observe(ProbeResult.fail(Reason.TLS, "expired", cert_expiry=1.9e9), 0.2, "offhours",
              time.time())
    m.scheduler_lag.observe(0.002)
    m.reload_result(True)
    checked = promtool_check_metrics(generate_latest(m.registry))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == "" and checked.stderr == ""


def test_promtool_would_notice_a_bad_exposition() -> None:
    # Guard that the check above can fail: a counter without _total is flagged.
    checked = promtool_check_metrics(b"# HELP x_seconds y\n# TYPE x_seconds counter\nx_seconds 1\n")
    assert checked.stdout + checked.stderr != ""


def test_counters_are_preinitialised_and_runs_counted_by_hours_and_reason() -> None:
    m = Metrics("msk-1", "1.2.3")
    series = m.series("svc", "portal")
    key = {"service": "svc", "probe": "portal", "location": "msk-1"}
    before = _samples(m)
    for result in ("success", "failure"):
        for hours in ("business", "offhours"):
            labels = frozenset({**key, "result": result, "hours": hours}.items())
            assert before["dozor_probes_total", labels] == 0
    for reason in Reason:
        assert before["dozor_probe_failures_total",
                      frozenset({**key, "reason": reason.value}.items())] == 0

    series.observe(ProbeResult.fail(Reason.TIMEOUT, "slow"), 5.0, "offhours", 1000.0)
    series.observe(ProbeResult.ok(), 0.1, "business", 2000.0)
    after = _samples(m)
    assert after["dozor_probes_total",
                 frozenset({**key, "result": "failure", "hours": "offhours"}.items())] == 1
    assert after["dozor_probes_total",
                 frozenset({**key, "result": "success", "hours": "business"}.items())] == 1
    assert after["dozor_probe_failures_total",
                 frozenset({**key, "reason": "timeout"}.items())] == 1
    assert after["dozor_probe_success", frozenset(key.items())] == 1
    assert after["dozor_probe_last_success_timestamp_seconds", frozenset(key.items())] == 2000.0


def test_duration_buckets_include_every_latency_objective() -> None:
    catalog = _catalog()
    m = Metrics("x", "0", duration_buckets(catalog))
    m.series("svc-00000", "portal").observe(ProbeResult.ok(), 0.6, "business", 1.0)
    les = {dict(labels)["le"] for (name, labels) in _samples(m)
           if name == "dozor_probe_duration_seconds_bucket"}
    assert {"0.7", "1.5"} <= les  # the service override and the catalog standard


def test_catalog_facts_and_objectives_exported_once_per_service() -> None:
    m = Metrics("x", "0")
    m.describe_catalog(_catalog())
    s = _samples(m)
    info = {dict(labels)["service"]: dict(labels) for (name, labels) in s
            if name == "dozor_service_info"}
    assert info["svc-00001"] == {"service": "svc-00001", "name": "Услуга 1", "level": "regional",
                                 "region": "RU-KHA", "department": "Департамент цифрового развития",
                                 "curator": "ivanova", "mszu": "true"}
    assert s["dozor_service_availability_objective",
             frozenset({"service": "svc-00001"}.items())] == 0.999
    assert s["dozor_service_latency_p95_objective_seconds",
             frozenset({"service": "svc-00001"}.items())] == 0.7
    assert s["dozor_life_situation_member",
              frozenset({"life_situation": "birth-of-child", "service": "svc-00000"}.items())] == 1


def test_removed_probe_series_vanish_and_bucket_swap_keeps_series() -> None:
    m = Metrics("x", "0")
    m.series("a", "p").observe(ProbeResult.fail(Reason.TLS, "x", cert_expiry=5.0), 1, "business", 1)
    m.series("b", "p").observe(ProbeResult.ok(), 1, "business", 1)
    m.remove("a", "p")
    names = {(n, dict(lbl).get("service")) for (n, lbl) in _samples(m)}
    assert not any(svc == "a" for (_, svc) in names)
    assert ("dozor_probes_total", "b") in names  # only the removed probe's series went
    assert m.use_buckets((0.3, 1.0)) is True
    m.series("b", "p").observe(ProbeResult.ok(), 0.2, "business", 1)
    les = {dict(lbl)["le"] for (n, lbl) in _samples(m)
           if n == "dozor_probe_duration_seconds_bucket"}
    assert les == {"0.3", "1.0", "+Inf"}
