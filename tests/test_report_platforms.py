"""`dozor report --config` attributes failures and outage time to shared platforms, against a
real Prometheus holding a backfilled month (September 2026, Moscow time, a run every 5
minutes, one location).

- sso, a platform (probe "login"), is down two hours on the 10th, 12:00–14:00: 24 failed runs;
- kinder (service-level depends_on: [sso]) fails in the same steps, and on its own for 30
  minutes on the 20th: 24 runs are sso's, 6 its own;
- pension (depends_on: [sso]) fails only with sso: every failed run excused;
- bystander depends on nothing and fails in the same steps: nothing excused;
- passport has two probes: "login" goes through sso (probe-level depends_on) and fails with
  it; "portal" does not, and fails 12:00–12:30 during sso's outage and 20 minutes on the 25th:
  only login's failures are excused.

The truth the assertions compare with is counted here from the same run-by-run verdicts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from harness.backfill import DEFAULT_OBJECTIVES, OpenMetrics, backfilled_prometheus, probe_runs
from monitor.report.csvout import PLATFORM_COLUMNS, SERVICE_COLUMNS
from tests.test_report import csv_rows, report_files

pytestmark = pytest.mark.e2e  # a real Prometheus with a month of data

MSK = ZoneInfo("Europe/Moscow")
START = dt.datetime(2026, 9, 1, tzinfo=MSK).timestamp()
END = dt.datetime(2026, 10, 1, tzinfo=MSK).timestamp()
STEP = 300
RUNS = [START - 3600 + i * STEP for i in range(int((END - START + 7200) // STEP) + 1)]
TARGET = 'instance="msk:9247",job="dozor"'
SSO_NAME = "Единая система идентификации"


def _at(day: int, hour: int, minute: int = 0) -> float:
    return dt.datetime(2026, 9, day, hour, minute, tzinfo=MSK).timestamp()


def _within(a: float, b: float) -> Callable[[float], bool]:
    """Failing runs: those ending in [a, b)."""
    return lambda t: a <= t < b


SSO_DOWN = _within(_at(10, 12), _at(10, 14))
KINDER_OWN = _within(_at(20, 10), _at(20, 10, 30))
PORTAL_DOWN = (_within(_at(10, 12), _at(10, 12, 30)), _within(_at(25, 9), _at(25, 9, 20)))

# id -> (name, service-level depends_on, {probe: (its own depends_on, run -> failed)})
Probes = dict[str, tuple[tuple[str, ...], Callable[[float], bool]]]
World = dict[str, tuple[str, tuple[str, ...], Probes]]
PLATFORMS: World = {"sso": (SSO_NAME, (), {"login": ((), SSO_DOWN)})}
SERVICES: World = {
    "kinder": ("Запись в детский сад", ("sso",),
               {"portal": ((), lambda t: SSO_DOWN(t) or KINDER_OWN(t))}),
    "pension": ("Назначение пенсии", ("sso",), {"portal": ((), SSO_DOWN)}),
    "bystander": ("Выписка из реестра", (), {"portal": ((), SSO_DOWN)}),
    "passport": ("Загранпаспорт", (), {
        "portal": ((), lambda t: any(f(t) for f in PORTAL_DOWN)),
        "login": (("sso",), SSO_DOWN)}),
}


def openmetrics() -> str:
    om = OpenMetrics()
    for sid, (_, _, probes) in {**PLATFORMS, **SERVICES}.items():
        for probe, (_, failed) in probes.items():
            probe_runs(om, f'service="{sid}",probe="{probe}",location="msk",{TARGET}',
                       [(t, not failed(t)) for t in RUNS], "Europe/Moscow", STEP)
    hourly = RUNS[::12]
    for metric, value in DEFAULT_OBJECTIVES.items():
        for sid in SERVICES:
            om.gauge(metric, f'service="{sid}"', [(t, value) for t in hourly])
    om.gauge("dozor_build_info", f'{TARGET},version="1.0",python="3.11"',
             [(t, 1.0) for t in RUNS])
    return om.text()


def catalog() -> dict[str, Any]:
    def probes(spec: Probes) -> list[dict[str, Any]]:
        return [{"name": name, "http": {"url": f"https://internal.example/{name}"},
                 **({"depends_on": list(deps)} if deps else {})}
                for name, (deps, _) in spec.items()]

    return {
        "regions": [{"code": "RU-MOW", "name": "Москва", "timezone": "Europe/Moscow"}],
        "curators": [{"id": "ivanova", "name": "Иванова А. П."},
                     {"id": "esia", "name": "Дежурный ЕСИА"}],
        "platforms": [{"id": pid, "name": name, "curator": "esia", "region": "RU-MOW",
                       "probes": probes(spec)} for pid, (name, _, spec) in PLATFORMS.items()],
        "services": [{"id": sid, "name": name, "level": "regional", "region": "RU-MOW",
                      "department": "Минцифры", "mszu": True, "curator": "ivanova",
                      **({"depends_on": list(deps)} if deps else {}), "probes": probes(spec)}
                     for sid, (name, deps, spec) in SERVICES.items()],
    }


# --- the truth, from the same verdicts --------------------------------------------------------

def counted(t: float) -> bool:
    """The runs the month's 5-minute steps count (after the start, up to the end)."""
    return START < t <= END


