"""`dozor report` against a real Prometheus holding a month of synthetic history.

The history (September 2026, Moscow time, one run every 5 minutes) is written as OpenMetrics
and imported with `promtool tsdb create-blocks-from openmetrics`; Prometheus 2.42 then serves
it. No recording rules are backfilled: the report computes from raw series with the rules'
formulas (see monitor/report/queries.py). The truth the assertions compare with is computed
here from the same run-by-run verdicts that generate the series.

Services: healthy; nightly (down 01:00–04:00 Vladivostok time every night); longdown (down
six hours on 10 September); slow (every run 3 s); quorum (two locations, one of them failing
all first week: the location quorum keeps the service up); blip (a 20-second outage); gappy
(its location's daemon away four days: not enough data); late (added on the 25th); early (its
location's daemon away since before the month, for its first two days).

Accessibility: healthy's and quorum's probes audit their pages (the violations gauge, set at
every run; their limits let every run pass, so availability is untouched); every other service
has no audit and must show none, not zero violations. healthy also had a second page audited,
by a probe removed on the 27th; only its gauge is backfilled (the report's accessibility
figures read nothing else, and its runs would change healthy's run counts).
"""

from __future__ import annotations

import argparse
import bisect
import csv
import datetime as dt
import itertools
import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from harness.backfill import DEFAULT_OBJECTIVES, backfilled_prometheus
from harness.history import outages
from harness.png import png_rows
from harness.stack import free_port
from harness.tools import dozor, require
from monitor.localtime.hours import hours_label
from monitor.metric_names import BROWSER_ACCESSIBILITY_VIOLATIONS as VIOLATIONS
from monitor.promql import location_outage_seconds, quorum
from monitor.report.command import add_arguments, run_report
from monitor.report.csvout import OUTAGE_COLUMNS, REGION_COLUMNS, SERVICE_COLUMNS
from monitor.report.svg import NO_DATA
from probes.browser.spec import IMPACTS  # the label values as the daemon exports them

pytestmark = pytest.mark.e2e  # the real Prometheus (a month of data) and chromium

MSK = ZoneInfo("Europe/Moscow")
START = dt.datetime(2026, 9, 1, tzinfo=MSK).timestamp()
END = dt.datetime(2026, 10, 1, tzinfo=MSK).timestamp()
STEP = 300
LONG_START = dt.datetime(2026, 9, 10, 12, 0, tzinfo=MSK).timestamp()
LONG_END = dt.datetime(2026, 9, 10, 18, 0, tzinfo=MSK).timestamp()
WEEK1_END = dt.datetime(2026, 9, 8, tzinfo=MSK).timestamp()
BUCKETS = ("0.5", "1", "2", "5", "+Inf")
REGIONS = {"RU-MOW": ("Москва", "Europe/Moscow"),
           "RU-KHA": ("Хабаровский край", "Asia/Vladivostok"),
           "RU-SPE": ("Санкт-Петербург", "Europe/Moscow")}
CURATORS = {"ivanova": "Иванова А. П.", "petrov": "Петров И. И."}


def _night_in_vladivostok(t: float) -> bool:
    return 1 <= dt.datetime.fromtimestamp(t, ZoneInfo("Asia/Vladivostok")).hour < 4


Counts = tuple[int, int, int, int]


@dataclass(frozen=True)
class Svc:
    id: str
    name: str
    region: str
    curator: str
    mszu: bool
    ok: Callable[[str, float], bool]          # (location, run time) -> verdict
    duration: float = 0.3
    locations: tuple[str, ...] = ("msk",)
    dense: bool = False  # runs every second for the five minutes up to BLIP_AT
    since: float = 0.0   # first probed (added to the catalog) then
    # Per probe: (location, run time) -> violated rules per impact (IMPACTS order) its audit
    # found, None: no audit then. "portal" is the probe every other series is of.
    audits: tuple[tuple[str, Callable[[str, float], Counts | None]], ...] = ()
    # Scrapes of the audit gauge between two runs' samples: (probe, location, time, counts).
    audit_between: tuple[tuple[str, str, float, Counts], ...] = ()

    @property
    def run_times(self) -> list[float]:
        if not self.dense:
            return RUN_TIMES
        return sorted([t for t in RUN_TIMES if t != BLIP_AT]
                      + [BLIP_AT - 299 + i for i in range(300)])

    def runs_at(self, loc: str) -> list[float]:
        """The runs Prometheus has of this service at ``loc``: none before it was added,
        none while the location's daemon was away (it scraped nothing then)."""
        return [t for t in self.run_times if t >= self.since and not away(loc, t)]

    @property
    def timezone(self) -> str:
        return REGIONS[self.region][1]


