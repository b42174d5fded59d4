"""`dozor status` (the real CLI) over a real Prometheus holding two months of backfilled
history (tests/status_history.py): every page, the feeds, the API and the badges checked for
their content against truth computed from the same run-by-run verdicts; nothing private
leaks; visitors never cause queries; Prometheus going away leaves the last good data."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import re
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import aiohttp
import pytest

from harness.tcp_proxy import tcp_proxy
from monitor.report import fmt
from tests import status_history as h

pytestmark = pytest.mark.e2e  # a real Prometheus with two months of data, the real CLI

ATOM = "{http://www.w3.org/2005/Atom}"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from h.history_prometheus(tmp_path_factory.mktemp("status-prom"))


@pytest.fixture(scope="module")
def site(prometheus: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[h.Site]:
    # One refresh only (an hour between them): every test reads the same snapshot, and any
    # query Prometheus receives after it was caused by someone else.
    # A burst of 200 per client: the tests read many pages in a row from one address.
    yield from h.serve_status(tmp_path_factory.mktemp("status"), prometheus,
                              "--refresh", "3600", "--window-refresh", "3600",
                              "--rate-limit", "50", "--burst", "200")


def text_of(html: str) -> str:
    """What a reader sees: tags dropped, entities decoded, whitespace collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


# --- the truth, from the same verdicts ------------------------------------------------------

def availability(s: h.Svc, start: float, end: float) -> float:
    runs = h.counted_runs(s, start, end)
    return sum(ok for _, ok in runs) / len(runs)


def window(site: h.Site) -> tuple[float, float]:
    fresh = site.json("/api/v1/summary")["freshness"]
    return (dt.datetime.fromisoformat(fresh["window_start"]).timestamp(),
            dt.datetime.fromisoformat(fresh["window_end"]).timestamp())


def truth_outages(s: h.Svc, start: float, end: float) -> list[tuple[float, float | None]]:
    """(start, end or None while ongoing): from the end of the last success to the start of
    the first success after (a run ends at its time, lasting 0.3 s), clipped to the window."""
    out: list[tuple[float, float | None]] = []
    runs = s.runs()
    began: float | None = None
    for (t0, ok0), (t1, ok1) in itertools.pairwise(runs):
        if ok0 and not ok1:
            began = t0
        if not ok0 and ok1 and began is not None:
            if t1 - 0.3 > start:
                out.append((max(began, start), t1 - 0.3))
            began = None
    if began is not None:
        out.append((max(began, start), None))
    return [(a, b) for a, b in out if a < end]


# --- pages ---------------------------------------------------------------------------------

def test_home_shows_the_goal_what_is_down_maintenance_situations_and_ranking(
        site: h.Site) -> None:
    page = text_of(site.text("/"))
    # МСЗУ: healthy, nightly (breaks), maint, dipped (its dip is in the previous month).
    dip_in_window = window(site)[0] < h.DIP[1]
    compliant = 2 if dip_in_window else 3
    assert f"{fmt.percent(compliant / 4, 1)} массовых социально значимых услуг" in page
    assert f"{compliant} из 4 с достаточными данными" in page
    down = page.split("Не работают сейчас")[1].split("Плановые работы")[0]
    assert "Выдача справок" in down and "✗ Не работает уже 3 ч 0" in down
    assert "Запись в детский сад" not in down   # up now (its outages are at night)
    maintenance = page.split("Плановые работы")[1].split("Нарушают стандарт")[0]
    assert "Идут сейчас: Регистрация транспорта" in maintenance
    assert "(обновление ПО)" in maintenance
    assert "Запланированы: Регистрация транспорта" in maintenance
    breaking = page.split("Нарушают стандарт 24/7")[1].split("Жизненные ситуации")[0]
    assert "Запись в детский сад" in breaking and "Выдача справок" in breaking
    assert "Запись к врачу" not in breaking and "Регистрация транспорта" not in breaking
    situations = page.split("Худшая доступность")[1].split("Рейтинг регионов")[0]
    assert "Переезд ✗ Не работает 3 1 1" in situations
    assert "Рождение ребёнка ● Работает 3 0 " in situations


