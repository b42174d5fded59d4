"""``dozor demo``'s alerting stack, piece by piece: the console receiver's lines (its
formatting, and a real HTTP server), and the generated Prometheus and Alertmanager configs
checked by the real promtool and amtool. The whole demo runs in test_demo_stack_e2e.py."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from harness.tools import dozor, require
from monitor.catalog import Catalog, load_catalog
from monitor.cli import DEMO_CATALOG, demo_alertmanager_config, demo_rules
from monitor.demo.console import console_receiver, format_notification
from monitor.demo.stack import prometheus_config

NOON = datetime(2026, 3, 2, 12, 0, 5)
CONSOLE = "http://127.0.0.1:9/alertmanager"


def _alert(status: str, labels: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    return {"status": status, "labels": labels, "annotations": annotations,
            "startsAt": "2026-03-02T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph", "fingerprint": "0123456789abcdef"}


def _payload(receiver: str, status: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    """The shape of Alertmanager's webhook body (version 4)."""
    return {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": status,
            "receiver": receiver, "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093",
            "alerts": list(alerts)}


BURN = {"alertname": "DozorAvailabilityBurnFast", "service": "address-assignment-smo",
        "curator": "lebedeva", "region": "RU-SMO", "level": "municipal", "severity": "page"}
BURN_SUMMARY = {"summary_en": "address-assignment-smo: availability 50%, error budget burning",
                "summary_ru": "address-assignment-smo: доступность 50%"}


def test_a_firing_alert_is_one_line_naming_receiver_curator_service_and_summary() -> None:
    lines = format_notification(
        _payload("curator-lebedeva", "firing", _alert("firing", BURN, BURN_SUMMARY)), NOON)
    assert lines == ["12:00:05 curator-lebedeva FIRING DozorAvailabilityBurnFast "
                     "service=address-assignment-smo curator=lebedeva severity=page: "
                     "address-assignment-smo: availability 50%, error budget burning"]


def test_each_alert_of_a_group_gets_its_own_line_with_its_own_status() -> None:
    other = {**BURN, "service": "kindergarten-smo", "curator": "morozova"}
    lines = format_notification(_payload(
        "region-RU-SMO", "firing", _alert("firing", other, {"summary_ru": "только по-русски"}),
        _alert("resolved", BURN, BURN_SUMMARY)), NOON)
    assert len(lines) == 2
    assert lines[0].startswith("12:00:05 region-RU-SMO FIRING DozorAvailabilityBurnFast "
                               "service=kindergarten-smo curator=morozova")
    assert lines[0].endswith(": только по-русски")  # no English summary: the Russian one
    assert lines[1].startswith("12:00:05 region-RU-SMO RESOLVED DozorAvailabilityBurnFast "
                               "service=address-assignment-smo curator=lebedeva")


def test_escalations_and_monitor_alerts_show_what_they_have() -> None:
    escalated = {"alertname": "DozorPageEscalated", "escalated_alertname": "DozorOutageTooLong",
                 "service": "doctor-nvs", "curator": "volkov", "severity": "page",
                 "escalation": "deputy"}
    lines = format_notification(_payload("curator-morozova", "firing", _alert(
        "firing", escalated, {"summary": "DozorOutageTooLong on doctor-nvs unresolved"})), NOON)
    assert lines == ["12:00:05 curator-morozova FIRING DozorPageEscalated service=doctor-nvs "
                     "curator=volkov severity=page escalation=deputy: "
                     "DozorOutageTooLong on doctor-nvs unresolved"]
    down = {"alertname": "DozorMonitorDown", "component": "monitor", "severity": "page"}
    assert format_notification(_payload("sre-duty-desk", "firing", _alert("firing", down, {})),
                               NOON) == ["12:00:05 sre-duty-desk FIRING DozorMonitorDown "
                                         "severity=page"]
    assert format_notification(_payload("sre-duty-desk", "resolved"), NOON) == [
        "12:00:05 sre-duty-desk RESOLVED (no alerts)"]