# The daemon at nsk is away (down, not scraped) four days: its series have no samples then;
# the one at ekb from half an hour before the month to its third day.
AWAY = {"nsk": (dt.datetime(2026, 9, 20, tzinfo=MSK).timestamp(),
                dt.datetime(2026, 9, 24, tzinfo=MSK).timestamp()),
        "ekb": (START - 1800, dt.datetime(2026, 9, 3, tzinfo=MSK).timestamp())}
# A service added to the catalog on Friday 25 September.
ADDED = dt.datetime(2026, 9, 25, tzinfo=MSK).timestamp()


def away(loc: str, t: float) -> bool:
    start, end = AWAY.get(loc, (0.0, 0.0))
    return start <= t < end


# A 20-second outage, shorter than the report's one-minute step, in business hours.
BLIP_AT = dt.datetime(2026, 9, 15, 12, 0, tzinfo=MSK).timestamp()
BLIP = (BLIP_AT - 150, BLIP_AT - 130)

HALFSEEN = (dt.datetime(2026, 9, 21, 10, 0, tzinfo=MSK).timestamp(),
            dt.datetime(2026, 9, 21, 11, 0, tzinfo=MSK).timestamp())


def _day(day: int, hour: int = 0) -> float:
    return dt.datetime(2026, 9, day, hour, tzinfo=MSK).timestamp()


def _healthy_audit(loc: str, t: float) -> Counts:
    """Before the month a worse page (the month's worst must not read August); then a
    critical and two serious violations, four serious, and from the 20th none."""
    del loc
    if t < START:
        return (5, 9, 9, 9)
    if t < _day(10):
        return (1, 2, 3, 0)
    return (0, 4, 1, 0) if t < _day(20) else (0, 0, 1, 2)


def _healthy_form_audit(loc: str, t: float) -> Counts | None:
    """The second page: one serious violation, until its probe was removed on the 27th."""
    del loc
    return (0, 1, 0, 0) if t < _day(27) else None


# One audit between two 5-minute steps (a probe auditing more often than the step) found
# three critical violations; the next run's did not. The month's worst still has it.
HEALTHY_SPIKE = ("portal", "msk", _day(25, 12) + 150, (3, 0, 1, 2))
QUORUM_AUDIT_FROM = _day(15, 12)


def _quorum_audit(loc: str, t: float) -> Counts | None:
    """Audited from the 15th at noon. msk is served a page with one serious violation, then
    none from the 18th, then two from the 27th (a regression, still there at the month's end);
    spb's page has only a moderate one throughout: the worst page is per impact."""
    if t < QUORUM_AUDIT_FROM:
        return None
    if loc == "spb":
        return (0, 0, 1, 0)
    return (0, 1 if t < _day(18) else 0 if t < _day(27) else 2, 0, 0)

SERVICES = (
    Svc("healthy", "Запись к врачу", "RU-MOW", "ivanova", True, lambda loc, t: True,
        audits=(("portal", _healthy_audit), ("form", _healthy_form_audit)),
        audit_between=(HEALTHY_SPIKE,)),
    Svc("nightly", "Детский сад", "RU-KHA", "petrov", True,
        lambda loc, t: not _night_in_vladivostok(t)),
    Svc("longdown", "Пособие на ребёнка", "RU-MOW", "ivanova", True,
        lambda loc, t: not LONG_START <= t < LONG_END),
    Svc("slow", "Выписка из реестра", "RU-SPE", "petrov", False, lambda loc, t: True,
        duration=3.0),
    Svc("quorum", "Регистрация брака", "RU-SPE", "petrov", True,
        lambda loc, t: loc == "msk" or t >= WEEK1_END, locations=("msk", "spb"),
        audits=(("portal", _quorum_audit),)),
    Svc("blip", "Справка о доходах", "RU-MOW", "ivanova", True,
        lambda loc, t: not BLIP[0] <= t < BLIP[1], dense=True),
    # Down for an hour at msk while nsk's daemon is away: the rules' quorum is of the
    # locations measuring then (msk alone), so it is an outage; with nsk counted it is not.
    Svc("halfseen", "Справка об отсутствии судимости", "RU-KHA", "petrov", False,
        lambda loc, t: loc != "msk" or not HALFSEEN[0] <= t < HALFSEEN[1],
        locations=("msk", "nsk")),
    # Only probed from nsk: 4 days of 30 unmeasured, below the coverage threshold. Slow, so
    # judged it would break the standard and pull RU-SPE's share down: it is not judged.
    Svc("gappy", "Выдача охотничьего билета", "RU-SPE", "ivanova", True, lambda loc, t: True,
        duration=3.0, locations=("nsk",)),
    Svc("late", "Запись в кружок", "RU-MOW", "ivanova", False, lambda loc, t: True,
        since=ADDED),
    # Its daemon went away before the month began: the month's first two days are missed.
    Svc("early", "Справка об отсутствии долгов", "RU-KHA", "ivanova", False,
        lambda loc, t: True, locations=("ekb",)),
)

