"""Shared platforms in the generated Alertmanager config: ``DozorPlatformDown`` reaches the
platform's curator (who curates no service here) and no regional desk, its escalation the
curator's deputy (real ``amtool config routes test``); in a real Alertmanager the platform's
page mutes no ticket that has no ``service``, and two platforms' outages stay two groups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.catalog_factory import write_catalog
from harness.stack import alertmanager, get_json, poll, post_json
from monitor.alertmanager import AlertmanagerOptions, render_alertmanager
from monitor.catalog import Catalog, load_catalog
from tests.test_alertmanager import _catalog_data, amtool, assert_routed

SINK = "http://127.0.0.1:9/"  # discard port: never delivered to in these tests
FULL = AlertmanagerOptions(duty_webhook=f"{SINK}duty", regional_webhook=SINK + "{region}")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    data = _catalog_data()
    data["curators"].append({"id": "esia-team", "name": "Команда ЕСИА",
                             "webhook": f"{SINK}esia", "deputy": "ivanova"})
    data["platforms"] = [
        {"id": pid, "name": pid.upper(), "curator": "esia-team", "region": "RU-SMO",
         "probes": [{"name": "ping", "http": {"url": "http://127.0.0.1:9/"}}]}
        for pid in ("sso", "bus")]
    data["services"][0]["depends_on"] = ["sso"]
    path = tmp_path_factory.mktemp("catalog") / "catalog.yaml"
    return load_catalog(write_catalog(path, data))


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Path:
    path = tmp_path_factory.mktemp("am") / "alertmanager.yml"
    path.write_text(render_alertmanager(catalog, FULL), encoding="utf-8")
    return path


def test_config_with_platforms_passes_amtool(config: Path) -> None:
    done = amtool("check-config", str(config))
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr


PAGE = {"alertname": "DozorPlatformDown", "platform": "sso", "curator": "esia-team",
        "severity": "page"}
ROUTES = [
    # The platform's curator, though they curate no service; no region, so no regional copy.
    (PAGE, ["curator-esia-team"]),
    # Unresolved: Prometheus' escalation (all the page's labels + escalation) to the deputy.
    ({**PAGE, "alertname": "DozorPageEscalated", "escalated_alertname": "DozorPlatformDown",
      "escalation": "deputy"}, ["curator-ivanova"]),
]


@pytest.mark.parametrize(("labels", "expected"), ROUTES, ids=["page", "escalation"])
def test_platform_page_routes_to_its_curator(config: Path, labels: dict[str, str],
                                             expected: list[str]) -> None:
    assert_routed(config, labels, expected)


def _alert(**labels: str) -> dict[str, Any]:
    return {"labels": labels}


@pytest.mark.e2e
async def test_platform_page_in_a_real_alertmanager(tmp_path: Path, catalog: Catalog) -> None:
    posted = [
        _alert(**PAGE), _alert(**{**PAGE, "platform": "bus"}),
        # No service, no platform (a monitor ticket): the platform's page must not mute it.
        _alert(alertname="DozorConfigReloadFailed", component="monitor", severity="ticket"),
        # A service's ticket under the same curator's routes: not the platform page's either.
        _alert(alertname="DozorLatencyHigh", service="svc-ivanova", curator="ivanova",
               region="RU-SMO", level="regional", severity="ticket"),
    ]
    async with alertmanager(tmp_path / "am", render_alertmanager(catalog, FULL)) as am:
        await post_json(f"{am.url}/api/v2/alerts", posted)

        async def groups() -> list[dict[str, Any]] | None:
            found: list[dict[str, Any]] = await get_json(f"{am.url}/api/v2/alerts/groups")
            # An alert with a regional copy is in two groups: count each alert once.
            held = {a["fingerprint"] for g in found for a in g["alerts"]}
            return found if len(held) == len(posted) else None

        found = await poll(groups, 15, "Alertmanager to hold every posted alert")
        alerts = [a for g in found for a in g["alerts"]]
        assert [a["labels"]["alertname"] for a in alerts if a["status"]["inhibitedBy"]] == []
        platform_groups = sorted(g["labels"].get("platform", "") for g in found
                                 if g["labels"].get("alertname") == "DozorPlatformDown")
        assert platform_groups == ["bus", "sso"]
        receivers = {g["labels"].get("platform"): g["receiver"]["name"] for g in found
                     if g["labels"].get("alertname") == "DozorPlatformDown"}
        assert receivers == {"bus": "curator-esia-team", "sso": "curator-esia-team"}