async def test_the_console_receiver_prints_what_alertmanager_posts() -> None:
    printed: list[str] = []
    async with console_receiver(printed.append) as console, aiohttp.ClientSession() as s:
        assert console.url.startswith("http://127.0.0.1:")
        assert console.url.endswith("/alertmanager")
        body = _payload("curator-lebedeva", "firing", _alert("firing", BURN, BURN_SUMMARY))
        async with s.post(console.url, json=body) as r:
            assert r.status == 200
        async with s.post(console.url, data=b"not json") as r:
            assert r.status == 400
        assert console.received == 1
    assert len(printed) == 1
    assert " curator-lebedeva FIRING DozorAvailabilityBurnFast " in printed[0]


@pytest.fixture(scope="module")
def demo_catalog() -> Catalog:
    return load_catalog(DEMO_CATALOG)


def test_the_demo_prometheus_config_passes_promtool(tmp_path: Path,
                                                    demo_catalog: Catalog) -> None:
    rule_files = []
    for name, text in demo_rules(demo_catalog).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        rule_files.append(str(tmp_path / name))
    config = prometheus_config(scrape="127.0.0.1:9247", rule_files=rule_files,
                               alertmanager="127.0.0.1:9093")
    (tmp_path / "prometheus.yml").write_text(config, encoding="utf-8")
    done = subprocess.run([require("promtool"), "check", "config",
                           str(tmp_path / "prometheus.yml")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") >= 3  # the config and both rule files
    doc = yaml.safe_load(config)
    assert doc["global"] == {"scrape_interval": "15s", "evaluation_interval": "30s"}
    assert doc["scrape_configs"] == [{"job_name": "dozor",
                                      "static_configs": [{"targets": ["127.0.0.1:9247"]}]}]
    assert doc["alerting"] == {"alertmanagers": [{"static_configs": [
        {"targets": ["127.0.0.1:9093"]}]}]}
    # The rules are `dozor rules`' own, plus the escalation group the routing relies on.
    rules = subprocess.run([require("promtool"), "check", "rules", *rule_files],
                           capture_output=True, text=True, timeout=60, check=False)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    groups = {g["name"] for f in rule_files for g in yaml.safe_load(Path(f).read_text())["groups"]}
    assert {"dozor.alerts", "dozor-escalation"} <= groups
    without = yaml.safe_load(prometheus_config(scrape="127.0.0.1:9247", rule_files=[],
                                               alertmanager=None))
    assert "alerting" not in without


def test_the_demo_rules_are_what_dozor_rules_writes(demo_catalog: Catalog) -> None:
    done = dozor("rules", "config/examples/demo")
    assert done.returncode == 0, done.stderr
    assert demo_rules(demo_catalog)["rules.yml"] == done.stdout


def test_the_demo_alertmanager_config_passes_amtool_and_prints_every_receiver(
        tmp_path: Path, demo_catalog: Catalog) -> None:
    text = demo_alertmanager_config(demo_catalog, CONSOLE)
    path = tmp_path / "alertmanager.yml"
    path.write_text(text, encoding="utf-8")
    done = subprocess.run([require("amtool"), "check-config", str(path)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = yaml.safe_load(text)
    receivers = {r["name"]: r for r in doc["receivers"]}
    assert {"curator-lebedeva", "curator-orlov", "region-RU-SMO", "sre-duty-desk"} <= set(
        receivers)
    for name, receiver in receivers.items():
        if name != "silent":
            assert receiver["webhook_configs"] == [{"url": CONSOLE, "send_resolved": True}]
    assert doc["route"]["group_wait"] == "5s"
    # The real routing: address-assignment-smo's page goes to its curator and region; its
    # escalation to the deputy.
    for labels, expected in (
            (["curator=lebedeva", "region=RU-SMO", "severity=page"],
             "region-RU-SMO,curator-lebedeva"),
            (["curator=lebedeva", "region=RU-SMO", "severity=page", "escalation=deputy"],
             "curator-orlov")):
        routed = subprocess.run(
            [require("amtool"), "config", "routes", "test", f"--config.file={path}",
             f"--verify.receivers={expected}", "alertname=X",
             "service=address-assignment-smo", *labels],
            capture_output=True, text=True, timeout=30, check=False)
        assert routed.returncode == 0, routed.stdout + routed.stderr
