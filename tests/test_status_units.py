"""The status page's parts that need no Prometheus: what of the catalog is public, catalog
errors for the new fields, the rate limit, autoescaping through every output (served over
real HTTP from a fixed snapshot), maintenance announcements, and a refresh that cannot reach
Prometheus."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from harness.catalog_factory import catalog_dict, write_catalog
from harness.tools import dozor
from monitor.catalog import CatalogError, load_catalog
from monitor.catalog.model import Maintenance
from monitor.localtime.maintenance import occurrences
from monitor.report.model import Part, RegionRank, ServiceFacts, ServiceReport
from monitor.status import directory
from monitor.status.guard import RateLimit
from monitor.status.refresher import Refresher, RefreshSettings
from monitor.status.server import Site, SiteSettings
from monitor.status.snapshot import Day, Directory, Now, Snapshot, Window

MSK = ZoneInfo("Europe/Moscow")


def _catalog(tmp_path: Path, **curator: Any) -> Path:
    data = catalog_dict(["http://secret-host.corp.example:8080/health?token=T0KEN"])
    data["curators"][0].update(curator)
    return write_catalog(tmp_path / "c.yaml", data)


def test_a_curator_shows_only_the_fields_listed_as_public(tmp_path: Path) -> None:
    catalog = load_catalog(_catalog(
        tmp_path, phone="+7 495 123-45-67", photo="https://example.org/i.jpg",
        telegram="-100200", public=["photo", "phone"]), env={})
    found = directory.from_catalog(catalog, 0.0)
    card = found.curators["ivanova"]
    assert (card.name, card.photo, card.phone) == ("Иванова А. П.", "https://example.org/i.jpg",
                                                   "+7 495 123-45-67")
    assert card.email is None and card.telegram is None     # set, but not public
    assert found.curators["petrov"].email is None            # nothing public by default
    assert found.public_urls == {}


@pytest.mark.parametrize(("field", "value", "fragment"), [
    ("photo", "http://example.org/i.jpg", "photo: expected an https:// URL"),
    ("public", ["address"], "public[0]: expected 'photo', 'email', 'phone' or"),
    ("phone", "call me", "phone"),
])
def test_bad_public_fields_are_catalog_errors(tmp_path: Path, field: str, value: Any,
                                              fragment: str) -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(_catalog(tmp_path, **{field: value}), env={})
    text = str(caught.value)
    assert "c.yaml:" in text and fragment in text, text


def test_a_public_url_must_be_http(tmp_path: Path) -> None:
    data = catalog_dict(["http://127.0.0.1:1/"])
    data["services"][0]["public_url"] = "javascript:alert(1)"
    with pytest.raises(CatalogError) as caught:
        load_catalog(write_catalog(tmp_path / "c.yaml", data), env={})
    assert "public_url" in str(caught.value) and "c.yaml:" in str(caught.value)


def test_rate_limit_refills_and_forgets_the_oldest_clients() -> None:
    now = [0.0]
    limit = RateLimit(rate=2, burst=3, clock=lambda: now[0], max_clients=2)
    assert [limit.allow("a") for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5                               # one token back
    assert [limit.allow("a") for _ in range(2)] == [True, False]
    assert limit.allow("b") and limit.allow("c")  # "a" forgotten: the table holds two
    assert [limit.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limit.refused == 3


def test_announcements_cover_ongoing_and_upcoming_windows() -> None:
    now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=MSK)
    weekly = Maintenance.model_validate({"weekdays": ["mon"], "from": "11:00", "to": "13:00"})
    spans = occurrences(weekly, now, now + dt.timedelta(days=8), "Europe/Moscow")
    assert [(a.isoformat(), b.isoformat()) for a, b in spans] == [
        ("2026-11-30T11:00:00+03:00", "2026-11-30T13:00:00+03:00"),   # going on now
        ("2026-12-07T11:00:00+03:00", "2026-12-07T13:00:00+03:00")]
    night = Maintenance.model_validate({"weekdays": ["sun"], "from": "23:00", "to": "01:00"})
    spans = occurrences(night, now, now + dt.timedelta(days=7), "Asia/Vladivostok")
    assert [a.isoformat() for a, _ in spans] == ["2026-12-06T23:00:00+10:00"]
    cron = Maintenance.model_validate({"cron": "30 2 * * *", "duration": "30m"})
    assert len(occurrences(cron, now, now + dt.timedelta(days=3), "Europe/Moscow")) == 3
    once = Maintenance.model_validate({"start": "2026-11-01T10:00", "end": "2026-11-01T11:00"})
    assert occurrences(once, now, now + dt.timedelta(days=3), "Europe/Moscow") == []


# --- served from a fixed snapshot --------------------------------------------------------------

HOSTILE = '<script>alert("x")</script>&<img src=x onerror=alert(1)>'


@dataclass
class Fixed:
    snapshot: Snapshot
    refreshes: int = 1
    queries: int = 0


def _hostile_snapshot(now: float) -> Snapshot:
    facts = ServiceFacts(id="svc", name=HOSTILE, region="RU-MOW", region_name=HOSTILE,
                         timezone="Europe/Moscow", curator="c", curator_name=HOSTILE,
                         level="regional", department=HOSTILE, mszu=True)
    report = ServiceReport(
        facts=facts, parts=(Part("availability", 0.9, 0.995),
                            Part("offhours_availability", 0.8, 0.995),
                            Part("max_outage", 7200.0, 3600.0), Part("latency_p95", 0.2, 2.0)),
        maintenance_counts=True, events=100.0, failures=10.0, availability_counted=0.9,
        availability_excluded=0.9, coverage=1.0)
    found = Directory(services={"svc": facts}, life_situations={})
    return Snapshot(version=1, directory=found, now={"svc": Now(True, 600.0, False)},
                    now_at=now, window=Window(now - 86400, now, {"svc": report},
                                              (RegionRank("RU-MOW", HOSTILE, 1, 0),)),
                    window_at=now,
                    days={"svc": (Day(dt.date(2026, 11, 30), (10.0, 1.0), (10.0, 1.0)),)})


async def test_catalog_strings_are_escaped_in_every_output() -> None:
    site = Site(Fixed(_hostile_snapshot(time.time())), SiteSettings(public_url="http://x"))
    async with TestClient(TestServer(site.app(), host="127.0.0.1")) as client:
        for path in ("/", "/services", "/services/svc", "/regions/RU-MOW", "/feed.atom",
                     "/services/svc/feed.atom", "/badge/svc/state.svg",
                     "/badge/svc/availability.svg"):
            response = await client.get(path)
            body = await response.text()
            assert response.status == 200, path
            assert "<script" not in body and "<img src=x" not in body, path
        page = await (await client.get("/services/svc")).text()
        assert "&lt;script&gt;" in page
        data = json.loads(await (await client.get("/api/v1/services/svc")).text())
        assert data["service"]["name"] == HOSTILE          # JSON carries it as data
        assert data["service"]["state"] == "down" and data["service"]["verdict"] == "broken"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_refresh_that_cannot_reach_prometheus_is_marked_and_keeps_the_catalog(
        tmp_path: Path) -> None:
    catalog = load_catalog(_catalog(tmp_path), env={})
    refresher = Refresher(RefreshSettings(prometheus=f"http://127.0.0.1:{_closed_port()}",
                                          query_timeout=2), catalog)
    snap = await refresher.refresh()       # the window's part, then the state now's
    assert snap.version == 2 and snap.failed_at is not None and snap.data_at is None
    assert set(snap.directory.services) == {"svc-00000"}    # the catalog's, still shown
    assert refresher.refreshes == 2 and refresher.queries == 0


def test_dozor_status_refuses_an_invalid_catalog_with_every_error(tmp_path: Path) -> None:
    data = catalog_dict(["http://127.0.0.1:1/"])
    data["curators"][0]["public"] = ["address"]
    data["services"][0]["public_url"] = "file:///etc/passwd"
    done = dozor("status", "--prometheus", "http://127.0.0.1:1", "--config",
                 str(write_catalog(tmp_path / "c.yaml", data)), "--listen", "127.0.0.1:0")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"{tmp_path / 'c.yaml'}:") for line in lines)
    assert "public[0]" in done.stderr and "public_url" in done.stderr


@pytest.mark.parametrize(("flag", "value"), [("--refresh", "0"), ("--window-refresh", "nan"),
                                             ("--burst", "0.5"), ("--rate-limit", "-1")])
def test_dozor_status_refuses_settings_that_would_hammer_prometheus_or_refuse_all(
        flag: str, value: str) -> None:
    done = dozor("status", "--prometheus", "http://127.0.0.1:1", flag, value)
    assert done.returncode == 2 and f"argument {flag}: expected" in done.stderr
