"""``dozor alertmanager``: the generated config checked and routed by the real amtool, the
escalation/maintenance rules by the real promtool, inhibition by a real Alertmanager."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.catalog_factory import write_catalog
from harness.stack import alertmanager, get_json, poll, post_json
from harness.tools import dozor, require
from monitor.alertmanager import (
    AlertmanagerOptions,
    render_alertmanager,
    render_escalation_rules,
)
from monitor.catalog import Catalog, load_catalog

SINK = "http://127.0.0.1:9/"  # discard port: never delivered to in these tests


def _catalog_data() -> dict[str, Any]:
    probe = [{"name": "portal", "http": {"url": "http://127.0.0.1:9/"}}]
    return {
        "regions": [
            {"code": "RU-SMO", "name": "Смоленская область", "timezone": "Europe/Moscow"},
            {"code": "RU-KHA", "name": "Хабаровский край", "timezone": "Asia/Vladivostok"},
        ],
        "curators": [
            {"id": "ivanova", "name": "Иванова А. П.", "email": "ivanova@example.org",
             "telegram": "-1001234567", "deputy": "petrov"},
            {"id": "petrov", "name": "Петров И. И.", "webhook": f"{SINK}petrov"},
            {"id": "sidorov", "name": "Сидоров С. С.", "telegram": "123456789",
             "deputy": "ivanova"},
            {"id": "kozlova", "name": "Козлова Е. Е.", "email": "kozlova@example.org",
             "webhook": f"{SINK}kozlova", "deputy": "sidorov"},
        ],
        "services": [
            {"id": f"svc-{c}", "name": f"Услуга {c}", "level": "regional", "region": region,
             "department": "Департамент", "curator": c, "probes": probe}
            for c, region in (("ivanova", "RU-SMO"), ("petrov", "RU-KHA"),
                              ("sidorov", "RU-SMO"), ("kozlova", "RU-KHA"))
        ],
    }


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    path = tmp_path_factory.mktemp("catalog") / "catalog.yaml"
    return load_catalog(write_catalog(path, _catalog_data()))


FULL = AlertmanagerOptions(duty_webhook=f"{SINK}duty", regional_webhook=SINK + "{region}")


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require("amtool"), *args], capture_output=True, text=True,
                          timeout=30, check=False)


@pytest.mark.parametrize("options", [
    AlertmanagerOptions(),
    FULL,
    AlertmanagerOptions(duty_email="duty@example.org", smtp_require_tls=False,
                        escalate_after="15m"),
], ids=["defaults", "regional", "duty-email"])
def test_generated_config_passes_amtool(tmp_path: Path, catalog: Catalog,
                                        options: AlertmanagerOptions) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(render_alertmanager(catalog, options), encoding="utf-8")
    done = amtool("check-config", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_output_is_deterministic_whatever_the_catalog_order(tmp_path: Path,
                                                           catalog: Catalog) -> None:
    data = _catalog_data()
    for key in ("regions", "curators", "services"):
        data[key].reverse()
    shuffled = load_catalog(write_catalog(tmp_path / "reversed.yaml", data))
    assert render_alertmanager(shuffled, FULL) == render_alertmanager(catalog, FULL)
    assert render_escalation_rules(shuffled, FULL) == render_escalation_rules(catalog, FULL)


# (labels, receivers amtool must resolve, in order). Regional copies come first because they
# continue; escalations skip them and go to the deputy, or the duty desk when there is none
# (petrov) or the deputy has no usable channel (kozlova -> sidorov, whose only channel is
# Telegram, which Alertmanager 0.25 cannot use).
ROUTES = [
    ({"curator": "ivanova", "severity": "page", "region": "RU-SMO"},
     ["region-RU-SMO", "curator-ivanova"]),
    ({"curator": "ivanova", "severity": "ticket", "region": "RU-KHA"},
     ["region-RU-KHA", "curator-ivanova"]),
    ({"curator": "petrov", "severity": "page", "region": "RU-KHA"},
     ["region-RU-KHA", "curator-petrov"]),
    ({"curator": "kozlova", "severity": "ticket", "region": "RU-SMO"},
     ["region-RU-SMO", "curator-kozlova"]),
    ({"curator": "nobody", "severity": "page", "region": "RU-SMO"},
     ["region-RU-SMO", "sre-duty-desk"]),
    ({"curator": "sidorov", "severity": "ticket", "region": "RU-SMO"},
     ["region-RU-SMO", "sre-duty-desk"]),
    ({"curator": "ivanova", "severity": "page", "region": "RU-MOW"}, ["curator-ivanova"]),
    ({"curator": "ivanova", "severity": "page", "region": "RU-SMO", "escalation": "deputy"},
     ["curator-petrov"]),
    ({"curator": "sidorov", "severity": "page", "region": "RU-SMO", "escalation": "deputy"},
     ["curator-ivanova"]),
    ({"curator": "petrov", "severity": "page", "region": "RU-KHA", "escalation": "deputy"},
     ["sre-duty-desk"]),
    ({"curator": "kozlova", "severity": "page", "region": "RU-KHA", "escalation": "deputy"},
     ["sre-duty-desk"]),
    ({"curator": "nobody", "severity": "page", "region": "RU-KHA", "escalation": "deputy"},
     ["sre-duty-desk"]),
    ({"alertname": "DozorMaintenanceActive", "service": "svc-ivanova", "severity": "info"},
     ["silent"]),
]


@pytest.fixture(scope="module")
def routed_config(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Path:
    path = tmp_path_factory.mktemp("am") / "alertmanager.yml"
    path.write_text(render_alertmanager(catalog, FULL), encoding="utf-8")
    return path


@pytest.mark.parametrize(("labels", "expected"), ROUTES,
                         ids=["-".join(labels.values()) for labels, _ in ROUTES])
def test_routes_resolve_to_expected_receivers(routed_config: Path, labels: dict[str, str],
                                              expected: list[str]) -> None:
    assert_routed(routed_config, {"alertname": "X", "service": "s", **labels}, expected)


def assert_routed(config: Path, labels: dict[str, str], expected: list[str]) -> None:
    """``amtool config routes test``: an alert with ``labels`` reaches exactly ``expected``."""
    done = amtool("config", "routes", "test", f"--config.file={config}",
                  f"--verify.receivers={','.join(expected)}",
                  *(f"{k}={v}" for k, v in labels.items()))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ",".join(expected)


CONSOLE = "http://127.0.0.1:9/console"
CONSOLE_FULL = AlertmanagerOptions(duty_webhook=f"{SINK}duty", regional_webhook=SINK + "{region}",
                                   console_webhook=CONSOLE)


@pytest.fixture(scope="module")
def console_config(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Path:
    path = tmp_path_factory.mktemp("am-console") / "alertmanager.yml"
    path.write_text(render_alertmanager(catalog, CONSOLE_FULL), encoding="utf-8")
    return path


def test_console_webhook_config_passes_amtool(console_config: Path) -> None:
    done = amtool("check-config", str(console_config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.parametrize(("labels", "expected"), ROUTES,
                         ids=["-".join(labels.values()) for labels, _ in ROUTES])
def test_console_webhook_keeps_the_routing(console_config: Path, labels: dict[str, str],
                                           expected: list[str]) -> None:
    """Every receiver of the real routing is still chosen for the same alerts: the console
    shows what each curator, deputy and desk would be sent."""
    done = amtool("config", "routes", "test", f"--config.file={console_config}",
                   f"--verify.receivers={','.join(expected)}",
                   *(f"{k}={v}" for k, v in {"alertname": "X", "service": "s", **labels}.items()))
    assert done.returncode == 0, done.stdout + done.stderr


def test_console_webhook_replaces_every_channel(catalog: Catalog) -> None:
    real = yaml.safe_load(render_alertmanager(catalog, FULL))
    text = render_alertmanager(catalog, CONSOLE_FULL)
    console = yaml.safe_load(text)
    assert console["route"] == real["route"]
    assert [r["name"] for r in console["receivers"]] == [r["name"] for r in real["receivers"]]
    for receiver in console["receivers"]:
        if receiver["name"] == "silent":
            assert receiver == {"name": "silent"}
        else:
            assert receiver == {"name": receiver["name"], "webhook_configs": [
                {"url": CONSOLE, "send_resolved": True}]}
    assert f"# NOTE: every receiver delivers only to {CONSOLE}" in text
    # Without channels of its own the duty desk is still printed (it is the root receiver);
    # curators without a usable channel (sidorov: Telegram on 0.25) still are not receivers.
    bare = yaml.safe_load(render_alertmanager(catalog, AlertmanagerOptions(
        console_webhook=CONSOLE)))
    assert {r["name"] for r in bare["receivers"]} == {
        "sre-duty-desk", "silent", "curator-ivanova", "curator-petrov", "curator-kozlova"}


def test_console_webhook_from_the_command_line(tmp_path: Path) -> None:
    done = dozor("alertmanager", "config/examples/demo", "--console-webhook", CONSOLE)
    assert done.returncode == 0, done.stderr
    urls = {c["url"] for r in yaml.safe_load(done.stdout)["receivers"]
            for c in r.get("webhook_configs", [])}
    assert urls == {CONSOLE}


def test_without_regional_webhook_there_is_no_regional_copy(tmp_path: Path,
                                                            catalog: Catalog) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(render_alertmanager(catalog, AlertmanagerOptions()), encoding="utf-8")
    done = amtool("config", "routes", "test", f"--config.file={path}",
                   "--verify.receivers=curator-ivanova",
                   "curator=ivanova", "severity=page", "region=RU-SMO", "service=s")
    assert done.returncode == 0, done.stdout + done.stderr


def _matched_route(route: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """The deepest first-matching route for equality matchers (enough for severity/curator)."""
    for child in route.get("routes", []):
        eq = [m.split("=", 1) for m in child["matchers"] if "!" not in m and "~" not in m]
        if all(labels.get(k) == v.strip('"') for k, v in eq) and not child.get("continue"):
            return {**child, **_matched_route(child, labels)} if "routes" in child else child
    return route


@pytest.mark.parametrize(("severity", "wait", "repeat"), [("page", "10s", "1h"),
                                                          ("ticket", "1m", "12h")])
@pytest.mark.parametrize("curator", ["ivanova", "nobody"])
def test_pages_and_tickets_get_their_own_timings(catalog: Catalog, severity: str, wait: str,
                                                 repeat: str, curator: str) -> None:
    tree = yaml.safe_load(render_alertmanager(catalog, FULL))["route"]
    assert tree["group_by"] == ["alertname", "service", "platform"]
    route = _matched_route(tree, {"curator": curator, "severity": severity})
    assert (route["group_wait"], route["repeat_interval"]) == (wait, repeat)


def test_telegram_only_for_alertmanager_with_token_files(catalog: Catalog) -> None:
    old = render_alertmanager(catalog, AlertmanagerOptions())
    assert not any("telegram_configs" in r for r in yaml.safe_load(old)["receivers"])
    assert "curator ivanova: Telegram needs Alertmanager >= 0.26" in old
    assert "curator sidorov: Telegram needs Alertmanager >= 0.26" in old
    new = yaml.safe_load(render_alertmanager(
        catalog, AlertmanagerOptions(alertmanager_version=(0, 27),
                                     telegram_bot_token_file="/run/secrets/tg")))
    ivanova = next(r for r in new["receivers"] if r["name"] == "curator-ivanova")
    assert ivanova["telegram_configs"] == [{"bot_token_file": "/run/secrets/tg",
                                            "chat_id": -1001234567, "parse_mode": "HTML",
                                            "send_resolved": True}]
    assert ivanova["email_configs"] == [{"to": "ivanova@example.org", "send_resolved": True}]


# --- the escalation and maintenance rule group, through promtool -------------------------

PAGE_RULES = """\
groups:
- name: test-pages
  rules:
  - alert: TestServiceDown
    expr: test_up == 0
    labels: {severity: page}
  - alert: TestSlow
    expr: test_slow == 1
    labels: {severity: ticket}