def test_region_ranking_and_its_change_from_the_previous_month(site: h.Site) -> None:
    regions = {r["code"]: r for r in site.json("/api/v1/summary")["regions"]}
    dip_in_window = window(site)[0] < h.DIP[1]
    # Previous month: RU-MOW healthy met, dipped broke (6 h > 1 h); RU-KHA nightly broke.
    assert regions["RU-MOW"]["previous_share"] == 0.5
    assert regions["RU-KHA"]["previous_share"] == 0.5
    assert regions["RU-KHA"]["share"] == 0.5
    assert regions["RU-MOW"]["share"] == (0.5 if dip_in_window else 1.0)
    page = text_of(site.text("/"))
    ranking = page.split("Рейтинг регионов")[1]
    if not dip_in_window:
        assert "1 Москва 2 из 2 100,0 % ▲ поднялся на 1 (+50,0 п. п.)" in ranking
        assert "2 Хабаровский край 1 из 2 50,0 % ▼ опустился на 1 (+0,0 п. п.)" in ranking
    month = fmt.month_title(dt.datetime.fromtimestamp(h.PREV_START, h.MSK).strftime("%Y-%m"))
    assert f"к итогам месяца: {month}" in ranking


def test_service_page_daily_bars_carry_their_figures_in_text(site: h.Site) -> None:
    nightly = h.check_bars(site.text("/services/nightly"), h.BY_ID["nightly"], time.time())
    assert "bad" in nightly and "ok" in nightly
    # Added two days ago: the days before are "no data", not red; its whole days are green.
    # Today's bar is left to the truth above: right after midnight it has no step yet.
    young = h.check_bars(site.text("/services/young"), h.BY_ID["young"], time.time())
    assert young[:87] == ["none"] * 87 and young[87:89] == ["ok", "ok"]


def test_service_page_parts_of_the_standard_hours_and_outages(site: h.Site) -> None:
    start, end = window(site)
    nightly = h.BY_ID["nightly"]
    page = text_of(site.text("/services/nightly"))
    value = availability(nightly, start, end)
    assert f"Доступность круглосуточно {fmt.percent(value)} не ниже 99,5 % ✗ нет" in page
    assert "Самый долгий перерыв 3 ч 05 мин не больше 1 ч 00 мин ✗ нет" in page
    assert "Время ответа (95 % запросов) 0,95 с не больше 2,00 с ✓ да" in page
    assert "В рабочие часы 100,00 %" in page       # the nights fall outside working hours
    data = site.json("/api/v1/services/nightly")["service"]
    assert data["business_availability"] == 1.0
    assert data["offhours_availability"] < 0.9
    assert "✗ Нарушает стандарт 24/7" in page and "● Работает" in page
    truth = truth_outages(nightly, start, end)
    shown = sorted((dt.datetime.fromisoformat(o["start"]).timestamp(),
                    dt.datetime.fromisoformat(o["end"]).timestamp() if o["end"] else None)
                   for o in data["outages"])
    assert len(shown) == len(truth)
    for (a, b), (ta, tb) in zip(shown, truth, strict=True):
        assert abs(a - ta) <= 1 and b is not None and tb is not None and abs(b - tb) <= 1
    newest = max(truth, key=lambda o: o[0])
    assert f"{fmt.moscow(newest[0])} {fmt.moscow(newest[1] or 0)} 3 ч 05 мин" in page
    broken = site.json("/api/v1/services/broken")["service"]
    assert broken["state"] == "down" and broken["outages"][0]["end"] is None
    assert "продолжается" in text_of(site.text("/services/broken"))


