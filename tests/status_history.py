"""The status page's test world: a catalog and ~two months of synthetic history ending a few
seconds ago, in a real Prometheus (``harness.backfill``), and ``dozor status`` serving it.

Services (one location each, a run every 5 minutes):

- healthy  RU-MOW МСЗУ  always up;
- nightly  RU-KHA МСЗУ  down 01:00–04:00 Vladivostok time every night but the last day's:
  breaks the standard, up now;
- broken   RU-MOW       down for the last three hours: down now;
- maint    RU-KHA МСЗУ  up, in announced maintenance now (the daemon's gauge and the catalog);
- young    RU-MOW       added two days ago: older days have no data;
- dipped   RU-MOW МСЗУ  six hours down on the 3rd of the previous month: broke it then.

and a shared platform, esia («Единая система идентификации», its own probe "login"), down for
the last three hours with broken, which goes through it (``depends_on``): broken's outage is
the platform's. nightly fails on its own and depends on nothing.

Secrets planted where only the catalog knows them (probe URLs, headers, private curator
contacts) must never appear on the site: ``PRIVATE``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from harness.backfill import DEFAULT_OBJECTIVES, OpenMetrics, backfilled_prometheus, probe_runs
from harness.stack import free_port, spawn, stop_process
from monitor.report import fmt

MSK = ZoneInfo("Europe/Moscow")
VLA = ZoneInfo("Asia/Vladivostok")
STEP = 300
# The world's clock and what hangs on it: set by ``begin``.
NOW = LAST = SCRAPED = PREV_START = FIRST = BROKEN_FROM = YOUNG_FROM = 0.0
RUNS: list[float] = []
DIP: tuple[float, float] = (0.0, 0.0)
MAINT: tuple[float, float] = (0.0, 0.0)
TOKEN = "S3cr3t-t0ken-4242"
PLATFORM_KEY = "Esia-K3y-9090"
PRIVATE = ("intranet-gw.corp.example", TOKEN, "Bearer", "petrov-private@corp.example",
           "+7 423 000-00-02", "423000", "-1001234567", "+7 495 000-00-01", "495000",
           "/internal/health", "esia-gw.corp.example", PLATFORM_KEY, "/secret-login")
PLATFORM = ("esia", "Единая система идентификации")


def night(t: float) -> bool:
    """nightly's outages: 01:00-04:00 Vladivostok time (18:00-21:00 Moscow), every night but
    those of the last day. Whatever the hour the tests run, nightly is up now and its latest
    Moscow-day bar is green (with every night, from 18:00 to 24:00 Moscow time today's bar was
    red, and until 21:00 nightly was down now, and the tests that read otherwise failed)."""
    local = dt.datetime.fromtimestamp(t, VLA)
    began = local.replace(hour=1, minute=0, second=0, microsecond=0).timestamp()
    return 1 <= local.hour < 4 and began < NOW - 86400  # whole nights only


@dataclass(frozen=True)
class Svc:
    id: str
    name: str
    region: str
    curator: str
    mszu: bool
    down: Any                      # run end time -> failed
    young: bool = False            # added to the catalog two days ago

    @property
    def timezone(self) -> str:
        return REGIONS[self.region][1]

    @property
    def since(self) -> float:
        return YOUNG_FROM if self.young else FIRST

    def runs(self) -> list[tuple[float, bool]]:
        return [(t, not self.down(t)) for t in RUNS if t >= self.since]


REGIONS = {"RU-MOW": ("Москва", "Europe/Moscow"),
           "RU-KHA": ("Хабаровский край", "Asia/Vladivostok")}
SERVICES = (
    Svc("healthy", "Запись к врачу", "RU-MOW", "ivanova", True, lambda t: False),
    Svc("nightly", "Запись в детский сад", "RU-KHA", "petrov", True, night),
    Svc("broken", "Выдача справок", "RU-MOW", "petrov", False, lambda t: t >= BROKEN_FROM),
    Svc("maint", "Регистрация транспорта", "RU-KHA", "ivanova", True, lambda t: False),
    Svc("young", "Запись в кружок", "RU-MOW", "ivanova", False, lambda t: False, young=True),
    Svc("dipped", "Пособие на ребёнка", "RU-MOW", "ivanova", True,
        lambda t: DIP[0] < t <= DIP[1]),
)
BY_ID = {s.id: s for s in SERVICES}
SITUATIONS = {"birth-of-child": "Рождение ребёнка", "moving-house": "Переезд"}
CURATOR_NAMES = {"ivanova": "Иванова Анна Петровна", "petrov": "Петров Иван Ильич"}


def situations_of(service: str) -> list[str]:
    return ["birth-of-child"] if service in ("healthy", "nightly", "dipped") else ["moving-house"]




def begin(now: float) -> None:
    """Set the world's clock: the history ends at ``now``. Called when a module's Prometheus
    is made, not at import: pytest imports every test module at the start of a long session,
    and state read five minutes after its last sample is gone (Prometheus' lookback)."""
    global NOW, LAST, SCRAPED, PREV_START, FIRST, RUNS, BROKEN_FROM, YOUNG_FROM, DIP, MAINT
    NOW = now
    # Runs end on the 5-minute grid, as the report's steps fall (a real daemon is scraped far
    # more often than it runs, so any 5-minute window holds two samples; here the grid gives
    # them), and every series is scraped once more a few seconds ago.
    LAST = (now - 20) // STEP * STEP
    SCRAPED = now - 5
    month = dt.datetime.fromtimestamp(now, MSK).replace(day=1, hour=0, minute=0, second=0,
                                                        microsecond=0)
    PREV_START = (month - dt.timedelta(days=1)).replace(day=1).timestamp()
    FIRST = PREV_START - 86400               # a day before the previous month
    RUNS = [LAST - STEP * k for k in range(int((LAST - FIRST) // STEP), -1, -1)]
    BROKEN_FROM = LAST - 3 * 3600 + 1
    YOUNG_FROM = LAST - 2 * 86400
    DIP = (PREV_START + 2 * 86400 + 12 * 3600, PREV_START + 2 * 86400 + 18 * 3600)
    MAINT = (now - 3600, now + 3600)


begin(time.time())
TARGET = 'instance="msk:9247",job="dozor"'


def openmetrics() -> str:
    om = OpenMetrics()
    for s in SERVICES:
        probe_runs(om, f'service="{s.id}",probe="portal",location="msk",{TARGET}', s.runs(),
                   s.timezone, STEP, scraped_at=SCRAPED)
    # The platform's series carry its id as "service" (and it has no dozor_service_info).
    probe_runs(om, f'service="{PLATFORM[0]}",probe="login",location="msk",{TARGET}',
               [(t, t < BROKEN_FROM) for t in RUNS], "Europe/Moscow", STEP,
               scraped_at=SCRAPED)
    hourly = [*RUNS[::12], SCRAPED]
    for metric, value in DEFAULT_OBJECTIVES.items():
        for s in SERVICES:
            om.gauge(metric, f'service="{s.id}",{TARGET}', [(t, value) for t in hourly
                                                              if t >= s.since])
    # The catalog facts a daemon exports (what `dozor status` without --config reads).
    for s in SERVICES:
        om.gauge("dozor_service_info",
                 f'service="{s.id}",name="{s.name}",level="regional",region="{s.region}",'
                 f'department="Министерство",curator="{s.curator}",'
                 f'mszu="{str(s.mszu).lower()}",{TARGET}', [(t, 1.0) for t in hourly])
        for lid in situations_of(s.id):
            om.gauge("dozor_life_situation_member",
                     f'life_situation="{lid}",service="{s.id}",{TARGET}',
                     [(t, 1.0) for t in hourly])
    for lid, name in SITUATIONS.items():
        om.gauge("dozor_life_situation_info", f'life_situation="{lid}",name="{name}",{TARGET}',
                 [(t, 1.0) for t in hourly])
    for code, (name, zone) in REGIONS.items():
        om.gauge("dozor_region_info", f'region="{code}",name="{name}",timezone="{zone}",{TARGET}',
                 [(t, 1.0) for t in hourly])
    for cid, name in CURATOR_NAMES.items():
        om.gauge("dozor_curator_info", f'curator="{cid}",name="{name}",deputy="",{TARGET}',
                 [(t, 1.0) for t in hourly])
    om.gauge("dozor_maintenance_active", 'service="maint"',
             [(t, 1.0 if t >= MAINT[0] else 0.0) for t in [*RUNS[-48:], SCRAPED]])
    om.gauge("dozor_build_info", f'{TARGET},version="1.0",python="3.11"',
             [(t, 1.0) for t in [*RUNS, SCRAPED]])
    return om.text()


def catalog() -> dict[str, Any]:
    local = dt.datetime.fromtimestamp(MAINT[0], VLA).replace(tzinfo=None, second=0, microsecond=0)

    def service(s: Svc) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": s.id, "name": s.name, "level": "regional", "region": s.region,
            "department": "Министерство цифрового развития", "mszu": s.mszu,
            "curator": s.curator,
            "life_situations": situations_of(s.id),
            "probes": [{"name": "portal", "http": {
                "url": f"https://intranet-gw.corp.example/internal/health?token={TOKEN}",
                "headers": {"Authorization": "Bearer ${STATUS_TEST_TOKEN}"}}}]}
        if s.id == "healthy":
            doc["public_url"] = "https://www.gosuslugi.ru/600204/1"
        if s.id == "broken":
            doc["depends_on"] = [PLATFORM[0]]
        if s.id == "maint":
            doc["maintenance"] = [
                {"start": local.isoformat(), "end": (local + dt.timedelta(hours=2)).isoformat(),
                 "reason": "обновление ПО"},
                {"cron": "0 2 * * sun", "duration": "1h", "reason": "еженедельные работы"}]
        return doc

    return {
        "regions": [{"code": c, "name": n, "timezone": z} for c, (n, z) in REGIONS.items()],
        "curators": [
            {"id": "ivanova", "name": CURATOR_NAMES["ivanova"], "email": "ivanova@example.org",
             "phone": "+7 495 000-00-01", "photo": "https://photos.example.org/ivanova.jpg",
             "public": ["photo", "email"]},
            {"id": "petrov", "name": CURATOR_NAMES["petrov"],
             "email": "petrov-private@corp.example",
             "phone": "+7 423 000-00-02", "telegram": "-1001234567"}],
        "life_situations": [{"id": lid, "name": name} for lid, name in SITUATIONS.items()],
        "services": [service(s) for s in SERVICES],
        "platforms": [{"id": PLATFORM[0], "name": PLATFORM[1], "curator": "petrov",
                       "region": "RU-MOW", "probes": [{"name": "login", "http": {
                           "url": f"https://esia-gw.corp.example/secret-login?key={PLATFORM_KEY}"
                       }}]}],
    }


@dataclass(frozen=True)
class Site:
    url: str
    prometheus: str
    workdir: Path

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def text(self, path: str) -> str:
        status, _, body = self.get(path)
        assert status == 200, (path, status)
        return body.decode()

    def json(self, path: str) -> Any:
        return json.loads(self.text(path))


def write_catalog(path: Path) -> Path:
    path.write_text(yaml.safe_dump(catalog(), allow_unicode=True), encoding="utf-8")
    return path


def _first_data(health: dict[str, Any]) -> bool:
    return health["data_at"] is not None and health["version"] >= 1


def serve_status(work: Path, prometheus: str, *extra: str, with_catalog: bool = True,
                 ready: Callable[[dict[str, Any]], bool] = _first_data,
                 env: Mapping[str, str] | None = None) -> Iterator[Site]:
    """``dozor status`` (the real CLI) on the test catalog (or, without it, on the info
    metrics alone); yields once its /healthz is ``ready`` (by default: its first refresh
    read data). ``env``: more environment (``harness.clock.pinned_clock``)."""
    port = free_port()
    config = ["--config", str(write_catalog(work / "catalog.yaml"))] if with_catalog else []
    env = {**os.environ, "STATUS_TEST_TOKEN": TOKEN, **(env or {})}
    proc = spawn([sys.executable, "-m", "monitor", "status", "--prometheus", prometheus,
                  *config, "--listen", f"127.0.0.1:{port}", *extra],
                 work / "status.log", env=env)
    site = Site(f"http://127.0.0.1:{port}", prometheus, work)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (work / "status.log").read_text()[-3000:]
            try:
                if ready(site.json("/healthz")):
                    break
            except (OSError, AssertionError):
                pass
            assert time.monotonic() < deadline, (work / "status.log").read_text()[-3000:]
            time.sleep(0.3)
        yield site
    finally:
        stop_process(proc)


def serve_status_without_data(work: Path) -> Iterator[Site]:
    """``dozor status`` against a port nothing listens on: it must still serve."""
    yield from serve_status(work, f"http://127.0.0.1:{free_port()}", "--refresh", "1",
                            ready=lambda health: bool(health["source_unavailable"]))


# The runs end on the last 5-minute boundary at least 20 s ago (``begin``), and the reads must
# stay in the step after it: read past the next boundary, the report's steps see the ongoing
# outage end there (four status tests failed at 16:45:00 sharp). A module reads for up to
# this long on a loaded machine; begun later in its step, the world waits for the next one.
READ_SPAN = 150.0


def history_prometheus(work: Path, at: float | None = None) -> Iterator[str]:
    """The world's history in a real Prometheus, ending now or at a pinned ``at`` (for a
    ``dozor status`` whose clock is pinned there too: ``harness.clock``)."""
    if at is None:
        now = time.time()
        last = (now - 20) // STEP * STEP
        if now - last > STEP - READ_SPAN:
            time.sleep(last + STEP + 30 - now)  # then the runs end 30 s before the reads start
        at = time.time()
    begin(at)
    with backfilled_prometheus(work, openmetrics()) as url:
        yield url


# --- the truth the pages are checked against ---------------------------------------------

def counted_runs(s: Svc, start: float, end: float) -> list[tuple[float, bool]]:
    """The runs the 5-minute steps in (start, end] count: each needs the sample before it."""
    runs = s.runs()
    times = {t for t, _ in runs}
    return [(t, ok) for t, ok in runs if start < t <= end and t - STEP in times]


def check_bars(html: str, svc: Svc, now: float) -> list[str]:
    """Each of the 90 bars says its day's availability in text, as the truth has it (none
    while a day has no finished step: today in its first minutes); the bars' classes."""
    bars = re.findall(r'<li class="bar (\w+)" title="([^"]+)">', html)
    assert len(bars) == 90
    today = dt.datetime.fromtimestamp(now, MSK).date()
    for k, (css, title) in enumerate(bars):
        day = today - dt.timedelta(days=89 - k)
        start = dt.datetime.combine(day, dt.time(0), MSK).timestamp()
        runs = counted_runs(svc, start, min(start + 86400, now))
        assert title.startswith(day.strftime("%d.%m.%Y") + ": "), title
        if not runs:
            assert (css, title.split(": ")[1]) == ("none", "нет данных"), title
            continue
        value = sum(ok for _, ok in runs) / len(runs)
        verdict = "цель выполнена" if value >= 0.995 else "ниже цели"
        assert (css, title) == ("ok" if value >= 0.995 else "bad",
                                f"{day:%d.%m.%Y}: {fmt.percent(value)}, {verdict}")
        assert f'<span class="vh">{title}</span>' in html   # read out, not only hovered
    return [css for css, _ in bars]