TARGET = 'instance="{0}:9247",job="dozor"'
# Runs every 5 minutes, an hour either side of the month so its edges have data.
RUN_TIMES = [START - 3600 + i * STEP for i in range(int((END - START + 7200) // STEP) + 1)]


def audit_samples(s: Svc) -> dict[tuple[str, str], list[tuple[float, Counts]]]:
    """Every sample of the service's audit gauge per (probe, location), in time order: each
    run's audit (its runs are portal's) and the scrapes between runs."""
    out = {}
    for probe, audit in s.audits:
        for loc in s.locations:
            samples = [(t, c) for t in s.runs_at(loc) if (c := audit(loc, t)) is not None]
            samples += [(t, c) for p, where, t, c in s.audit_between
                        if (p, where) == (probe, loc)]
            if samples:
                out[(probe, loc)] = sorted(samples)
    return out


def openmetrics() -> str:
    lines: list[str] = []
    families: dict[str, tuple[str, list[str]]] = {}

    def add(family: str, kind: str, line: str) -> None:
        families.setdefault(family, (kind, []))[1].append(line)

    for s in SERVICES:
        for loc in s.locations:
            # Every per-probe series carries its daemon's target labels, as a scrape adds them.
            probe = f'service="{s.id}",probe="portal",location="{loc}",{TARGET.format(loc)}'
            counts = {(r, h): 0 for r in ("success", "failure") for h in ("business", "offhours")}
            times = s.runs_at(loc)
            verdicts = [(t - s.duration, s.ok(loc, t)) for t in times]  # runs end at t
            gauges = outages(verdicts, s.duration, 1.0 if s.dense else STEP)
            for runs, (t, (_, ok), outage) in enumerate(
                    zip(times, verdicts, gauges, strict=True), start=1):
                add("dozor_probe_interval_seconds", "gauge",
                    f'dozor_probe_interval_seconds{{{probe}}} {STEP} '
                    f"{t:.0f}")
                hours = hours_label(dt.datetime.fromtimestamp(t, dt.UTC), s.timezone)
                counts[("success" if ok else "failure", hours)] += 1
                for (result, h), n in counts.items():
                    add("dozor_probes", "counter", f'dozor_probes_total{{{probe},result="{result}"'
                        f',hours="{h}"}} {n} {t:.0f}')
                add("dozor_probe_up", "gauge", f"dozor_probe_up{{{probe}}} {int(ok)} {t:.0f}")
                add("dozor_probe_success", "gauge",
                    f"dozor_probe_success{{{probe}}} {int(ok)} {t:.0f}")
                if outage.start:
                    for name, value in (("outage_start_timestamp_seconds", outage.start),
                                        ("last_outage_seconds", outage.seconds)):
                        add(f"dozor_probe_{name}", "gauge",
                            f"dozor_probe_{name}{{{probe}}} {value:.1f} {t:.0f}")
                hist = "dozor_probe_duration_seconds"
                for le in BUCKETS:
                    n = runs if le == "+Inf" or s.duration <= float(le) else 0
                    add(hist, "histogram", f'{hist}_bucket{{{probe},le="{le}"}} {n} {t:.0f}')
                add(hist, "histogram", f"{hist}_count{{{probe}}} {runs} {t:.0f}")
                add(hist, "histogram", f"{hist}_sum{{{probe}}} {runs * s.duration:g} {t:.0f}")
        for (name, loc), history in audit_samples(s).items():
            audited = f'service="{s.id}",probe="{name}",location="{loc}",{TARGET.format(loc)}'
            for t, found in history:
                for impact, n in zip(IMPACTS, found, strict=True):
                    add(VIOLATIONS, "gauge",
                        f'{VIOLATIONS}{{{audited},impact="{impact}"}} {n} {t:.0f}')
        for t in RUN_TIMES[::12]:  # catalog facts hourly
            add("dozor_service_info", "gauge",
                f'dozor_service_info{{service="{s.id}",name="{s.name}",level="regional",'
                f'region="{s.region}",department="Минцифры",curator="{s.curator}",'
                f'mszu="{str(s.mszu).lower()}"}} 1 {t:.0f}')
            for metric, value in DEFAULT_OBJECTIVES.items():
                add(metric, "gauge", f'{metric}{{service="{s.id}"}} {value:g} {t:.0f}')
    for loc in sorted({loc for s in SERVICES for loc in s.locations}):
        for t in RUN_TIMES:  # each daemon's build, as scraped (not while it is away)
            if not away(loc, t):
                add("dozor_build_info", "gauge", f'dozor_build_info{{{TARGET.format(loc)},'
                    f'version="1.0",python="3.11"}} 1 {t:.0f}')
    for t in RUN_TIMES[::12]:
        for code, (name, zone) in REGIONS.items():
            add("dozor_region_info", "gauge", f'dozor_region_info{{region="{code}",name="{name}",'
                f'timezone="{zone}"}} 1 {t:.0f}')
        for cid, name in CURATORS.items():
            add("dozor_curator_info", "gauge",
                f'dozor_curator_info{{curator="{cid}",name="{name}",deputy=""}} 1 {t:.0f}')
    for family, (kind, samples) in families.items():
        lines.append(f"# TYPE {family} {kind}")
        lines.extend(_grouped(samples) if kind != "histogram" else samples)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _grouped(samples: list[str]) -> list[str]:
    """Each series' samples together, in time order (stable sort on the series)."""
    return sorted(samples, key=lambda line: line.rsplit(" ", 2)[0])


# --- the truth, from the same verdicts ----------------------------------------------------

def truth(s: Svc, offhours_only: bool = False) -> float:
    """Availability over the runs the report counts (after START, up to END), location
    quorum per run (a strict majority: with two locations, both must fail)."""
    runs = fails = 0
    for t in s.run_times:
        if not START < t <= END:
            continue
        if offhours_only and hours_label(dt.datetime.fromtimestamp(t, dt.UTC),
                                         s.timezone) != "offhours":
            continue
        runs += 1
        fails += all(not s.ok(loc, t) for loc in s.locations)
    return 1 - fails / runs


STEPS = [START + STEP * i for i in range(1, int((END - START) // STEP) + 1)]


def measured(s: Svc, loc: str) -> int:
    """The period's runs at ``loc`` that its 5-minute increases see: each with an earlier
    sample of the counter at most 5 minutes before (a window needs two)."""
    times = s.runs_at(loc)
    return sum(1 for prev, t in itertools.pairwise(times)
               if START < t <= END and t - prev <= STEP)


def coverage_truth(s: Svc) -> float:
    """Per location, the runs seen over the steps due: every step of the period from the
    first one with a schedule, the daemon's absence included; then the location quorum."""
    figures = []
    for loc in s.locations:
        first = s.runs_at(loc)[0]
        due = sum(1 for k in STEPS if k >= first)
        figures.append(min(1.0, measured(s, loc) / due))
    return sorted(figures)[(len(figures) - 1) // 2]


# --- Prometheus with the backfilled month --------------------------------------------------

@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with backfilled_prometheus(tmp_path_factory.mktemp("report-prom"), openmetrics()) as url:
        yield url


def report_command(argv: list[str]) -> int:
    """``dozor report`` without the CLI's global logging setup (which would keep pytest's
    captured stderr after the test closed it); test_cli_wiring runs the real command."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return run_report(parser.parse_args(argv))


def report_files(prometheus: str, out: Path, *extra: str) -> dict[str, Path]:
    code = report_command(["--prometheus", prometheus, "--period", "2026-09", "-o", str(out),
                 *extra])
    assert code == 0
    stem = out / "dozor-report-2026-09"
    return {"html": stem.with_suffix(".html"), "services": stem.with_suffix(".csv"),
            "outages": out / "dozor-report-2026-09-outages.csv",
            "regions": out / "dozor-report-2026-09-regions.csv",
            "heatmap": out / "dozor-report-2026-09-heatmap.csv",
            "platforms": out / "dozor-report-2026-09-platforms.csv"}  # with platforms only


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def full(prometheus: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return report_files(prometheus, tmp_path_factory.mktemp("report-all"))


# --- per-service verdicts and figures ------------------------------------------------------

T, F = "true", "false"
# service: (availability, offhours_availability, max_outage, latency_p95, compliant)
VERDICTS = {
    "healthy": (T, T, T, T, T),
    "nightly": (F, F, F, T, F),
    "longdown": (F, T, F, T, F),
    "slow": (T, T, T, F, F),
    "quorum": (T, T, T, T, T),      # one location failing all week does not count
    "blip": (T, T, T, T, T),
    "gappy": (T, T, T, F, ""),      # not enough data: neither compliant nor not
    "late": (T, T, T, T, T),        # from when it was added
    "early": (T, T, T, T, T),       # two days missed of thirty: enough data
}


@pytest.mark.parametrize("service", sorted(VERDICTS))
def test_verdicts_and_figures(full: dict[str, Path], service: str) -> None:
    rows = {r["service"]: r for r in csv_rows(full["services"])}
    row = rows[service]
    s = next(x for x in SERVICES if x.id == service)
    got = (row["availability_met"], row["offhours_availability_met"], row["max_outage_met"],
           row["latency_p95_met"], row["compliant"])
    assert got == VERDICTS[service]
    assert float(row["availability"]) == pytest.approx(truth(s), abs=2e-4)
    assert float(row["offhours_availability"]) == pytest.approx(truth(s, True), abs=2e-4)
    # 30 days of 5-minute runs (blip's one 5-minute stretch has a run every second instead;
    # gappy's location was away four days; late was added on the 25th).
    runs = sorted(measured(s, loc) for loc in s.locations)[(len(s.locations) - 1) // 2]
    assert float(row["events"]) == pytest.approx(runs)
    assert runs == 8640 + (299 if s.dense else 0) or service in ("gappy", "late", "early")
    assert float(row["availability_objective"]) == 0.995
    assert float(row["max_outage_objective_seconds"]) == 3600
    assert float(row["latency_p95_objective_seconds"]) == 2
    # Interpolated in the bucket the runs fall in: (2, 5] for 3 s runs, (0, 0.5] otherwise.
    p95 = float(row["latency_p95_seconds"])
    assert (2 < p95 <= 5) if s.duration > 2 else (0 < p95 <= 0.5)


@pytest.mark.parametrize(("service", "hours"), [("longdown", 6), ("nightly", 3)])
def test_longest_outage_counts_from_the_last_success(full: dict[str, Path], service: str,
                                                     hours: int) -> None:
    """As the rules measure it: time since the last success, sampled each minute, so up to
    one run interval (5m) longer than the failing stretch."""
    row = next(r for r in csv_rows(full["services"]) if r["service"] == service)
    assert hours * 3600 <= float(row["longest_outage_seconds"]) <= hours * 3600 + 300


@pytest.mark.parametrize("service", [s.id for s in SERVICES])
def test_coverage(full: dict[str, Path], service: str) -> None:
    """The share of scheduled runs that happened, as the rules count it: gappy's daemon was
    away four days, still owing its runs (under 90 %: not enough data to judge it, though
    every run it made succeeded); early's was away since before the month (found from its
    last scrape then); a service added mid-month owes runs from then on."""
    row = next(r for r in csv_rows(full["services"]) if r["service"] == service)
    s = next(x for x in SERVICES if x.id == service)
    assert float(row["coverage"]) == pytest.approx(coverage_truth(s), abs=1e-4)
    low = service in ("gappy", "halfseen")  # halfseen: nsk's four days away, of two locations
    assert (float(row["coverage"]) < 0.9) is low
    assert row["coverage_sufficient"] == ("false" if low else "true")
    if low:
        assert row["compliant"] == ""
    if service == "gappy":
        assert float(row["availability"]) == 1


def test_csv_columns(full: dict[str, Path]) -> None:
    header = full["services"].read_text(encoding="utf-8").splitlines()[0].split(",")
    for key in ("service", "name", "region", "curator", "mszu", "availability",
                "availability_objective", "availability_met", "offhours_availability",
                "offhours_availability_met", "longest_outage_seconds",
                "max_outage_objective_seconds", "max_outage_met", "latency_p95_seconds",
                "latency_p95_objective_seconds", "latency_p95_met", "compliant",
                "availability_maintenance_counted", "availability_maintenance_excluded",
                "coverage", "coverage_sufficient"):
        assert key in header
    # Later columns (the platforms') are added after these, so readers by position still work.
    assert list(csv_rows(full["outages"])[0])[:5] == ["service", "start", "end",
                                                   "duration_seconds", "ongoing"]
    assert list(csv_rows(full["outages"])[0]) == list(OUTAGE_COLUMNS)
    assert list(csv_rows(full["regions"])[0]) == list(REGION_COLUMNS)
    assert tuple(header) == SERVICE_COLUMNS and OUTAGE_COLUMNS[0] == "service"


def test_outages(full: dict[str, Path]) -> None:
    rows = csv_rows(full["outages"])
    by: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by.setdefault(r["service"], []).append(r)
    # quorum's one bad location is no outage
    assert set(by) == {"longdown", "nightly", "blip", "halfseen"}
    # msk alone measured it then (nsk's daemon away): a strict majority of one.
    [half] = by["halfseen"]
    assert (half["start"], half["end"]) == ("2026-09-21T09:55:00+03:00",
                                            "2026-09-21T10:59:59+03:00")
    # As the rules count: from the end of the last success (the run ending at 11:55) to the
    # start of the run that succeeded again (0.3 s before it ended at 18:00).
    [long] = by["longdown"]
    assert long["start"] == "2026-09-10T11:55:00+03:00"
    assert long["end"] == "2026-09-10T17:59:59+03:00"
    assert float(long["duration_seconds"]) == pytest.approx(6 * 3600 + 300 - 0.3, abs=0.11)
    assert long["ongoing"] == "false"
    # 01:00-04:00 in Vladivostok (UTC+10) is 18:00-21:00 in Moscow, every night.
    assert len(by["nightly"]) == 30
    assert {(r["start"][11:], r["end"][11:], r["duration_seconds"]) for r in by["nightly"]} \
        == {("17:55:00+03:00", "20:59:59+03:00", "11099.7")}


def test_an_outage_shorter_than_the_step_is_listed_as_the_rules_measure_it(
        full: dict[str, Path], prometheus: str) -> None:
    """20 failed 1-second runs: one row, about 20 s (not cut to the one-minute step, not
    lost between steps), agreeing to a probe interval with the rules' own formula evaluated
    every second over the same history."""
    [row] = [r for r in csv_rows(full["outages"]) if r["service"] == "blip"]
    figure = next(r for r in csv_rows(full["services"]) if r["service"] == "blip")
    assert float(figure["longest_outage_seconds"]) == float(row["duration_seconds"])
    assert 20 <= float(row["duration_seconds"]) <= 21
    location = location_outage_seconds('service="blip"')
    recording = quorum(f"({location})", ("service",))
    query = f"max_over_time(({recording})[10m:1s])"
    with urllib.request.urlopen(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode(
            {"query": query, "time": f"{BLIP_AT + 60:.0f}"}), timeout=30) as r:
        [sample] = json.load(r)["data"]["result"]
    assert abs(float(sample["value"][1]) - float(row["duration_seconds"])) <= 1.0


# --- accessibility ----------------------------------------------------------------------------

def audit_truth(s: Svc) -> tuple[Counts, Counts, float]:
    """From the samples of the series: per impact the most any audit found in the month (runs'
    and in-between scrapes'); the worst page at the month's last 5-minute step with an audit;
    the share of the steps with an audit at which no page had a critical or serious violation.
    A step reads each series' latest sample no older than Prometheus' 5-minute lookback."""
    series = list(audit_samples(s).values())
    found = [c for samples in series for t, c in samples if START <= t <= END]

    def at(k: float) -> list[Counts]:
        out = []
        for samples in series:
            i = bisect.bisect_right(samples, k, key=lambda sample: sample[0]) - 1
            if i >= 0 and samples[i][0] >= k - STEP:
                out.append(samples[i][1])
        return out

    audited = [cs for k in STEPS if (cs := at(k))]

    def worst(counts: list[Counts]) -> Counts:
        a, b, c, d = (max(x[i] for x in counts) for i in range(4))
        return (a, b, c, d)

    free = sum(1 for cs in audited if all(c[0] == c[1] == 0 for c in cs))
    return worst(found), worst(audited[-1]), free / len(audited)


# service: (last, worst) violated rules per impact (critical, serious, moderate, minor)
AUDITS = {
    # critical 3: the spike between two steps; last serious 0: the form's page was not audited
    # after the 27th (its last findings are no longer the service's)
    "healthy": ((0, 0, 1, 2), (3, 4, 3, 2)),
    "quorum": ((0, 2, 1, 0), (0, 2, 1, 0)),    # serious from msk, moderate from spb
}


@pytest.mark.parametrize("service", [s.id for s in SERVICES])
def test_accessibility_in_csv(full: dict[str, Path], service: str) -> None:
    """Audited services: the last audit, the month's worst and the barrier-free share of the
    audited time (quorum: from when its audit began); the others: no figures at all."""
    row = next(r for r in csv_rows(full["services"]) if r["service"] == service)
    s = next(x for x in SERVICES if x.id == service)
    figures = [k for k in SERVICE_COLUMNS if k.startswith("accessibility_")]
    assert figures[0] == "accessibility_audited" and len(figures) == 10
    if not s.audits:
        assert service not in AUDITS
        assert [row[k] for k in figures] == ["false"] + [""] * 9  # never 0
        return
    worst, last, share = audit_truth(s)
    assert (last, worst) == AUDITS[service]
    assert row["accessibility_audited"] == "true"
    assert tuple(int(row[f"accessibility_{i}_last"]) for i in IMPACTS) == last
    assert tuple(int(row[f"accessibility_{i}_max"]) for i in IMPACTS) == worst
    assert float(row["accessibility_barrier_free_share"]) == pytest.approx(share, abs=1e-6)
    # healthy: none once the form's probe was gone (its last sample read a step more; the
    # spike is not at a step); quorum: 18th to 27th of its audited time since the 15th, noon.
    assert share == {"healthy": (4 * 288) / 8640,
                     "quorum": (9 * 288) / (15.5 * 288 + 1)}[service]


def _percent(share: float) -> str:
    return f"{share * 100:.1f}".replace(".", ",") + " %"


def test_accessibility_in_html(full: dict[str, Path]) -> None:
    """The column, last in the table (it is not a part of the standard): coloured by the last
    audit, with the month's worst and the barrier-free share; «не проверяется» where no
    audit ran; one summary line."""
    html = full["html"].read_text(encoding="utf-8")

    def row(service: str) -> str:
        name = next(s.name for s in SERVICES if s.id == service)
        rest = html[html.index(f"{name}</b>"):]
        return rest[:rest.index("</tr>")]

    assert ("<th>Стандарт 24/7</th><th>Доступность для людей с инвалидностью: число "
            "критических / серьёзных нарушений</th></tr>") in html
    for service, (mark, css) in {"healthy": ("✓", "ok"), "quorum": ("✗", "bad")}.items():
        last, worst = AUDITS[service]
        share = audit_truth(next(s for s in SERVICES if s.id == service))[2]
        assert row(service).endswith(
            f'<td class="num {css}">{mark} {last[0]} / {last[1]}<br>'
            f"<small>худшее за месяц: {worst[0]} / {worst[1]}</small><br>"
            f"<small>время без таких нарушений: {_percent(share)}</small></td>")
    for s in SERVICES:
        if not s.audits:
            assert row(s.id).endswith('<td class="na">не проверяется</td>')
    assert ("Доступность для людей с инвалидностью: проверяется услуг — <b>2</b>, из них без "
            "критических и серьёзных нарушений при последней проверке — <b>1</b>.") in html


def test_region_ranking(full: dict[str, Path]) -> None:
    rows = [(r["rank"], r["region"], r["mszu_ranked"], r["mszu_compliant"], r["share"])
            for r in csv_rows(full["regions"])]
    # slow (RU-SPE) is not МСЗУ: it breaks the standard but is not ranked; gappy (RU-SPE,
    # МСЗУ, slow too) has not enough data: not ranked either (else RU-SPE would be 1 of 2).
    assert rows == [("1", "RU-SPE", "1", "1", "1"), ("2", "RU-MOW", "3", "2", "0.666667"),
                    ("3", "RU-KHA", "1", "0", "0")]


def _heat(full: dict[str, Path]) -> dict[tuple[str, int], float]:
    """Cells with a figure ("" is no data)."""
    return {(r["service"], int(r["hour_of_week"])): float(r["availability"])
            for r in csv_rows(full["heatmap"]) if r["availability"]}


def test_heatmap(full: dict[str, Path]) -> None:
    heat = _heat(full)
    assert len([k for k in heat if k[0] == "nightly"]) == 168
    for day in range(7):
        # Cells are in Vladivostok time; each holds the hour's runs (a run at 04:00 closes
        # the 03:00 cell), so 01 and 02 are fully down and 00/03 partly.
        assert heat[("nightly", day * 24 + 1)] == heat[("nightly", day * 24 + 2)] == 0
        assert 0 < heat[("nightly", day * 24 + 3)] < 1
        assert heat[("nightly", day * 24 + 12)] == 1
    # 10 September 2026 is a Thursday: its noon-to-six cells dip, the week's others do not.
    thursday = 3 * 24
    assert all(heat[("longdown", thursday + h)] < 1 for h in range(12, 18))
    assert heat[("longdown", thursday + 10)] == heat[("longdown", 12)] == 1
    assert min(v for (sid, _), v in heat.items() if sid in ("healthy", "quorum", "slow")) == 1
    # Added on Friday the 25th: no Thursday in its month, so its Thursday cells have no data
    # (grey), never 0 (red); its other cells are full.
    late = {h: v for (sid, h), v in heat.items() if sid == "late"}
    assert set(late) == set(range(168)) - set(range(thursday, thursday + 24))
    assert set(late.values()) == {1.0}
    # gappy's four days away are in other weeks' cells: every cell has data, all good.
    for sid in ("gappy", "early"):
        assert len([k for k in heat if k[0] == sid]) == 168
        assert min(v for (s, _), v in heat.items() if s == sid) == 1


@pytest.mark.parametrize(("flag", "value", "services", "regions"), [
    ("--region", "RU-MOW", {"healthy", "longdown", "blip", "late"}, ["RU-MOW"]),
    ("--curator", "petrov", {"nightly", "slow", "quorum", "halfseen"}, ["RU-SPE", "RU-KHA"]),
])
def test_filters(prometheus: str, tmp_path: Path, flag: str, value: str, services: set[str],
                 regions: list[str]) -> None:
    files = report_files(prometheus, tmp_path, flag, value)
    assert {r["service"] for r in csv_rows(files["services"])} == services
    assert [r["region"] for r in csv_rows(files["regions"])] == regions
    assert {r["service"] for r in csv_rows(files["outages"])} <= services


@pytest.mark.parametrize(("args", "message"), [
    (["--prometheus", "http://127.0.0.1:{closed}", "--period", "2026-09"], "is unreachable"),
    (["--prometheus", "{prom}", "--period", "2026-13"], "expected a month as YYYY-MM"),
    (["--prometheus", "{prom}", "--period", "2031-01"], "has not started yet"),
    (["--prometheus", "{prom}", "--period", "2026-09", "--region", "RU-XXX"],
     "no service matches регион RU-XXX"),
    (["--prometheus", "{prom}", "--period", "2020-01"], "no dozor_service_info"),
    (["--prometheus", "{prom}/not-prometheus", "--period", "2026-09"], "non-JSON body"),
])
def test_errors(prometheus: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                args: list[str], message: str) -> None:
    argv = [a.format(prom=prometheus, closed=free_port()) for a in args]
    assert report_command([*argv, "-o", str(tmp_path)]) == 1
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_cli_wiring(prometheus: str, tmp_path: Path) -> None:
    done = dozor("report", "--prometheus", prometheus, "--period", "2026-09", "--region",
                 "RU-KHA", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""    # no progress line when stderr is not a terminal
    assert done.stdout.split() == [str(tmp_path / f"dozor-report-2026-09{suffix}") for suffix in
                                   (".html", ".csv", "-outages.csv", "-regions.csv",
                                    "-heatmap.csv")]


def test_progress_only_on_a_terminal() -> None:
    import io
    import os

    from monitor.report import Progress

    quiet = io.StringIO()
    p = Progress(quiet)
    p.total = 3
    p.query_done()
    p.services_done(3)
    p.finish()
    assert quiet.getvalue() == ""
    master, replica = os.openpty()
    try:
        with os.fdopen(replica, "w", closefd=True) as tty:
            p = Progress(tty)
            p.total = 3
            p.services_done(3)
            p.finish()
        assert b"3/3 services" in os.read(master, 1000)
    finally:
        os.close(master)


# --- the HTML, rendered by headless Chromium ------------------------------------------------

def test_html_renders_offline_in_chromium(full: dict[str, Path], tmp_path: Path) -> None:
    html = full["html"].read_text(encoding="utf-8")
    for text in ("Отчёт о соблюдении стандарта", "Рейтинг регионов", "Перерывы в работе",
                 "Доступность по часам недели", "Пособие на ребёнка", "10.09.2026 11:55"):
        assert text in html
    # Self-contained: no scripts, no external stylesheets, images or fonts.
    assert "<script" not in html and "<link" not in html and "src=" not in html
    # Coverage: a column, gappy's verdict, and its four days in the timeline grey (no data),
    # in no red: from the step after its daemon's last scrape to the last step before it
    # was back (each 5-minute step is the five minutes before it).
    assert "<th>Покрытие</th>" in html
    gappy = html[html.index("Выдача охотничьего билета</b>"):]
    assert gappy[:gappy.index("</tr>")].endswith('<td class="low">недостаточно данных</td>'
                                                 '<td class="na">не проверяется</td>')
    assert (f'fill="{NO_DATA}"><title>нет данных: 20.09.2026 00:00 — 23.09.2026 23:55 '
            "(3 д 23 ч 55 мин)</title>") in html
    assert (f'fill="{NO_DATA}"><title>нет данных: 01.09.2026 00:00 — 02.09.2026 23:55 '
            "(1 д 23 ч 55 мин)</title>") in html
    assert html.count(f'fill="{NO_DATA}"') == 2
    assert html.count("<svg") == 1 + 1 + 1 + 1 + len(SERVICES)  # legend, ranking, timeline,
    png = tmp_path / "report.png"                                 # total + one per service
    subprocess.run([require("chromium"), "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
                    "--window-size=1400,3000", full["html"].as_uri()],
                   check=True, capture_output=True, timeout=60, cwd=tmp_path)
    width, height, rows = png_rows(png, limit=1000)  # the services table and the ranking
    assert (width, height) == (1400, 3000)
    pixels = [bytes(row[i:i + 3]) for row in rows for i in range(0, len(row), 3)]
    non_white = sum(p != b"\xff\xff\xff" for p in pixels)
    assert non_white / len(pixels) > 0.05
    assert len(set(pixels)) > 50
    # The table's verdict backgrounds (not enough data: grey) and the ranking's full green
    # bar are really drawn.
    assert bytes.fromhex("e3f4e1") in set(pixels) and bytes.fromhex("fbe0dc") in set(pixels)
    assert bytes.fromhex("e6e6e6") in set(pixels)
    assert bytes.fromhex("1a9850") in set(pixels)