def test_curator_shows_only_what_the_catalog_marks_public(site: h.Site) -> None:
    healthy = site.text("/services/healthy")
    assert "Иванова Анна Петровна" in healthy
    assert '<img src="https://photos.example.org/ivanova.jpg" alt="Фотография: Иванова' in healthy
    assert 'href="mailto:ivanova@example.org"' in healthy
    assert 'href="https://www.gosuslugi.ru/600204/1"' in healthy   # the public address
    nightly = text_of(site.text("/services/nightly"))
    assert "Куратор: Петров Иван Ильич" in nightly
    assert "Почта" not in nightly and "Телефон" not in nightly and "Telegram" not in nightly


def _every_path(site: h.Site) -> list[str]:
    paths = ["/", "/services", "/feed.atom", "/api/v1/", "/api/v1/summary", "/api/v1/services",
             "/healthz", "/static/style.css", "/no-such-page", "/services/no-such"]
    for s in h.SERVICES:
        paths += [f"/services/{s.id}", f"/services/{s.id}/feed.atom", f"/api/v1/services/{s.id}",
                  f"/badge/{s.id}/state.svg", f"/badge/{s.id}/availability.svg"]
    for code in h.REGIONS:
        paths += [f"/regions/{code}", f"/api/v1/regions/{code}"]
    for lid in ("birth-of-child", "moving-house"):
        paths += [f"/life-situations/{lid}", f"/api/v1/life-situations/{lid}"]
    return paths


def test_nothing_private_leaks_and_every_answer_carries_the_security_headers(
        site: h.Site) -> None:
    for path in _every_path(site):
        status, headers, body = site.get(path)
        assert status == (404 if "no-such" in path else 200), path
        text = body.decode()
        for secret in h.PRIVATE:
            assert secret not in text, (path, secret)
        if path != "/healthz":
            csp = headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp and "script-src" not in csp, path
            assert headers["Referrer-Policy"] == "no-referrer"
            assert headers["X-Content-Type-Options"] == "nosniff"
        if headers["Content-Type"].startswith("text/html"):
            assert "<script" not in text and " style=" not in text, path
            assert '<html lang="ru">' in text and "<main" in text and "<nav" in text


def test_region_and_life_situation_pages(site: h.Site) -> None:
    kha = text_of(site.text("/regions/RU-KHA"))
    assert "Хабаровский край" in kha
    assert "Услуги МСЗУ, соответствующие стандарту 24/7: 1 из 2" in kha
    assert "Запись в детский сад" in kha and "Запись к врачу" not in kha
    birth = text_of(site.text("/life-situations/birth-of-child"))
    assert "Рождение ребёнка" in birth and "● Работает" in birth
    for name in ("Запись к врачу", "Запись в детский сад", "Пособие на ребёнка"):
        assert name in birth
    moving = site.json("/api/v1/life-situations/moving-house")["life_situation"]
    assert moving["state"] == "down" and moving["services_down"] == 1


def test_without_a_catalog_the_names_come_from_the_info_metrics(
        prometheus: str, tmp_path: Path) -> None:
    for site in h.serve_status(tmp_path, prometheus, "--refresh", "3600", with_catalog=False):
        services = {s["id"]: s for s in site.json("/api/v1/services")["services"]}
        assert set(services) == set(h.BY_ID)
        assert services["nightly"]["name"] == "Запись в детский сад"
        assert services["nightly"]["region_name"] == "Хабаровский край"
        assert services["nightly"]["verdict"] == "broken" and services["broken"]["state"] == "down"
        page = text_of(site.text("/services/healthy"))
        assert "Куратор: Иванова Анна Петровна" in page and "Почта" not in page
        birth = site.json("/api/v1/life-situations/birth-of-child")["life_situation"]
        assert birth["name"] == "Рождение ребёнка"
        assert {s["id"] for s in birth["services"]} == {"healthy", "nightly", "dipped"}
        # No catalog, no plans: maintenance now still comes from the daemon's gauge.
        assert site.json("/api/v1/services/maint")["service"]["state"] == "maintenance"


