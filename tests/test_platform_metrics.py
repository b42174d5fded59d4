"""Shared platforms on the daemon's /metrics: one ``dozor_platform_info`` per platform and one
``dozor_probe_depends_on`` per (service, probe, platform) edge, exact across reloads (a removed
edge or platform vanishes), no ``dozor_service_info`` for a platform, ``promtool check metrics``
still silent; and shards split platforms as they split services."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest

from harness.catalog_factory import catalog_dict
from harness.tools import promtool_check_metrics, samples
from monitor.catalog.model import Catalog
from monitor.runtime.shard import Shard
from monitor.serving.metrics import Metrics, duration_buckets


def _data() -> dict[str, Any]:
    data = catalog_dict(["http://127.0.0.1:1/a", "http://127.0.0.1:1/b"])
    data["platforms"] = [
        {"id": "sso", "name": "ЕСИА", "curator": "petrov", "region": "RU-SMO",
         "probes": [{"name": "login", "http": {"url": "http://127.0.0.1:1/sso"}}]},
        {"id": "bus", "name": "СМЭВ", "curator": "petrov", "region": "RU-KHA",
         "probes": [{"name": "ping", "http": {"url": "http://127.0.0.1:1/bus"}}]},
    ]
    a, b = data["services"]
    a["depends_on"] = ["sso"]
    a["probes"].append({"name": "submit", "http": {"url": "http://127.0.0.1:1/s"},
                        "depends_on": ["bus", "sso"]})
    b["probes"][0]["depends_on"] = ["bus"]
    return data


def _rows(m: Metrics, name: str) -> set[frozenset[tuple[str, str]]]:
    return {labels for (metric, labels), value in samples(generate_latest(m.registry)).items()
            if metric == name and value == 1}


def _edge(service: str, probe: str, platform: str) -> frozenset[tuple[str, str]]:
    return frozenset({"service": service, "probe": probe, "platform": platform}.items())


def test_platform_facts_and_dependency_edges_are_exported_once_each() -> None:
    catalog = Catalog.model_validate(_data())
    m = Metrics("msk", "0", duration_buckets(catalog))
    m.describe_catalog(catalog)
    assert _rows(m, "dozor_platform_info") == {
        frozenset({"platform": "sso", "name": "ЕСИА", "curator": "petrov",
                   "region": "RU-SMO"}.items()),
        frozenset({"platform": "bus", "name": "СМЭВ", "curator": "petrov",
                   "region": "RU-KHA"}.items()),
    }
    # The service's depends_on reaches every probe; a probe adds its own, each edge once.
    assert _rows(m, "dozor_probe_depends_on") == {
        _edge("svc-00000", "portal", "sso"), _edge("svc-00000", "submit", "sso"),
        _edge("svc-00000", "submit", "bus"), _edge("svc-00001", "portal", "bus")}
    # A platform is no service: no info, no objectives.
    services = {dict(labels)["service"] for labels in _rows(m, "dozor_service_info")}
    assert services == {"svc-00000", "svc-00001"}
    checked = promtool_check_metrics(generate_latest(m.registry))
    assert checked.returncode == 0 and checked.stdout == checked.stderr == "", checked.stderr


def test_a_reload_replaces_edges_and_platforms_exactly() -> None:
    m = Metrics("msk", "0")
    m.describe_catalog(Catalog.model_validate(_data()))
    data = _data()
    data["platforms"] = data["platforms"][:1]  # bus is gone, and with it every edge to it
    del data["services"][1]["probes"][0]["depends_on"]
    data["services"][0]["probes"][1]["depends_on"] = []
    m.describe_catalog(Catalog.model_validate(data))
    assert {dict(labels)["platform"] for labels in _rows(m, "dozor_platform_info")} == {"sso"}
    assert _rows(m, "dozor_probe_depends_on") == {
        _edge("svc-00000", "portal", "sso"), _edge("svc-00000", "submit", "sso")}


def test_shards_split_platforms_like_services() -> None:
    data = _data()
    data["platforms"] += [
        {"id": f"pl-{i}", "name": f"Платформа {i}", "curator": "petrov", "region": "RU-SMO",
         "probes": [{"name": "ping", "http": {"url": "http://127.0.0.1:1/p"}}]}
        for i in range(30)]
    catalog = Catalog.model_validate(data)
    parts = [Shard(i, 3).select(catalog) for i in range(3)]
    ids = sorted(p.id for part in parts for p in part.platforms)
    assert ids == sorted(p.id for p in catalog.platforms)
    assert all(part.platforms for part in parts)