"""

RULE_TESTS = """\
rule_files: [pages.yml, escalation.yml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - series: 'test_up{service="a", curator="ivanova", region="RU-SMO", level="federal"}'
    values: '0x60'
  - series: 'test_slow{service="a", curator="ivanova", region="RU-SMO", level="federal"}'
    values: '1x60'
  - series: 'dozor_maintenance_active{service="a", instance="x"}'
    values: '0x10 1x10'
  - series: 'dozor_service_maintenance_counts{service="a", instance="x"}'
    values: '0x60'
  - series: 'dozor_maintenance_active{service="b", instance="x"}'
    values: '1x20'
  - series: 'dozor_service_maintenance_counts{service="b", instance="x"}'
    values: '1x20'
  alert_rule_test:
  - eval_time: 25m
    alertname: DozorPageEscalated
  - eval_time: 31m
    alertname: DozorPageEscalated
    exp_alerts:
    - exp_labels: {service: a, curator: ivanova, region: RU-SMO, level: federal,
                   severity: page, escalation: deputy, escalated_alertname: TestServiceDown}
      exp_annotations:
        summary: "TestServiceDown on a unresolved for 30m: escalated to the curator's deputy"
  - eval_time: 5m
    alertname: DozorMaintenanceActive
  - eval_time: 15m
    alertname: DozorMaintenanceActive
    exp_alerts:
    - exp_labels: {service: a, severity: info}
      exp_annotations:
        summary: "Announced maintenance on a; its alerts are muted \\
          (maintenance does not count against its standard)"
"""


def test_escalation_and_maintenance_rules_pass_promtool(tmp_path: Path,
                                                        catalog: Catalog) -> None:
    (tmp_path / "pages.yml").write_text(PAGE_RULES)
    (tmp_path / "escalation.yml").write_text(render_escalation_rules(catalog))
    (tmp_path / "tests.yml").write_text(RULE_TESTS)
    promtool = require("promtool")
    checked = subprocess.run([promtool, "check", "rules", str(tmp_path / "escalation.yml")],
                             capture_output=True, text=True, timeout=30, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", "tests.yml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=30, check=False)
    assert tested.returncode == 0, tested.stdout + tested.stderr


# --- inhibition, by a real Alertmanager ----------------------------------------------------

def _alert(alertname: str, service: str, severity: str) -> dict[str, Any]:
    return {"labels": {"alertname": alertname, "service": service, "severity": severity,
                       "curator": "ivanova", "region": "RU-SMO", "level": "regional"}}


@pytest.mark.e2e
async def test_inhibition_in_a_real_alertmanager(tmp_path: Path, catalog: Catalog) -> None:
    posted = [
        _alert("TestDown", "s1", "page"), _alert("TestSlow", "s1", "ticket"),
        _alert("TestSlow", "s2", "ticket"),
        _alert("DozorMaintenanceActive", "s3", "info"),
        _alert("TestDown", "s3", "page"), _alert("TestSlow", "s3", "ticket"),
        _alert("TestDown", "s4", "page"),
    ]
    expected = {("TestSlow", "s1"), ("TestDown", "s3"), ("TestSlow", "s3")}
    async with alertmanager(tmp_path / "am", render_alertmanager(catalog, FULL)) as am:
        await post_json(f"{am.url}/api/v2/alerts", posted)

        async def settled() -> set[tuple[str, str]] | None:
            alerts = await get_json(f"{am.url}/api/v2/alerts")
            inhibited = {(a["labels"]["alertname"], a["labels"]["service"])
                         for a in alerts if a["status"]["inhibitedBy"]}
            return inhibited if len(alerts) == len(posted) and inhibited == expected else None

        await poll(settled, 15, f"exactly {sorted(expected)} to be inhibited")
        active = await get_json(f"{am.url}/api/v2/alerts?inhibited=false")
        assert sorted((a["labels"]["alertname"], a["labels"]["service"]) for a in active) == [
            ("DozorMaintenanceActive", "s3"), ("TestDown", "s1"), ("TestDown", "s4"),
            ("TestSlow", "s2")]


# --- the command line ----------------------------------------------------------------------

def test_cli_writes_config_and_escalation_rules(tmp_path: Path) -> None:
    cfg = write_catalog(tmp_path / "c.yaml", _catalog_data())
    out, rules = tmp_path / "am.yml", tmp_path / "esc.yml"
    done = dozor("alertmanager", str(cfg), "-o", str(out),
                 "--escalation-rules", str(rules), "--escalate-after", "45m",
                 "--regional-webhook", "http://127.0.0.1:9/{region}", "--page-timing", "5s,30s,2h")
    assert done.returncode == 0, done.stderr
    assert amtool("check-config", str(out)).returncode == 0
    assert "for: 45m" in rules.read_text()
    text = out.read_text()
    assert "http://127.0.0.1:9/RU-KHA" in text and "repeat_interval: 2h" in text
    bad = dozor("alertmanager", str(cfg), "--escalate-after", "soon")
    assert bad.returncode == 2 and "expected a duration" in bad.stderr