# --- feed, API, badges ---------------------------------------------------------------------

def test_atom_feeds_list_outages_and_maintenance(site: h.Site) -> None:
    start, end = window(site)
    root = ET.fromstring(site.text("/feed.atom"))
    assert root.tag == f"{ATOM}feed" and root.find(f"{ATOM}updated") is not None
    entries = root.findall(f"{ATOM}entry")
    titles = [e.findtext(f"{ATOM}title") or "" for e in entries]
    assert "Сбой продолжается: Выдача справок" in titles
    assert "Плановые работы: Регистрация транспорта" in titles
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(ids) == len(set(ids))
    for e in entries:
        assert e.find(f"{ATOM}link").get("href", "").startswith(site.url + "/services/")  # type: ignore[union-attr]
    # A maintenance entry is dated when it entered the 14-day horizon, not at each refresh
    # (readers would see it as new every time).
    starts = {dt.datetime.fromisoformat(a["start"]).timestamp()
              for a in site.json("/api/v1/summary")["announcements"]}
    dated = {dt.datetime.fromisoformat(e.findtext(f"{ATOM}published") or "").timestamp()
             for e in entries if (e.findtext(f"{ATOM}title") or "").startswith("Плановые")}
    assert dated == {start - 14 * 86400 for start in starts}
    own = ET.fromstring(site.text("/services/nightly/feed.atom")).findall(f"{ATOM}entry")
    assert len(own) == len(truth_outages(h.BY_ID["nightly"], start, end))
    assert all("Запись в детский сад" in (e.findtext(f"{ATOM}title") or "") for e in own)


def test_json_api_is_versioned_and_says_what_the_pages_say(site: h.Site) -> None:
    index = site.json("/api/v1/")
    assert index["api_version"] == "1"
    for path in index["endpoints"].values():
        concrete = path.replace("{id}", "nightly").replace("{code}", "RU-KHA")
        concrete = concrete.replace("life-situations/nightly", "life-situations/birth-of-child")
        assert site.get(concrete)[0] == 200, concrete
    service = site.json("/api/v1/services/nightly")["service"]
    page = text_of(site.text("/services/nightly"))
    for part in service["parts"]:
        value = (fmt.percent(part["value"]) if part["unit"] == "ratio"
                 else fmt.seconds(part["value"]))
        assert f"{part['title']} {value}" in page
    status, headers, body = site.get("/api/v1/services/no-such")
    assert status == 404 and json.loads(body) == {"error": "no such service"}
    assert headers["Content-Type"].startswith("application/json")


def _badge(site: h.Site, path: str) -> list[str]:
    root = ET.fromstring(site.text(path))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_badges(site: h.Site) -> None:
    assert _badge(site, "/badge/broken/state.svg") == ["сейчас", "не работает"]
    assert _badge(site, "/badge/maint/state.svg") == ["сейчас", "плановые работы"]
    start, end = window(site)
    value = fmt.percent(availability(h.BY_ID["nightly"], start, end))
    assert _badge(site, "/badge/nightly/availability.svg") == ["доступность", value]
    assert site.get("/badge/nightly/other.svg")[0] == 404


# --- load and faults -------------------------------------------------------------------------

def _prometheus_queries(prometheus: str) -> float:
    with urllib.request.urlopen(f"{prometheus}/metrics", timeout=10) as r:
        body = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith("prometheus_http_requests_total{")
               and re.search(r'handler="/api/v1/query(_range)?"', line))


async def _visitors(site: h.Site, count: int, paths: list[str]) -> list[int]:
    """``count`` visitors at once, each from its own loopback address, each reading ``paths``."""
    async def visitor(i: int) -> list[int]:
        address = f"127.0.{1 + i // 250}.{1 + i % 250}"
        connector = aiohttp.TCPConnector(local_addr=(address, 0))
        async with aiohttp.ClientSession(connector=connector) as session:
            out = []
            for path in paths:
                async with session.get(site.url + path) as r:
                    await r.read()
                    out.append(r.status)
            return out
    results = await asyncio.gather(*(visitor(i) for i in range(count)))
    return [s for r in results for s in r]


