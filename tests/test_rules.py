"""`dozor rules`: the generated file passes the real `promtool check rules`, and `promtool test
rules` scenarios (synthetic probe series built below) show each alert firing and not firing."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.catalog_factory import catalog_dict, write_catalog
from harness.history import outages
from harness.tools import require
from monitor.catalog import Catalog, load_catalog
from monitor.cli import main
from monitor.rules import RulesOptions, render_rules

FIXTURES = Path(__file__).parent / "rules_fixtures"
DASH = "http://grafana.test/d/dozor-service?var-service="
MIN = 60
DAY_MIN = 1440


def _catalog(tmp_path: Path, services: int = 2, reverse: bool = False) -> Catalog:
    data = catalog_dict([f"http://127.0.0.1:9/{i}" for i in range(services)])
    if reverse:
        data["services"].reverse()
    return load_catalog(write_catalog(tmp_path / f"catalog-{reverse}.yaml", data))


# --- synthetic series ------------------------------------------------------------------

def notation(values: Sequence[float | None]) -> str:
    """promtool's expanding notation for one value per minute: runs of a constant step
    become ``a+bxN`` (N+1 values); None is a minute without a sample (the first one after a
    sample is ``stale``, as Prometheus marks a target it could not scrape)."""
    parts: list[str] = []
    i, n = 0, len(values)
    while i < n:
        if values[i] is None:
            j = i
            while j < n and values[j] is None:
                j += 1
            blanks = j - i
            if i > 0:
                parts.append("stale")
                blanks -= 1
            if blanks:
                parts.append(f"_x{blanks}")
            i = j
            continue
        j = i
        while j < n and values[j] is not None:
            j += 1
        parts += _steps([v for v in values[i:j] if v is not None])
        i = j
    return " ".join(parts)


def _steps(values: Sequence[float]) -> list[str]:
    parts, i, n = [], 0, len(values)
    while i < n:
        if i == n - 1:
            parts.append(f"{values[i]:g}")
            break
        step, j = values[i + 1] - values[i], i + 1
        while j + 1 < n and values[j + 1] - values[j] == step:
            j += 1
        sign = "+" if step >= 0 else "-"
        parts.append(f"{values[i]:g}{sign}{abs(step):g}x{j - i}")
        i = j + 1
    return parts


def _cumulative(flags: Sequence[bool]) -> list[float]:
    out, total = [], 0.0
    for flag in flags:
        total += flag
        out.append(total)
    return out


AVAILABILITY = "dozor_service_availability_objective"
OFFHOURS = "dozor_service_offhours_availability_objective"
COUNTS = "dozor_service_maintenance_counts"
STANDARD = {AVAILABILITY: 0.995, OFFHOURS: 0.995, "dozor_service_max_outage_objective_seconds":
            3600.0, "dozor_service_latency_p95_objective_seconds": 2.0, COUNTS: 1.0}


def offhours(minute: int) -> bool:
    """Nights 22:00–06:00 of the test clock (epoch 0), the only off-hours the tests use."""
    m = minute % DAY_MIN
    return m < 6 * 60 or m >= 22 * 60


Away = Callable[[str, int], bool]   # (daemon host, minute): not scraped (down, unreachable)


def never_away(host: str, minute: int) -> bool:
    return False


@dataclass
class Svc:
    """One service probed from some locations; ``ok(location, minute)`` decides each run."""

    id: str
    minutes: int
    ok: Callable[[str, int], bool] = lambda loc, m: True
    locations: tuple[str, ...] = ("msk", "nsk", "khv")
    every: int = 1                        # a run every N minutes
    runs: Callable[[int], bool] = lambda m: True   # False: the probe did not run (stalled)
    curator: str = "ivanova"
    region: str = "RU-SMO"
    level: str = "municipal"
    mszu: bool = True
    life_situations: tuple[str, ...] = ()
    objectives: dict[str, float] = field(default_factory=dict)
    maintenance: Callable[[int], bool] = lambda m: False
    duration: float = 0.2                 # seconds every run takes
    cert_expiry: float | None = None
    probes: tuple[str, ...] = ("portal",)
    # Probe -> the minute a reload removed it (its daemon stays up; its series vanish).
    removed: dict[str, int] = field(default_factory=dict)
    shard: str = ""                       # the daemon is host f"{location}{shard}"
    # A shared platform: its probes' series are a service's, its facts dozor_platform_info.
    platform: bool = False
    depends_on: dict[str, tuple[str, ...]] = field(default_factory=dict)  # probe -> platforms
    probe_ok: dict[str, Callable[[str, int], bool]] = field(default_factory=dict)  # per probe

    def host(self, loc: str) -> str:
        return f"{loc}{self.shard}"

    def series(self, away: Away = never_away) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        n = self.minutes + 1
        objectives = {**STANDARD, **self.objectives}

        def add(metric: str, labels: str, values: Sequence[float | None]) -> None:
            out.append({"series": f"{metric}{{{labels}}}", "values": notation(values)})

        for loc in self.locations:
            host = self.host(loc)
            target = f'instance="{host}:9247",job="dozor"'
            exported = {p: [not away(host, m) and m < self.removed.get(p, n) for m in range(n)]
                        for p in self.probes}
            for name in self.probes:
                self._probe(add, f'service="{self.id}",probe="{name}",location="{loc}",{target}',
                            loc, exported[name], self.probe_ok.get(name, self.ok))
            # Catalog facts while the daemon exports any of the service's probes.
            facts = [any(e[m] for e in exported.values()) for m in range(n)]
            const: list[tuple[str, str, float]] = [
                ("dozor_service_info",
                 f'service="{self.id}",name="Услуга {self.id}",level="{self.level}",'
                 f'region="{self.region}",department="Департамент",curator="{self.curator}",'
                 f'mszu="{str(self.mszu).lower()}"', 1.0),
                *((metric, f'service="{self.id}"', v) for metric, v in objectives.items()),
                *(("dozor_life_situation_member",
                   f'life_situation="{ls}",service="{self.id}"', 1.0)
                  for ls in self.life_situations),
            ]
            if self.cert_expiry is not None:
                const.append(("dozor_tls_cert_expiry_timestamp_seconds",
                              f'service="{self.id}",probe="portal"', self.cert_expiry))
            if self.platform:
                const = [("dozor_platform_info", f'platform="{self.id}",name="Платформа '
                          f'{self.id}",curator="{self.curator}",region="{self.region}"', 1.0)]
            const += [("dozor_probe_depends_on",
                       f'service="{self.id}",probe="{probe}",platform="{platform}"', 1.0)
                      for probe, platforms in self.depends_on.items() for platform in platforms]
            for metric, labels, value in const:
                add(metric, f"{labels},{target}", [value if facts[m] else None for m in range(n)])
            if not self.platform:
                add("dozor_maintenance_active", f'service="{self.id}",{target}',
                    [(1.0 if self.maintenance(m) else 0.0) if facts[m] else None
                     for m in range(n)])
        return out

    def _probe(self, add: Callable[[str, str, Sequence[float | None]], None], probe: str,
               loc: str, exported: list[bool], runs_ok: Callable[[str, int], bool]) -> None:
        n = self.minutes + 1
        ran = [exported[m] and m % self.every == 0 and self.runs(m) for m in range(n)]
        ok = [runs_ok(loc, m) for m in range(n)]

        def shown(values: Sequence[float]) -> list[float | None]:
            return [v if exported[m] else None for m, v in enumerate(values)]

        for result in ("success", "failure"):
            for hours in ("business", "offhours"):
                flags = [ran[m] and ok[m] == (result == "success")
                         and offhours(m) == (hours == "offhours") for m in range(n)]
                add("dozor_probes_total", f'{probe},result="{result}",hours="{hours}"',
                    shown(_cumulative(flags)))
        # Stalled minutes repeat the last run's values, as a scrape of a stalled daemon
        # would; the outage gauges come from the daemon's own logic. Runs end on their
        # minute, so outages last whole minutes.
        done = outages(((m * MIN - self.duration, ok[m]) for m in range(n) if ran[m]),
                       self.duration, self.every * MIN)
        verdict = [ok[m] for m in range(n) if ran[m]]
        starts, lengths, verdicts, i = [], [], [], -1
        for m in range(n):
            i += ran[m]
            starts.append(done[i].start if i >= 0 else 0.0)
            lengths.append(done[i].seconds if i >= 0 else 0.0)
            verdicts.append(1.0 if i < 0 or verdict[i] else 0.0)
        add("dozor_probe_outage_start_timestamp_seconds", probe, shown(starts))
        add("dozor_probe_last_outage_seconds", probe, shown(lengths))
        add("dozor_probe_success", probe, shown(verdicts))
        add("dozor_probe_interval_seconds", probe, shown([self.every * 60.0] * n))
        state, states = 1.0, []
        for m in range(n):
            if ran[m]:
                state = 1.0 if ok[m] else 0.0
            states.append(state)
        add("dozor_probe_up", probe, shown(states))
        for le in ("0.5", "1", "2", "2.5", "5", "+Inf"):
            fits = le == "+Inf" or self.duration <= float(le)
            add("dozor_probe_duration_seconds_bucket", f'{probe},le="{le}"',
                shown(_cumulative([ran[m] and fits for m in range(n)])))


def _run_promtool(tmp_path: Path, rules: str, tests: dict[str, Any]) -> None:
    (tmp_path / "dozor.yml").write_text(rules, encoding="utf-8")
    test_file = tmp_path / "test.yml"
    # Rule groups run in file order (each reads what the ones before it recorded), as on a
    # Prometheus whose groups are in step; promtool would otherwise pick an order at random.
    order = [g["name"] for g in yaml.safe_load(rules)["groups"]]
    test_file.write_text(yaml.safe_dump({"rule_files": ["dozor.yml"], "group_eval_order": order,
                                         **tests},
                                        allow_unicode=True, sort_keys=False), encoding="utf-8")
    done = subprocess.run([require("promtool"), "test", "rules", str(test_file)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> str:
    catalog = _catalog(tmp_path_factory.mktemp("catalog"))
    return render_rules(catalog, RulesOptions(grafana_url="http://grafana.test/"))


def _labels(svc: Svc, severity: str, **extra: str) -> dict[str, str]:
    return {"service": svc.id, "curator": svc.curator, "region": svc.region,
            "level": svc.level, "severity": severity, **extra}


def _scenario(services: Sequence[Svc], interval: str, alerts: list[dict[str, Any]],
              exprs: Sequence[dict[str, Any]] = (), away: Away = never_away) -> dict[str, Any]:
    series = [s for svc in services for s in svc.series(away)]
    minutes = range(services[0].minutes + 1)
    # Each daemon's own series: scraped (up 1, its build info) unless it is away.
    for host in sorted({svc.host(loc) for svc in services for loc in svc.locations}):
        target = f'instance="{host}:9247",job="dozor"'
        series += [
            {"series": f"up{{{target}}}",
             "values": notation([0.0 if away(host, m) else 1.0 for m in minutes])},
            {"series": f'dozor_build_info{{{target},version="1.0",python="3.11"}}',
             "values": notation([None if away(host, m) else 1.0 for m in minutes])},
        ]
    return {"evaluation_interval": interval,
            "tests": [{"interval": "1m", "input_series": series,
                       "alert_rule_test": alerts, "promql_expr_test": list(exprs)}]}


def quiet(at: str, *names: str) -> list[dict[str, Any]]:
    return [{"eval_time": at, "alertname": name, "exp_alerts": []} for name in names]


BURNS = ("DozorAvailabilityBurnFast", "DozorAvailabilityBurnSlow")
SERVICE_ALERTS = (*BURNS, "DozorOutageTooLong", "DozorOffhoursAvailabilityLow",
                  "DozorLatencyHigh", "DozorProbesStalled", "DozorCertificateExpiringSoon",
                  "DozorCertificateExpiryImminent")


def test_sustained_outage_pages_with_labels_and_annotations(tmp_path: Path, rules: str) -> None:
    """Three healthy hours, then a majority of locations down: the fast burn and the max-outage
    alerts page with curator/region/level; a single location down never does (quorum)."""
    start = 180
    down = Svc("outage-svc", start + 120, curator="petrov", region="RU-KHA", level="regional",
               ok=lambda loc, m: m < start or loc == "khv")
    lone = Svc("lone-svc", start + 120, ok=lambda loc, m: m < start or loc != "khv")
    at = "4h30m"
    alerts = [
        *quiet("2h55m", *SERVICE_ALERTS),
        {"eval_time": at, "alertname": "DozorAvailabilityBurnFast", "exp_alerts": [{
            "exp_labels": _labels(down, "page"),
            "exp_annotations": {
                "summary_en": "outage-svc: availability 0%, error budget burning at "
                              "×14.4 (1h and 5m) or ×6 (6h and 30m)",
                "summary_ru": "outage-svc: доступность 0%, бюджет ошибок расходуется быстрее "
                              "×14,4 (1h и 5m) или ×6 (6h и 30m)",
                "objective": "99.5%", "current": "0%", "dashboard": DASH + "outage-svc"}}]},
        {"eval_time": at, "alertname": "DozorOutageTooLong", "exp_alerts": [{
            "exp_labels": _labels(down, "page"),
            "exp_annotations": {
                "summary_en": "outage-svc: down for 1h 31m 0s, longer than the standard allows",
                "summary_ru": "outage-svc: недоступна уже 1h 31m 0s, дольше допустимого",
                "objective": "1h 0m 0s", "current": "1h 31m 0s",
                "dashboard": DASH + "outage-svc"}}]},
    ]
    _run_promtool(tmp_path, rules, _scenario([down, lone], "5m", alerts))


def _expr(at: str, expr: str, *samples: tuple[str, float]) -> dict[str, Any]:
    return {"eval_time": at, "expr": expr,
            "exp_samples": [{"labels": labels, "value": value} for labels, value in samples]}


def test_healthy_days_raise_nothing(tmp_path: Path, rules: str) -> None:
    svc = Svc("healthy", 3 * DAY_MIN)
    alerts = [a for at in ("6h", "1d", "2d", "3d") for a in quiet(at, *SERVICE_ALERTS)]
    exprs = [
        _expr("3d", 'dozor:service_availability:window{service="healthy"}',
              ('dozor:service_availability:window{service="healthy"}', 1)),
        _expr("3d", 'dozor:service_compliant:window', ('dozor:service_compliant:window'
                                                       '{service="healthy"}', 1)),
    ]
    # Half-hour steps: nothing changes in healthy series, three days stay cheap.
    _run_promtool(tmp_path, rules, _scenario([svc], "30m", alerts, exprs))


@pytest.mark.parametrize("every", [1, 5], ids=["run-every-minute", "run-every-5m"])
def test_single_blip_does_not_page(tmp_path: Path, rules: str, every: int) -> None:
    """One failed run at every location pages nobody. With a 5-minute probe both page ratios
    (1h: 1/12, 5m: 1/1) exceed 14.4x the budget; only the minimum-failures guard holds."""
    blip = 120
    svc = Svc("blip", 240, every=every, ok=lambda loc, m: m != blip)
    alerts = [a for at in ("2h", "2h5m", "2h10m", "2h30m", "3h")
              for a in quiet(at, "DozorAvailabilityBurnFast", "DozorOutageTooLong")]
    exprs = [_expr("2h", 'dozor:service_probe_failures:increase5m{maintenance="counted",'
                           'hours="all"}',
                   ('dozor:service_probe_failures:increase5m'
                    '{service="blip",maintenance="counted",hours="all"}', 1))]
    _run_promtool(tmp_path, rules, _scenario([svc], "5m", alerts, exprs))


def test_slow_burn_tickets_without_paging(tmp_path: Path, rules: str) -> None:
    """One run in 48 fails (≈2.1%, 4x the 0.5% budget): a ticket, never a page. (The 1d
    window over four hours of history averages partly filled 1h windows: 98.38%.)"""
    svc = Svc("slow-burn", 300, ok=lambda loc, m: m % 48 != 47)
    alerts = [
        *quiet("4h", "DozorAvailabilityBurnFast", "DozorOutageTooLong"),
        *quiet("2h", "DozorAvailabilityBurnFast"),
        {"eval_time": "4h", "alertname": "DozorAvailabilityBurnSlow", "exp_alerts": [{
            "exp_labels": _labels(svc, "ticket"),
            "exp_annotations": {
                "summary_en": "slow-burn: availability 98.38%, error budget burning at "
                              "×3 (1d and 2h) or ×1 (3d and 6h)",
                "summary_ru": "slow-burn: доступность 98.38%, бюджет ошибок расходуется быстрее "
                              "×3 (1d и 2h) или ×1 (3d и 6h)",
                "objective": "99.5%", "current": "98.38%", "dashboard": DASH + "slow-burn"}}]},
    ]
    _run_promtool(tmp_path, rules, _scenario([svc], "5m", alerts))


def test_night_outage_breaks_offhours_objective_only(tmp_path: Path, rules: str) -> None:
    """A day of health, then 02:00–02:45 down at night: the off-hours objective (99.5%) is
    broken while the overall one (95% here) holds, so only the off-hours ticket fires. The 30d
    figure averages 1d windows, so the latest day weighs in linearly: 99.25%, not 94.6%.

    Every failure was off-hours, so the off-hours failure count equals the all-hours one: the
    off-hours 5m failures are 0, not absent, in business hours, where their events are 0 too
    (averaging only the off-hours steps had inflated it 2.6-fold, and the first hour's burn
    alerts read an availability below zero)."""
    night = DAY_MIN + 120
    svc = Svc("night", DAY_MIN + 480, objectives={AVAILABILITY: 0.95},
              ok=lambda loc, m: not night <= m < night + 45)
    at = "1d7h"
    alerts = [
        *quiet(at, *BURNS, "DozorOutageTooLong"),
        *quiet("1d2h35m", *BURNS, "DozorOutageTooLong"),
        *quiet("1d1h", "DozorOffhoursAvailabilityLow"),
        {"eval_time": at, "alertname": "DozorOffhoursAvailabilityLow", "exp_alerts": [{
            "exp_labels": _labels(svc, "ticket"),
            "exp_annotations": {
                "summary_en": "night: off-hours availability over 30d is 99.25%, "
                              "below the standard",
                "summary_ru": "night: доступность ночью, в выходные и праздники за 30d — "
                              "99.25%, ниже стандарта",
                "objective": "99.5%", "current": "99.25%", "dashboard": DASH + "night"}}]},
    ]
    failures = 'dozor:service_probe_failures:increase30d{service="night",maintenance="counted"'
    exprs = [_expr(at, f'{failures},hours="offhours"}} / ignoring (hours) {failures},hours="all"}}',
                   ('{service="night",maintenance="counted"}', 1)),
             _expr(at, 'dozor:service_compliance:window{service="night"}',
                   ('dozor:service_compliance:window{service="night",part="availability"}', 1),
                   ('dozor:service_compliance:window{service="night",part="latency_p95"}', 1),
                   ('dozor:service_compliance:window{service="night",part="max_outage"}', 1),
                   ('dozor:service_compliance:window{service="night",'
                    'part="offhours_availability"}', 0))]
    _run_promtool(tmp_path, rules, _scenario([svc], "5m", alerts, exprs))


def test_maintenance_suppresses_only_when_it_does_not_count(tmp_path: Path, rules: str) -> None:
    """The same 2h outage inside an announced maintenance window: silent for a service whose
    maintenance does not count, a page for one whose does; availability recorded both ways."""
    def down(loc: str, m: int) -> bool:
        return not 180 <= m < 300

    def active(m: int) -> bool:
        return 175 <= m < 305

    excluded = Svc("mnt-excluded", 330, ok=down, maintenance=active, objectives={COUNTS: 0})
    counted = Svc("mnt-counted", 330, ok=down, maintenance=active)
    alerts = [
        {"eval_time": "4h30m", "alertname": "DozorOutageTooLong", "exp_alerts": [{
            "exp_labels": _labels(counted, "page"),
            "exp_annotations": {
                "summary_en": "mnt-counted: down for 1h 31m 0s, longer than the standard "
                              "allows",
                "summary_ru": "mnt-counted: недоступна уже 1h 31m 0s, дольше допустимого",
                "objective": "1h 0m 0s", "current": "1h 31m 0s",
                "dashboard": DASH + "mnt-counted"}}]},
        {"eval_time": "4h30m", "alertname": "DozorAvailabilityBurnFast", "exp_alerts": [{
            "exp_labels": _labels(counted, "page"),
            "exp_annotations": {
                "summary_en": "mnt-counted: availability 0%, error budget burning at "
                              "×14.4 (1h and 5m) or ×6 (6h and 30m)",
                "summary_ru": "mnt-counted: доступность 0%, бюджет ошибок расходуется "
                              "быстрее ×14,4 (1h и 5m) или ×6 (6h и 30m)",
                "objective": "99.5%", "current": "0%", "dashboard": DASH + "mnt-counted"}}]},
    ]
    name = "dozor:service_availability_by_maintenance:window"
    exprs = [
        _expr("5h30m", f'{name}{{service="mnt-excluded",maintenance="excluded"}}',
              (f'{name}{{service="mnt-excluded",maintenance="excluded"}}', 1)),
        _expr("5h30m", f'{name}{{maintenance="counted"}} < bool 0.95',
              ('{service="mnt-counted",maintenance="counted"}', 1),
              ('{service="mnt-excluded",maintenance="counted"}', 1)),
        _expr("5h30m", "dozor:service_availability:window < bool 0.95",
              ('{service="mnt-counted"}', 1), ('{service="mnt-excluded"}', 0)),
    ]
    _run_promtool(tmp_path, rules, _scenario([excluded, counted], "5m", alerts, exprs))


def test_stalled_probes_and_silent_service(tmp_path: Path, rules: str) -> None:
    """Runs stop at 2h: stalled after the 10m stall window, not before. A service whose probe
    never ran has no ratio at all (0/0 gives no sample, never NaN) and raises no burn alert."""
    stalled = Svc("stalled", 140, runs=lambda m: m <= 120)
    silent = Svc("silent", 140, runs=lambda m: False, locations=("msk",))

    def stall(svc: Svc, loc: str) -> dict[str, Any]:
        return {"exp_labels": _labels(svc, "ticket", probe="portal", location=loc),
                "exp_annotations": {
                    "summary_en": f"{svc.id}: probe portal at {loc} has not run for 10m",
                    "summary_ru": f"{svc.id}: проба portal в {loc} не запускалась 10m",
                    "objective": "a run at least every 10m", "current": "no run in 10m",
                    "dashboard": DASH + svc.id}}

    alerts = [
        {"eval_time": "2h5m", "alertname": "DozorProbesStalled",
         "exp_alerts": [stall(silent, "msk")]},
        {"eval_time": "2h15m", "alertname": "DozorProbesStalled",
         "exp_alerts": [stall(silent, "msk"), *(stall(stalled, loc)
                                                for loc in stalled.locations)]},
        *quiet("2h15m", *BURNS, "DozorOutageTooLong"),
    ]
    exprs = [_expr("2h15m", f'{{__name__=~"{name}",service="silent"}}')
             for name in ("dozor:service_sli_error_ratio:.+", "dozor:service_probe_error_ratio:.+",
                          "dozor:service_availability:.+", "dozor:service_availability_by.+",
                          "dozor:service_compliant.+")]
    _run_promtool(tmp_path, rules, _scenario([stalled, silent], "5m", alerts, exprs))


def test_a_stalled_daemon_still_scraped_makes_no_outage_of_what_it_did_not_measure(
        tmp_path: Path, rules: str) -> None:
    """Failing from minute 10; the daemon stops running the probe after minute 15 but is
    still scraped (its last values repeat). The outage it measured is 6 minutes (from the end
    of the last success at 9); the recording stops at that plus 1.5 intervals, so a 10-minute
    max_outage is never reached by the 35 minutes nobody measured."""
    svc = Svc("frozen", 50, ok=lambda loc, m: m < 10, runs=lambda m: m <= 15,
              objectives={"dozor_service_max_outage_objective_seconds": 600.0})
    alerts = quiet("50m", "DozorOutageTooLong")
    exprs = [_expr("50m", 'dozor:service_outage_seconds{service="frozen"}',
                   ('dozor:service_outage_seconds{service="frozen"}', 360 + 1.5 * 60))]
    _run_promtool(tmp_path, rules, _scenario([svc], "1m", alerts, exprs))


def test_certificate_expiry_ticket_then_page(tmp_path: Path, rules: str) -> None:
    soon = Svc("cert-20d", 20, cert_expiry=20 * 86400 + 600, locations=("msk",))
    imminent = Svc("cert-6d", 20, cert_expiry=6 * 86400 + 600, locations=("msk",))

    def cert(svc: Svc, severity: str, left: str, objective: str) -> dict[str, Any]:
        return {"exp_labels": _labels(svc, severity, probe="portal"), "exp_annotations": {
            "summary_en": f"{svc.id}: certificate of probe portal expires in {left}",
            "summary_ru": f"{svc.id}: сертификат пробы portal истекает через {left}",
            "objective": objective, "current": left, "dashboard": DASH + svc.id}}

    alerts = [
        {"eval_time": "10m", "alertname": "DozorCertificateExpiringSoon", "exp_alerts": [
            cert(soon, "ticket", "20d 0h 0m 0s", "more than 21d left / больше 21 дня")]},
        {"eval_time": "10m", "alertname": "DozorCertificateExpiryImminent", "exp_alerts": [
            cert(imminent, "page", "6d 0h 0m 0s", "more than 7d left / больше 7 дней")]},
    ]
    _run_promtool(tmp_path, rules, _scenario([soon, imminent], "1m", alerts))


def test_latency_above_objective(tmp_path: Path, rules: str) -> None:
    slow = Svc("slow", 120, duration=3.0)
    fast = Svc("fast", 120, duration=0.3)
    alerts = [
        *quiet("10m", "DozorLatencyHigh"),
        {"eval_time": "1h30m", "alertname": "DozorLatencyHigh", "exp_alerts": [{
            "exp_labels": _labels(slow, "ticket"), "exp_annotations": {
                "summary_en": "slow: p95 probe duration over 1h is 4.875s, above the standard",
                "summary_ru": "slow: 95-й перцентиль времени ответа за 1h — 4.875s, "
                              "выше стандарта",
                "objective": "2s", "current": "4.875s", "dashboard": DASH + "slow"}}]},
    ]
    _run_promtool(tmp_path, rules, _scenario([slow, fast], "5m", alerts))


def test_life_situations_and_region_share(tmp_path: Path, rules: str) -> None:
    """A bundle is up only when every member is; a region's share counts its МСЗУ services
    that meet the standard (a failing non-МСЗУ service does not count)."""
    def broken(loc: str, m: int) -> bool:
        return False

    services = [
        Svc("a", 60, life_situations=("birth", "moving")),
        Svc("b", 60, ok=broken, life_situations=("birth",)),
        Svc("c", 60, ok=broken, mszu=False),
        Svc("d", 60, region="RU-KHA"),
    ]
    at = "1h"
    exprs = [
        _expr(at, "dozor:life_situation_up", ('dozor:life_situation_up{life_situation="birth"}', 0),
              ('dozor:life_situation_up{life_situation="moving"}', 1)),
        _expr(at, "dozor:life_situation_availability:window",
              ('dozor:life_situation_availability:window{life_situation="birth"}', 0),
              ('dozor:life_situation_availability:window{life_situation="moving"}', 1)),
        _expr(at, "dozor:region_compliance_share:window",
              ('dozor:region_compliance_share:window{region="RU-SMO"}', 0.5),
              ('dozor:region_compliance_share:window{region="RU-KHA"}', 1)),
        _expr(at, "round(dozor:national_compliance_share:window, 0.001)", ("{}", 0.667)),
    ]
    _run_promtool(tmp_path, rules, _scenario(services, "5m", [], exprs))


# --- coverage: the share of scheduled runs that happened ---------------------------------------

def _between(at: str, expr: str, low: float, high: float, *labels: str) -> dict[str, Any]:
    """Every series of ``expr`` lies in [low, high]; ``labels`` are the series expected
    (below ``low`` a series is filtered out, above ``high`` it is 0)."""
    return _expr(at, f"(({expr}) >= {low:g}) <= bool {high:g}", *((lb, 1) for lb in labels))


def test_coverage_full_and_skipped_runs(tmp_path: Path, rules: str) -> None:
    """Every run done is coverage 1, whether a probe runs every minute or every 5 minutes
    (where each 5m increase alone is 0 or 1 and only the window's counts are exact); a probe
    whose every fourth run is skipped covers 75 %, below the threshold: its verdict is "not
    enough data", neither compliant nor not, though its availability is 100 %."""
    full = Svc("full", 180)
    slow = Svc("every-5m", 180, every=5)
    skipping = Svc("skipping", 180, runs=lambda m: m % 4 != 3)
    at = "3h"
    exprs = [
        _expr(at, 'dozor:location_coverage:1h{service=~"full|every-5m"}',
              *((f'dozor:location_coverage:1h{{service="{s}",location="{loc}"}}', 1)
                for s in ("full", "every-5m") for loc in full.locations)),
        _expr(at, 'dozor:service_coverage:window{service=~"full|every-5m"}',
              ('dozor:service_coverage:window{service="full"}', 1),
              ('dozor:service_coverage:window{service="every-5m"}', 1)),
        _expr(at, 'round(dozor:service_coverage:1h{service="skipping"}, 0.01)',
              ('{service="skipping"}', 0.75)),
        # The window's figure from three hours of history weighs its start in (the chain
        # of averages trails), but stays under the threshold.
        _between(at, 'dozor:service_coverage:window{service="skipping"}', 0.7, 0.89,
                 '{service="skipping"}'),
        _expr(at, "dozor:service_availability:window", *(
            (f'dozor:service_availability:window{{service="{s}"}}', 1)
            for s in ("full", "every-5m", "skipping"))),
        _expr(at, "dozor:service_compliant:window",
              ('dozor:service_compliant:window{service="full"}', 1),
              ('dozor:service_compliant:window{service="every-5m"}', 1)),
    ]
    _run_promtool(tmp_path, rules, _scenario([full, slow, skipping], "1m", [], exprs))


def test_coverage_dips_while_a_location_is_away_and_recovers(tmp_path: Path,
                                                             rules: str) -> None:
    """The daemon at nsk is not scraped from 2h to 4h. Its series are gone, yet its runs stay
    due (carried from the last schedule it exported), so its coverage dips and the day's
    figure keeps the gap after it is back. The quorum: of three locations two still cover
    the service; of two, both must."""
    trio = Svc("trio", 360)
    duo = Svc("duo", 360, locations=("msk", "nsk"))

    def away(host: str, m: int) -> bool:
        return host == "nsk" and 120 <= m < 240

    nsk = 'location="nsk"'
    exprs = [
        _expr("3h", f"dozor:location_runs_due:increase5m{{{nsk}}}",
              *((f'dozor:location_runs_due:increase5m{{service="{s}",{nsk}}}', 5)
                for s in ("trio", "duo"))),
        _expr("3h", f"dozor:location_runs_done:increase5m{{{nsk}}}",
              *((f'dozor:location_runs_done:increase5m{{service="{s}",{nsk}}}', 0)
                for s in ("trio", "duo"))),
        # Last scraped at minute 119, remembered while it is away.
        _expr("3h", 'dozor:daemon_last_seen_timestamp_seconds{instance="nsk:9247"}',
              ('dozor:daemon_last_seen_timestamp_seconds{instance="nsk:9247",job="dozor"}',
               119 * 60)),
        _expr("3h", f"dozor:location_coverage:1h{{{nsk}}} < bool 0.1",
              *((f'{{service="{s}",{nsk}}}', 1) for s in ("trio", "duo"))),
        _expr("3h", "dozor:service_coverage:1h < bool 0.1",
              ('{service="trio"}', 0), ('{service="duo"}', 1)),
        # Back: the last hour fully covered, the day's figure still shows the two hours.
        _expr("6h", f"dozor:location_coverage:1h{{{nsk}}}",
              *((f'dozor:location_coverage:1h{{service="{s}",{nsk}}}', 1)
                for s in ("trio", "duo"))),
        _between("6h", f"dozor:location_coverage:1d{{{nsk}}}", 0.5, 0.8,
                 *(f'{{service="{s}",{nsk}}}' for s in ("trio", "duo"))),
        _expr("6h", 'dozor:service_coverage:window{service="trio"}',
              ('dozor:service_coverage:window{service="trio"}', 1)),
        _between("6h", 'dozor:service_coverage:window{service="duo"}', 0.5, 0.8,
                 '{service="duo"}'),
        # Not enough data for duo: not ranked, though every run it made succeeded.
        _expr("6h", "dozor:service_compliant:window",
              ('dozor:service_compliant:window{service="trio"}', 1)),
    ]
    alerts = quiet("3h", *BURNS, "DozorOutageTooLong")
    _run_promtool(tmp_path, rules, _scenario([trio, duo], "1m", alerts, exprs, away=away))


def test_coverage_follows_each_daemon_of_a_sharded_location(tmp_path: Path,
                                                            rules: str) -> None:
    """msk runs shards: msk-a is down from 1h to 2h while msk-b is up, and only msk-a's
    service loses coverage. msk-c goes away for good at 1h (a pod replaced under a new
    address) and msk-d takes its service over at 1h10m: due there once, not twice."""
    minutes = 150
    on_a = Svc("on-a", minutes, locations=("msk",), shard="-a")
    on_b = Svc("on-b", minutes, locations=("msk",), shard="-b")
    old = Svc("moved", minutes, locations=("msk",), shard="-c")
    new = Svc("moved", minutes, locations=("msk",), shard="-d")

    def away(host: str, m: int) -> bool:
        return ((host == "msk-a" and 60 <= m < 120) or (host == "msk-c" and m >= 60)
                or (host == "msk-d" and m < 70))

    due, done = "dozor:location_runs_due:increase5m", "dozor:location_runs_done:increase5m"
    exprs = [
        _expr("1h30m", due, *((f'{due}{{service="{s}",location="msk"}}', 5)
                              for s in ("on-a", "on-b", "moved"))),
        _expr("1h30m", done, (f'{done}{{service="on-a",location="msk"}}', 0),
              (f'{done}{{service="on-b",location="msk"}}', 5),
              (f'{done}{{service="moved",location="msk"}}', 5)),
        # Between the old pod's last scrape and the new one's first, the runs are missed.
        _expr("1h5m", f'{done}{{service="moved"}}',
              (f'{done}{{service="moved",location="msk"}}', 0)),
        _expr("2h30m", 'dozor:location_coverage:1h{service=~"on-b|moved"}',
              *((f'dozor:location_coverage:1h{{service="{s}",location="msk"}}', 1)
                for s in ("on-b", "moved"))),
        # An hour of two and a half missed; ten minutes of it.
        _between("2h30m", 'dozor:location_coverage:1d{service="on-a"}', 0.5, 0.8,
                 '{service="on-a",location="msk"}'),
        _between("2h30m", 'dozor:location_coverage:1d{service="moved"}', 0.9, 0.99,
                 '{service="moved",location="msk"}'),
        _expr("2h30m", 'dozor:location_coverage:1d{service="on-b"}',
              ('dozor:location_coverage:1d{service="on-b",location="msk"}', 1)),
    ]
    _run_promtool(tmp_path, rules, _scenario([on_a, on_b, old, new], "1m", [], exprs,
                                             away=away))


def test_coverage_stops_counting_what_was_removed(tmp_path: Path) -> None:
    """A probe or a service removed by a reload (its daemon up) is no longer due at once;
    a location whose daemon never comes back stays due for the standard's window (here 1d)
    after it was last seen, then stops counting."""
    data = catalog_dict(["http://127.0.0.1:9/"])
    data["standard"]["window"] = "1d"
    rules = render_rules(load_catalog(write_catalog(tmp_path / "c.yaml", data)))
    minutes = DAY_MIN + 120
    two = Svc("two-probes", minutes, locations=("msk",), probes=("portal", "api"),
              removed={"api": 60})
    gone = Svc("removed", minutes, locations=("msk",), removed={"portal": 60})
    decommissioned = Svc("decommissioned", minutes, locations=("msk", "old"))

    def away(host: str, m: int) -> bool:
        return host == "old" and m >= 60

    due = "dozor:location_runs_due:increase5m"
    exprs = [
        _expr("50m", f'{due}{{service="two-probes"}}',
              (f'{due}{{service="two-probes",location="msk"}}', 10)),
        _expr("1h30m", f'{due}{{service=~"two-probes|removed"}}',
              (f'{due}{{service="two-probes",location="msk"}}', 5)),
        _expr("1h30m", 'dozor:location_coverage:1h{service="two-probes"}',
              ('dozor:location_coverage:1h{service="two-probes",location="msk"}', 1)),
        _expr("1d30m", f'{due}{{service="decommissioned"}}',
              (f'{due}{{service="decommissioned",location="msk"}}', 5),
              (f'{due}{{service="decommissioned",location="old"}}', 5)),
        _expr("1d1h30m", f'{due}{{service="decommissioned"}}',
              (f'{due}{{service="decommissioned",location="msk"}}', 5)),
        _expr("1d1h30m", 'dozor:daemon_last_seen_timestamp_seconds{instance="old:9247"}'),
    ]
    _run_promtool(tmp_path, rules, _scenario([two, gone, decommissioned], "5m", [], exprs,
                                             away=away))


def test_monitor_alerts(tmp_path: Path, rules: str) -> None:
    """Hand-written: the monitor down, not scraped at all, a failed reload, and runs shed for
    overload (sustained: fires; once, or only overlapping runs skipped: silent)."""
    tests = yaml.safe_load((FIXTURES / "monitor.yaml").read_text(encoding="utf-8"))
    _run_promtool(tmp_path, rules, tests)


# --- the file itself ----------------------------------------------------------------------

def test_promtool_check_rules_passes_without_warnings(tmp_path: Path, rules: str) -> None:
    path = tmp_path / "dozor.yml"
    path.write_text(rules, encoding="utf-8")
    done = subprocess.run([require("promtool"), "check", "rules", str(path)],
                          capture_output=True, text=True, timeout=30, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "SUCCESS" in out and "WARNING" not in out.upper().replace("SUCCESS", ""), out


def test_output_is_deterministic_and_order_free(tmp_path: Path) -> None:
    first = render_rules(_catalog(tmp_path, services=5))
    assert render_rules(_catalog(tmp_path, services=5)) == first
    assert render_rules(_catalog(tmp_path, services=5, reverse=True)) == first
    # Objectives are metrics: more services add no rules.
    assert render_rules(_catalog(tmp_path, services=50)) == first


@pytest.mark.parametrize(("window", "present", "absent"), [
    ("30d", "dozor:service_probe_error_ratio:30d", "avg_over_time(dozor:service_probe_events:"
                                                   "increase5m{hours=\"all\"}[30d])"),
    ("7d", "dozor:service_probe_error_ratio:7d", "dozor:service_probe_error_ratio:30d"),
])
def test_window_comes_from_the_catalog(tmp_path: Path, window: str, present: str,
                                       absent: str) -> None:
    data = catalog_dict(["http://127.0.0.1:9/"])
    data["standard"]["window"] = window
    text = render_rules(load_catalog(write_catalog(tmp_path / "c.yaml", data)))
    assert present in text and absent not in text
    # No rule reads raw probe counters over more than 5m, nor any series over a raw 30d.
    assert "dozor_probes_total[30d]" not in text and "dozor_probes_total[1h]" not in text


def test_cli_writes_the_file_with_the_grafana_url(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "c.yaml", catalog_dict(["http://127.0.0.1:9/"]))
    out = tmp_path / "dozor.yml"
    assert main(["rules", str(catalog), "-o", str(out),
                 "--grafana-url", "https://grafana.example/"]) == 0
    text = out.read_text(encoding="utf-8")
    assert "https://grafana.example/d/dozor-service?var-service={{ $labels.service }}" in text
    assert shutil.which("promtool") is not None