def runs_of(sid: str) -> int:
    return sum(1 for t in RUNS if counted(t)) * len(SERVICES[sid][2])


def failed_of(sid: str, excused: bool = False) -> int:
    """Failed runs; with ``excused``, only those of a probe through sso while sso failed."""
    _, deps, probes = SERVICES[sid]
    return sum(1 for t in RUNS if counted(t) for probe, (own, failed) in probes.items()
               if failed(t) and (not excused or ("sso" in (*deps, *own) and SSO_DOWN(t))))


# --- the report -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    work = tmp_path_factory.mktemp("report-platforms")
    config = work / "catalog.yaml"
    config.write_text(yaml.safe_dump(catalog(), allow_unicode=True), encoding="utf-8")
    with backfilled_prometheus(work, openmetrics()) as url:
        yield report_files(url, work / "out", "--config", str(config))


def _service(files: dict[str, Path], sid: str) -> dict[str, str]:
    return next(r for r in csv_rows(files["services"]) if r["service"] == sid)


def test_the_truth_is_what_the_scenario_says() -> None:
    assert runs_of("kinder") == 8640 and runs_of("passport") == 2 * 8640
    assert (failed_of("kinder"), failed_of("kinder", True)) == (30, 24)
    assert (failed_of("pension"), failed_of("pension", True)) == (24, 24)
    assert (failed_of("bystander"), failed_of("bystander", True)) == (24, 0)
    assert (failed_of("passport"), failed_of("passport", True)) == (34, 24)


@pytest.mark.parametrize("sid", sorted(SERVICES))
def test_availability_both_ways(files: dict[str, Path], sid: str) -> None:
    """Measured (every failure counts; the verdict's figure) and excluding platform outages:
    the failed runs sso explains (sso failing in the step, through a probe that uses it)
    counted as successes. kinder: 24 of its 30 failed runs are sso's, 2 h of 5-minute runs."""
    row = _service(files, sid)   # shares with the CSV's six digits
    runs, failed, excused = runs_of(sid), failed_of(sid), failed_of(sid, True)
    assert float(row["events"]) == runs and float(row["failures"]) == failed
    assert float(row["availability"]) == pytest.approx(1 - failed / runs, abs=1e-6)
    assert float(row["availability_maintenance_counted"]) == float(row["availability"])
    assert float(row["platform_failures"]) == excused
    assert float(row["availability_excluding_platforms"]) == pytest.approx(
        1 - (failed - excused) / runs, abs=1e-6)
    assert row["failures_by_platform"] == (f"sso={excused}" if excused else "")
    assert row["depends_on"] == {"kinder": "sso", "pension": "sso", "passport": "sso",
                                 "bystander": ""}[sid]


def test_the_figures_as_numbers(files: dict[str, Path]) -> None:
    """The same, written out: what a curator reads."""
    kinder = _service(files, "kinder")
    assert float(kinder["availability"]) == pytest.approx(1 - 30 / 8640, abs=1e-6)  # 99.65 %
    assert float(kinder["availability_excluding_platforms"]) == pytest.approx(
        1 - 6 / 8640, abs=1e-6)                                                     # 99.93 %
    assert float(_service(files, "pension")["availability_excluding_platforms"]) == 1.0
    bystander = _service(files, "bystander")
    assert bystander["availability_excluding_platforms"] == bystander["availability"]
    passport = _service(files, "passport")
    assert float(passport["availability_excluding_platforms"]) == pytest.approx(
        1 - 10 / 17280, abs=1e-6)


# An outage runs from the end of the last success (the run ending at 11:55) to the start of the
# run that succeeded again (0.3 s before it ended at 14:00).
SSO_OUTAGE = 2 * 3600 + 300 - 0.3