def test_200_concurrent_visitors_leave_the_query_rate_unchanged(site: h.Site) -> None:
    before_prom = _prometheus_queries(site.prometheus)
    before = site.json("/healthz")
    paths = ["/", "/services/nightly", "/api/v1/summary", "/feed.atom", "/badge/broken/state.svg"]
    statuses = asyncio.run(_visitors(site, 200, paths))
    assert statuses == [200] * 1000
    after = site.json("/healthz")
    assert after["queries"] == before["queries"] and after["refreshes"] == before["refreshes"]
    assert _prometheus_queries(site.prometheus) == before_prom
    # Each page rendered once for the snapshot, however many read it.
    assert after["renders"] - before["renders"] <= len(paths)


def test_a_client_over_its_rate_is_refused_and_others_are_not(site: h.Site) -> None:
    async def flood() -> tuple[list[int], int, dict[str, str]]:
        async with aiohttp.ClientSession() as session:
            codes = []
            retry: dict[str, str] = {}
            for _ in range(400):
                async with session.get(site.url + "/") as r:
                    codes.append(r.status)
                    if r.status == 429:
                        retry = dict(r.headers)
            other = await _visitors(site, 1, ["/"])
            await asyncio.sleep(float(retry.get("Retry-After", "1")))
            async with session.get(site.url + "/") as r:
                codes.append(r.status)   # served again once it waited as told
            return codes, other[0], retry
    codes, other, headers = asyncio.run(flood())
    assert codes[0] == 200 and 429 in codes and codes[-1] == 200
    assert headers["Retry-After"] == "1" and "Content-Security-Policy" in headers
    assert other == 200


def test_prometheus_unreachable_keeps_the_last_good_data_with_its_age(
        prometheus: str, tmp_path: Path) -> None:
    host, port = prometheus.removeprefix("http://").split(":")
    with tcp_proxy(host, int(port)) as (url, proxy):
        gen = h.serve_status(tmp_path, url, "--refresh", "1", "--window-refresh", "1")
        site = next(gen)
        try:
            shown = text_of(site.text("/services/nightly"))
            proxy.shutdown()
            proxy.server_close()
            deadline = time.monotonic() + 30
            while not site.json("/healthz")["source_unavailable"]:
                assert time.monotonic() < deadline, "the refresh never noticed"
                time.sleep(0.2)
            for path in _every_path(site):
                assert site.get(path)[0] in (200, 404), path
            page = text_of(site.text("/services/nightly"))
            assert "⚠ Источник данных временно недоступен" in page
            assert "Показаны последние полученные данные на" in page
            figure = re.search(r"Доступность круглосуточно (\S+ %)", shown)
            assert figure is not None and f"Доступность круглосуточно {figure[1]}" in page
            assert site.json("/api/v1/summary")["freshness"]["source_unavailable"] is True
        finally:
            for _ in gen:
                pass


def test_no_prometheus_at_all_is_a_page_that_says_so(tmp_path: Path) -> None:
    gen = h.serve_status_without_data(tmp_path)
    site = next(gen)
    try:
        for path in ("/", "/services", "/services/nightly", "/feed.atom", "/api/v1/summary"):
            assert site.get(path)[0] == 200, path
        assert "⚠ Источник данных временно недоступен. Данных пока нет." in text_of(
            site.text("/"))
    finally:
        for _ in gen:
            pass


# --- shared platforms ---------------------------------------------------------------------

