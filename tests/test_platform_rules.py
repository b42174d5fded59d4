"""Shared platforms in the generated rules, through the real ``promtool test rules`` on synthetic
series (``tests.test_rules.Svc``): a platform's confirmed quorum outage is ``dozor:platform_down``
and pages its curator once, naming the impact; dependents down only through it (at service or
probe level) are ``dozor:service_down_by_platform`` and page nobody, during the outage and after
it; a dependent failing on its own, and a service with no platform, page as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.catalog_factory import catalog_dict, write_catalog
from monitor.catalog import load_catalog
from monitor.rules import RulesOptions, render_rules
from tests.test_rules import (
    BURNS,
    Svc,
    _catalog,
    _expr,
    _run_promtool,
    _scenario,
    quiet,
)

START, END = 180, 300  # the platform is down from 3h to 5h (all three locations)
MINUTES = 330


def platform_down(loc: str, m: int) -> bool:
    return not START <= m < END


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> str:
    catalog = _catalog(tmp_path_factory.mktemp("catalog"))
    return render_rules(catalog, RulesOptions(grafana_url="http://grafana.test/"))


def _world() -> dict[str, Svc]:
    lag = 2  # dep-a's probe sees the platform back two runs after the platform's own probe

    def dep_a_ok(loc: str, m: int) -> bool:
        return not START <= m < END + lag

    return {s.id: s for s in (
        Svc("sso", MINUTES, platform=True, curator="petrov", region="RU-MOW",
            probes=("login",), ok=platform_down),
        # Every probe through sso (service-level depends_on).
        Svc("dep-a", MINUTES, ok=dep_a_ok, life_situations=("birth-of-child",),
            depends_on={"portal": ("sso",)}),
        # Only the login probe goes through sso (probe level); its portal stays up.
        Svc("dep-b", MINUTES, region="RU-KHA", life_situations=("retirement",),
            probes=("portal", "login"), depends_on={"login": ("sso",)},
            probe_ok={"login": platform_down}),
        # Its form does not go through sso and fails on its own during the same hours.
        Svc("own-c", MINUTES, curator="sidorov", probes=("login", "form"),
            depends_on={"login": ("sso",)}, ok=platform_down),
        # Through sso, up during its outage, failing on its own right after it: not excused.
        Svc("dep-d", MINUTES, curator="kozlova", depends_on={"portal": ("sso",)},
            ok=lambda loc, m: not END + 2 <= m < END + 20),
        # Through sso and still down 15m after it is back: excused for the hold (5m), no more.
        Svc("dep-e", MINUTES, curator="kozlova", depends_on={"portal": ("sso",)},
            ok=lambda loc, m: not START <= m < END + 15),
        # No platform at all: pages as it always did.
        Svc("plain", MINUTES, curator="kuznetsov", ok=platform_down),
    )}


def _states(at: str, record: str, values: dict[str, float]) -> dict[str, Any]:
    selector = "|".join(values)
    return _expr(at, f'{record}{{service=~"{selector}"}}',
                 *((f'{record}{{service="{svc}"}}', v) for svc, v in values.items()))


def _paged(at: str, alert: str, *services: str) -> list[dict[str, Any]]:
    """The services ``alert`` is firing for at ``at`` (from Prometheus' ALERTS series)."""
    return [_expr(at, f'count by (service) (ALERTS{{alertname="{alert}",alertstate="firing"}})',
                  *((f'{{service="{svc}"}}', 1) for svc in services))]


def test_platform_outage_pages_its_curator_once_and_excuses_dependents(
        tmp_path: Path, rules: str) -> None:
    w = _world()
    during, after_platform, later = "4h30m", "5h1m", "5h10m"
    platform_page = {
        "eval_time": during, "alertname": "DozorPlatformDown", "exp_alerts": [{
            "exp_labels": {"platform": "sso", "curator": "petrov", "severity": "page"},
            "exp_annotations": {
                "summary_en": "platform sso (Платформа sso) is down: 5 dependent services, "
                              "4 of them down now",
                "summary_ru": "платформа sso (Платформа sso) недоступна: зависимых услуг 5, "
                              "сейчас недоступны 4",
                "life_situations": "birth-of-child, retirement",
                "regions": "RU-KHA, RU-SMO"}}]}

    alerts: list[dict[str, Any]] = [
        *quiet("2h55m", "DozorPlatformDown", *BURNS, "DozorOutageTooLong"),
        # Confirmed down at 3h; `for: 3m` passes a blip and pages at 3h3m, not before.
        *quiet("3h2m", "DozorPlatformDown"),
        {**platform_page, "eval_time": "3h3m"},
        platform_page,
        # The platform is back; dep-a's probe still fails for two runs: still excused.
        *quiet(after_platform, "DozorPlatformDown", "DozorOutageTooLong"),
        *quiet(later, "DozorPlatformDown"),
    ]
    exprs = [
        _expr(during, "dozor:platform_down", ('dozor:platform_down{platform="sso"}', 1)),
        _expr(during, "dozor:platform_info",
              ('dozor:platform_info{platform="sso",name="Платформа sso",curator="petrov",'
               'region="RU-MOW"}', 1)),
        # A platform is no service: no info, so no service alert, ranking or list has it.
        _expr(during, 'dozor:service_info{service="sso"}'),
        _states(during, "dozor:service_down",
                {"dep-a": 1, "dep-b": 1, "own-c": 1, "plain": 1}),
        _states(during, "dozor:service_down_own",
                {"dep-a": 0, "dep-b": 0, "own-c": 1, "plain": 1}),
        # Only services with a dependency have it; own-c is down on its own, so 0.
        _expr(during, "dozor:service_down_by_platform",
              ('dozor:service_down_by_platform{service="dep-a"}', 1),
              ('dozor:service_down_by_platform{service="dep-b"}', 1),
              ('dozor:service_down_by_platform{service="dep-d"}', 0),
              ('dozor:service_down_by_platform{service="dep-e"}', 1),
              ('dozor:service_down_by_platform{service="own-c"}', 0)),
        _expr(during, "dozor:probe_excused_by_platform",
              ('dozor:probe_excused_by_platform{service="dep-a",probe="portal"}', 1),
              ('dozor:probe_excused_by_platform{service="dep-b",probe="login"}', 1),
              ('dozor:probe_excused_by_platform{service="own-c",probe="login"}', 1),
              ('dozor:probe_excused_by_platform{service="dep-d",probe="portal"}', 1),
              ('dozor:probe_excused_by_platform{service="dep-e",probe="portal"}', 1)),
        _expr(after_platform, "dozor:platform_down", ('dozor:platform_down{platform="sso"}', 0)),
        # Still down: still excused; up during the outage: no longer (dep-d).
        _expr(after_platform, "dozor:probe_excused_by_platform",
              ('dozor:probe_excused_by_platform{service="dep-a",probe="portal"}', 1),
              ('dozor:probe_excused_by_platform{service="dep-e",probe="portal"}', 1)),
        _states(after_platform, "dozor:service_down_by_platform", {"dep-a": 1, "dep-b": 0}),
        _states(later, "dozor:service_down_by_platform", {"dep-a": 0, "dep-b": 0, "dep-d": 0}),
        _states(later, "dozor:service_down_own", {"dep-a": 0, "dep-d": 1, "dep-e": 1}),
        _expr(later, "dozor:probe_excused_by_platform"),
        # Only own failures page: own-c (its form) and plain; never dep-a or dep-b, during
        # the outage, while dep-a lags behind the platform's recovery, nor after it while
        # the failures the platform caused are still in the burn windows.
        *_paged(during, "DozorOutageTooLong", "own-c", "plain"),
        *_paged(during, "DozorAvailabilityBurnFast", "own-c", "plain"),
        *_paged(after_platform, "DozorAvailabilityBurnFast", "own-c", "plain"),
        # dep-e is still down past the hold: its failure is its own now.
        *_paged(later, "DozorAvailabilityBurnFast", "dep-d", "dep-e", "own-c", "plain"),
        *_paged(later, "DozorOutageTooLong", "dep-e"),
    ]
    _run_promtool(tmp_path, rules, _scenario(list(w.values()), "1m", alerts, exprs))


def test_a_platform_blip_or_one_location_pages_nobody(tmp_path: Path, rules: str) -> None:
    """Two failed runs everywhere, then an hour down at one location of three: the platform
    is down for two minutes (under `for: 3m`), then never by quorum; no page at all."""
    def sso_ok(loc: str, m: int) -> bool:
        return m not in (120, 121) and not (loc == "khv" and 150 <= m < 210)

    sso = Svc("sso", 240, platform=True, curator="petrov", probes=("login",), ok=sso_ok)
    dep = Svc("dep", 240, depends_on={"portal": ("sso",)}, ok=sso_ok)
    alerts = [a for at in ("2h1m", "2h2m", "2h4m", "3h", "3h30m")
              for a in quiet(at, "DozorPlatformDown", *BURNS, "DozorOutageTooLong")]
    exprs = [
        _expr("2h1m", "dozor:platform_down", ('dozor:platform_down{platform="sso"}', 1)),
        _expr("3h", "dozor:platform_down", ('dozor:platform_down{platform="sso"}', 0)),
        _expr("3h", "dozor:service_down_by_platform",
              ('dozor:service_down_by_platform{service="dep"}', 0)),
    ]
    _run_promtool(tmp_path, rules, _scenario([sso, dep], "1m", alerts, exprs))


def test_the_recovery_hold_covers_the_slowest_dependent_probe(tmp_path: Path) -> None:
    """A dependent probe every 5 minutes needing 2 successes to count as up again stays
    excused 15m after its platform is back; the hold is never under 5m."""
    data = catalog_dict(["http://127.0.0.1:9/a"])
    data["platforms"] = [{"id": "sso", "name": "ЕСИА", "curator": "petrov", "region": "RU-SMO",
                          "probes": [{"name": "login", "http": {"url": "http://127.0.0.1:9/"}}]}]
    probe = data["services"][0]["probes"][0]
    probe.update(interval="5m", success_threshold=2, depends_on=["sso"])
    text = render_rules(load_catalog(write_catalog(tmp_path / "c.yaml", data)))
    assert "max_over_time(dozor:platform_down[15m])" in text
    del probe["depends_on"]
    text = render_rules(load_catalog(write_catalog(tmp_path / "d.yaml", data)))
    assert "max_over_time(dozor:platform_down[5m])" in text