def test_outage_time_split_into_own_and_the_platforms(files: dict[str, Path]) -> None:
    """Per service: outage seconds in all, its own, and sso's. kinder: 2 h 5 min of it sso's,
    35 min its own; passport: its portal probe failed for the first 35 minutes of sso's
    outage on its own account."""
    own_portal = 35 * 60 - 0.3
    expected = {  # sid: (outage seconds, own, sso's)
        "kinder": (SSO_OUTAGE + 35 * 60 - 0.3, 35 * 60 - 0.3, SSO_OUTAGE),
        "pension": (SSO_OUTAGE, 0.0, SSO_OUTAGE),
        "bystander": (SSO_OUTAGE, SSO_OUTAGE, 0.0),
        "passport": (SSO_OUTAGE + 25 * 60 - 0.3, own_portal + 25 * 60 - 0.3,
                     SSO_OUTAGE - own_portal),
    }
    for sid, (total, own, sso) in expected.items():
        row = _service(files, sid)
        got = (float(row["outage_seconds"]), float(row["outage_seconds_own"]),
               float(row["outage_seconds_platforms"]))
        assert got == pytest.approx((total, own, total - own), abs=0.11), sid
        assert float(row["outage_seconds_platforms"]) == pytest.approx(sso, abs=0.11), sid


def test_outages_marked_with_the_platform(files: dict[str, Path]) -> None:
    rows = {(r["service"], r["start"]): r for r in csv_rows(files["outages"])}
    sso_start = "2026-09-10T11:55:00+03:00"
    assert rows[("kinder", sso_start)]["platforms"] == "sso"
    assert float(rows[("kinder", sso_start)]["platform_seconds"]) == pytest.approx(
        SSO_OUTAGE, abs=0.11)
    own = rows[("kinder", "2026-09-20T09:55:00+03:00")]
    assert (own["platforms"], float(own["platform_seconds"])) == ("", 0.0)
    assert rows[("pension", sso_start)]["platforms"] == "sso"
    assert rows[("bystander", sso_start)]["platforms"] == ""        # not a dependent
    assert rows[("passport", sso_start)]["platforms"] == "sso"
    assert float(rows[("passport", sso_start)]["platform_seconds"]) == pytest.approx(
        SSO_OUTAGE - (35 * 60 - 0.3), abs=0.11)


def test_platforms_csv(files: dict[str, Path]) -> None:
    [sso] = csv_rows(files["platforms"])
    assert tuple(sso) == PLATFORM_COLUMNS
    assert (sso["platform"], sso["name"]) == ("sso", SSO_NAME)
    assert float(sso["availability"]) == pytest.approx(1 - 24 / 8640, abs=1e-6)
    assert float(sso["outage_seconds"]) == pytest.approx(SSO_OUTAGE, abs=0.11)
    assert int(sso["dependents"]) == 3           # kinder, pension, passport (a probe of it)
    assert int(sso["dependents_affected"]) == 3
    assert float(sso["dependent_failures"]) == 24 * 3
    assert float(sso["dependent_outage_seconds"]) == pytest.approx(
        2 * SSO_OUTAGE + SSO_OUTAGE - (35 * 60 - 0.3), abs=0.3)


def test_platforms_are_never_services(files: dict[str, Path]) -> None:
    """In no service row, ranking or region figure; the region ranks its four services."""
    assert {r["service"] for r in csv_rows(files["services"])} == set(SERVICES)
    assert {r["service"] for r in csv_rows(files["outages"])} <= set(SERVICES)
    [region] = csv_rows(files["regions"])
    assert region["mszu_ranked"] == "4"
    html = files["html"].read_text(encoding="utf-8")
    table = html.split("<h2>Соблюдение стандарта по услугам</h2>")[1].split("<h2>")[0]
    assert SSO_NAME not in table


def test_csv_keeps_the_old_columns_first(files: dict[str, Path]) -> None:
    header = files["services"].read_text(encoding="utf-8").splitlines()[0].split(",")
    assert tuple(header) == SERVICE_COLUMNS
    new = ("depends_on", "platform_failures", "failures_by_platform",
           "availability_excluding_platforms", "outage_seconds", "outage_seconds_own",
           "outage_seconds_platforms")
    assert tuple(header[-len(new):]) == new
    assert header[:-len(new)][-1] == "accessibility_barrier_free_share"
    outages = files["outages"].read_text(encoding="utf-8").splitlines()[0].split(",")
    assert outages == ["service", "start", "end", "duration_seconds", "ongoing", "platforms",
                       "platform_seconds"]


def test_html_shows_both_availabilities_the_cause_and_the_platforms(
        files: dict[str, Path]) -> None:
    html = files["html"].read_text(encoding="utf-8")
    kinder = html[html.index("Запись в детский сад</b>"):]
    kinder = kinder[:kinder.index("</tr>")]
    # measured / excluding platform outages, as the maintenance pair is shown
    assert "99,65 % / 99,93 %" in kinder
    outages = html.split("<h2>Перерывы в работе</h2>")[1].split("<h2>")[0]
    assert f"из-за недоступности платформы «{SSO_NAME}»" in outages
    section = html.split("<h2>Платформы</h2>")[1].split("<h2>")[0]
    assert SSO_NAME in section and "99,72 %" in section
    assert "2 ч 05 мин" in section