def test_a_platform_down_is_shown_as_the_cause_and_never_as_a_service(site: h.Site) -> None:
    """esia (a platform) is down with broken, which goes through it: the home page names the
    platform as the cause with how many services it took down; the platform is in no list,
    page, ranking or situation of services."""
    pid, name = h.PLATFORM
    summary = site.json("/api/v1/summary")
    [down] = summary["platforms_down"]
    assert (down["id"], down["name"], down["services_total"], down["services_down"],
            down["services"]) == (pid, name, 1, 1, ["broken"])
    assert 3 * 3600 - 300 <= down["outage_seconds"] <= 3 * 3600 + 300
    assert summary["services_total"] == len(h.SERVICES)
    assert [b["id"] for b in summary["down"]] == ["broken"]
    assert summary["down"][0]["down_because"] == [{"id": pid, "name": name}]
    listed = {s["id"] for s in site.json("/api/v1/services")["services"]}
    assert listed == set(h.BY_ID)
    assert site.get(f"/services/{pid}")[0] == 404
    assert site.get(f"/api/v1/services/{pid}")[0] == 404
    for region in summary["regions"]:
        assert pid not in {s["id"] for s in site.json(
            f"/api/v1/regions/{region['code']}")["region"]["services"]}
    home = text_of(site.text("/"))
    section = home.split("Не работают сейчас")[1].split("Плановые работы")[0]
    assert f"Не работает платформа «{name}» (уже 3 ч" in section
    assert "затронуто услуг — 1" in section
    assert "Выдача справок" in section
    assert f"из-за недоступности платформы «{name}»" in section
    # The all-services list: a row per service, the platform only named as broken's cause.
    listing = site.text("/services")
    assert f'href="/services/{pid}"' not in listing
    assert len(re.findall(r'<th scope="row"><a href="/services/', listing)) == len(h.SERVICES)
    assert text_of(listing).count(name) == text_of(listing).count(f"платформы «{name}»") == 1


def test_a_dependent_service_page_says_why_and_gives_availability_both_ways(
        site: h.Site) -> None:
    pid, name = h.PLATFORM
    cause = f"из-за недоступности платформы «{name}»"
    start, end = window(site)
    broken = site.json("/api/v1/services/broken")["service"]
    assert broken["down_because"] == [{"id": pid, "name": name}]
    assert broken["depends_on"] == [{"id": pid, "name": name, "state": "down"}]
    # Measured: every failed run counts (the verdict's figure); excluding the platform's
    # outages: every failed run was in a step the platform failed in too.
    assert broken["availability"] == pytest.approx(
        availability(h.BY_ID["broken"], start, end), abs=1e-9)
    assert broken["availability"] < 1
    assert broken["availability_excluding_platforms"] == pytest.approx(1.0, abs=1e-9)
    [outage] = broken["outages"]
    assert outage["ongoing"] and outage["own_seconds"] == pytest.approx(0.0, abs=1)
    assert [(p["id"], p["name"]) for p in outage["platforms"]] == [(pid, name)]
    assert outage["platforms"][0]["seconds"] == pytest.approx(outage["seconds"], abs=1)
    assert broken["outage_seconds_own"] == pytest.approx(0.0, abs=1)
    [share] = broken["outage_seconds_platforms"]
    assert (share["id"], share["seconds"]) == (pid, pytest.approx(outage["seconds"], abs=1))
    page = text_of(site.text("/services/broken"))
    assert f"Причина: {cause}" in page
    assert "Сбои платформ" in page and "Без учёта сбоев платформ 100,00 %" in page
    assert "продолжается 3 ч 0" in page and cause in page.split("Сбои за окно")[1]
    feed = ET.fromstring(site.text("/services/broken/feed.atom"))
    assert any(cause in (e.findtext(f"{ATOM}summary") or "")
               for e in feed.findall(f"{ATOM}entry"))
    # nightly fails on its own and depends on nothing: nothing excused, no platform shown.
    nightly = site.json("/api/v1/services/nightly")["service"]
    assert nightly["depends_on"] == [] and nightly["down_because"] == []
    assert nightly["availability_excluding_platforms"] == nightly["availability"]
    assert all(o["platforms"] == [] for o in nightly["outages"])
    assert "Сбои платформ" not in text_of(site.text("/services/nightly"))
