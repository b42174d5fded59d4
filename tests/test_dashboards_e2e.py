"""Every query of every generated dashboard, run for real.

Grafana itself is not installed here, so the dashboards are proven through their queries: the
demo world (faults pinned by an injected clock), the daemon probing it every second, and a
real Prometheus scraping the daemon every second and evaluating the generated rules (every
group's ``interval`` rewritten to 1s so the recordings exist within seconds; expressions are
the generated ones). Every panel target is sent to Prometheus' HTTP API exactly as Grafana
would send it (template variables substituted as Grafana does, ``$__range`` included), and:

* no query errors, anywhere;
* every panel not marked ``may_be_empty`` returns data;
* the demo's broken services show as broken, judged by the panel's own thresholds and value
  mappings: the flaky service burns its error budget (red), the expiring certificate is
  under 21 days (not green), the hourly and night outage services (both on at the injected
  clock) are down in the timelines, the overview's table and the life situations; the
  single-page app's pair, side by side in its timeline: its shell's http probe up, its browser
  probe down (the API behind the page fails in the same hourly window).

The daemon labels ``hours`` by the *real* clock, so off-hours can only be checked on history:
before Prometheus starts, a week of the night-outage service's runs (one a minute, failing
01:00–04:00 local exactly as the world's fault does, ``hours`` from ``monitor.localtime.hours``) is
backfilled with ``promtool tsdb create-blocks-from openmetrics``; the hour-of-week map and the
off-hours vs business-hours panel are checked on that week.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import yaml

from harness.stack import get_json, poll, prometheus, query
from harness.tools import require
from monitor.catalog import load_catalog
from monitor.dashboards import dashboards, render_dashboards
from monitor.demo import demo_env, start_world
from monitor.demo.faults import decide
from monitor.localtime.hours import hours_label
from monitor.rules import render_rules
from monitor.runtime.daemon import Daemon, DaemonOptions

pytestmark = pytest.mark.e2e

DEMO = Path(__file__).resolve().parent.parent / "config" / "examples" / "demo"
NIGHT, FLAKY, HOURLY, EXPIRING = ("doctor-nvs", "housing-subsidy-sve",
                                  "construction-permit-khv", "first-grade-kzn")
SPA = "doctor-khv"  # an http probe on the app's shell ("portal"), a browser probe ("slots")
NVS = ZoneInfo("Asia/Novosibirsk")
NVS_OFFSET = 7  # hours; Novosibirsk has no DST
HISTORY_DAYS = 7
DAY = 86400


def _clock() -> dt.datetime:
    """19:05 UTC today: 02:05 in Novosibirsk (night outage on) and minute 05 in Khabarovsk
    (hourly outage on). Pinned, so both faults stay on for the whole test."""
    return dt.datetime.now(dt.UTC).replace(hour=19, minute=5, second=0, microsecond=0)


def _fast_catalog(tmp: Path) -> Path:
    """The demo catalog with every probe every second; the flaky service's probe five
    times a second, so its ~5 % failures show within seconds (P(none in 150 runs) < 0.1 %).
    Browser probes every 4 s with a timeout of 3.5 s (a Chromium run is not a 1 s affair),
    and a step's own wait at most 1 s, so that it ends before the run is cut (the kind keeps
    20 % of the timeout for a failure's evidence) and the app's outage shows within seconds."""
    target = tmp / "catalog"
    shutil.copytree(DEMO, target)
    catalog = yaml.safe_load((target / "catalog.yaml").read_text())
    catalog["defaults"] = {"interval": "1s", "timeout": "800ms"}
    (target / "catalog.yaml").write_text(yaml.safe_dump(catalog, allow_unicode=True))
    for path in (target / "services.d").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        for svc in doc.get("services", []):
            for probe in svc["probes"]:
                probe.pop("interval", None)
                probe.pop("timeout", None)
                if svc["id"] == FLAKY:
                    probe.update(interval="200ms", timeout="150ms")
                if "browser" in probe:
                    probe.update(interval="4s", timeout="3500ms")
                    for step in probe["browser"]["steps"]:
                        if "timeout" in step:
                            step["timeout"] = "1s"
        path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return target


def _fast_rules(rules: str) -> str:
    doc = yaml.safe_load(rules)
    for group in doc["groups"]:
        group["interval"] = "1s"
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _history(now: float, probes: list[str]) -> str:
    """A week of the night-outage service's runs as the daemon would have counted them."""
    # Runs at hh:mm:30 (the daemon's grid is offset by a hash, never on the hour), ending
    # 10 minutes ago so the 5m rules never read history.
    end = int(now // 60) * 60 - 600 + 30
    start = end - HISTORY_DAYS * DAY
    rng = random.Random(7)
    lines = ["# HELP dozor_probes Probe runs.", "# TYPE dozor_probes counter"]
    for probe in probes:
        counts = {(r, h): 0 for r in ("success", "failure") for h in ("business", "offhours")}
        series: dict[tuple[str, str], list[str]] = {key: [] for key in counts}
        for t in range(start, end + 1, 60):
            at = dt.datetime.fromtimestamp(t, dt.UTC)
            ok = decide("night", at.astimezone(NVS), rng).status == 200
            counts["success" if ok else "failure", hours_label(at, "Asia/Novosibirsk")] += 1
            for (result, hours), value in counts.items():
                series[result, hours].append(f"{value} {t}")
        for (result, hours), samples in series.items():
            labels = (f'hours="{hours}",instance="history:9247",job="dozor",'
                      f'location="history",probe="{probe}",result="{result}",service="{NIGHT}"')
            lines += [f"dozor_probes_total{{{labels}}} {s}" for s in samples]
    return "\n".join([*lines, "# EOF", ""])


def _backfill(data: Path, text: str) -> None:
    data.mkdir(parents=True, exist_ok=True)
    source = data.parent / "history.om"
    source.write_text(text)
    subprocess.run([require("promtool"), "tsdb", "create-blocks-from", "openmetrics",
                    "--max-block-duration=24h", str(source), str(data)],
                   check=True, capture_output=True, timeout=60)


@dataclass
class Run:
    """One dashboard as Grafana would show it: variable values and the time range."""

    uid: str
    variables: dict[str, str]
    range_seconds: int


def _substitute(expr: str, run: Run, step: float) -> str:
    """Grafana's substitutions: multi-value "All" is the regex .*, $__range is seconds."""
    values = {**run.variables, "__range": f"{run.range_seconds}s",
              "__interval": f"{max(1, round(step))}s",
              "__rate_interval": f"{max(4, round(step) + 1)}s"}
    out = re.sub(r"\$(\w+)", lambda m: values.get(m.group(1), m.group(0)), expr)
    assert "$" not in out.replace("$1", ""), f"undefined variable left in {out}"
    return out


async def _query(prom: str, target: dict[str, Any], run: Run, now: float) -> list[Any]:
    if target["instant"]:
        expr = _substitute(target["expr"], run, run.range_seconds / 1000)
        found = await get_json(f"{prom}/api/v1/query?" + urlencode({"query": expr, "time": now}))
    else:
        step = run.range_seconds / 1000
        expr = _substitute(target["expr"], run, step)
        found = await get_json(f"{prom}/api/v1/query_range?" + urlencode(
            {"query": expr, "start": now - run.range_seconds, "end": now, "step": step}))
    assert found["status"] == "success", (target["expr"], found)
    result: list[Any] = found["data"]["result"]
    return result


def _last(series: dict[str, Any]) -> float:
    value = series["value"] if "value" in series else series["values"][-1]
    return float(value[1])


def _color(panel: dict[str, Any], value: float) -> str:
    """The colour Grafana gives ``value`` from the panel's thresholds (value mappings
    first, as Grafana applies them)."""
    defaults = panel["fieldConfig"]["defaults"]
    for mapping in defaults.get("mappings", []):
        hit = mapping["options"].get(f"{value:g}")
        if hit is not None:
            return str(hit["color"])
    color = "none"
    for step in defaults["thresholds"]["steps"]:
        if step["value"] is None or value >= step["value"]:
            color = step["color"]
    return color


Results = dict[str, list[list[Any]]]  # panel title -> each target's result


async def _run_dashboard(prom: str, doc: dict[str, Any], run: Run, now: float) -> Results:
    model = next(d for d in dashboards() if d.uid == doc["uid"])
    out: Results = {}
    for panel in doc["panels"]:
        results = [await _query(prom, t, run, now) for t in panel["targets"]]
        if not model.panel(panel["id"]).may_be_empty:
            assert any(results), f"{doc['uid']} {run.variables}: {panel['title']!r} is empty"
        out[panel["title"]] = results
    return out


def _services(results: list[list[Any]]) -> set[str]:
    return {s["metric"].get("service", "") for r in results for s in r}


async def test_every_panel_query(tmp_path: Path) -> None:
    started = time.monotonic()
    docs = {uid.removesuffix(".json"): json.loads(text)
            for uid, text in render_dashboards().items()}
    panels = {d: {p["title"]: p for p in doc["panels"]} for d, doc in docs.items()}
    catalog_dir = _fast_catalog(tmp_path)
    catalog = load_catalog(catalog_dir)
    night = next(s for s in catalog.services if s.id == NIGHT)
    _backfill(tmp_path / "prom" / "data", _history(time.time(), [p.name for p in night.probes]))
    rules = tmp_path / "rules.yml"
    rules.write_text(_fast_rules(render_rules(catalog)))

    world = await start_world(clock=_clock, time_scale=0.1)
    try:
        daemon = Daemon(DaemonOptions(config=catalog_dir, env={**os.environ, **demo_env(world)},
                                      port=0, location="e2e"))
        await daemon.start()
        try:
            async with prometheus(tmp_path / "prom", scrape=f"127.0.0.1:{daemon.port}",
                                  rule_files=[rules], alertmanager_url=None) as prom:
                await _wait_for_faults(prom.url)
                now = time.time()
                week = 7 * DAY
                runs = [
                    Run("dozor-overview", {"region": ".*", "level": ".*", "department": ".*",
                                           "curator": ".*"}, DAY),
                    *(Run("dozor-service", {"region": ".*", "level": ".*", "department": ".*",
                                            "curator": ".*", "service": s,
                                            "tzoffset": str(NVS_OFFSET)}, week)
                      for s in (NIGHT, FLAKY, HOURLY, EXPIRING, SPA)),
                    Run("dozor-curator", {"curator": "volkov"}, week),
                    Run("dozor-life-situations", {"life_situation": ".*"}, DAY),
                    Run("dozor-monitor", {}, 6 * 3600),
                ]
                assert {r.uid for r in runs} == set(docs)
                seen: dict[tuple[str, str], Results] = {}
                for run in runs:
                    key = (run.uid, run.variables.get("service", ""))
                    seen[key] = await _run_dashboard(prom.url, docs[run.uid], run, now)
        finally:
            await daemon.stop()
    finally:
        await world.close()

    curators = {s.id: s.curator for s in catalog.services}
    _check_overview(seen["dozor-overview", ""], panels["dozor-overview"], curators)
    _check_services(seen, panels["dozor-service"], now)
    _check_curator(seen["dozor-curator", ""])
    _check_life_situations(seen["dozor-life-situations", ""])
    _check_coverage(seen, panels)
    queries = sum(len(p["targets"]) for doc in docs.values() for p in doc["panels"])
    print(f"\n{queries} queries in {sum(len(d['panels']) for d in docs.values())} panels; "
          f"{time.monotonic() - started:.0f}s in all")


async def _wait_for_faults(prom: str) -> None:
    """Until the recordings show the three faults that are on, and the single-page app's
    browser probe has failed a run and its coverage is recorded: bounded, then fail."""
    async def ready() -> bool | None:
        checks = (f'dozor:service_compliant:window{{service="{FLAKY}"}} == 0',
                  f'dozor:service_up{{service="{NIGHT}"}} == 0',
                  f'dozor:service_up{{service="{HOURLY}"}} == 0',
                  f'dozor_probe_success{{service="{SPA}",probe="slots"}} == 0',
                  # Its runs are due one browser interval after it was first seen, not 1 s.
                  f'dozor:service_coverage:window{{service="{SPA}"}}',
                  "dozor:national_compliance_share:window",
                  'dozor:life_situation_availability:window')
        for expr in checks:
            if not await query(prom, expr):
                return None
        return True

    await poll(ready, 75, "the demo's faults in the recordings", every=1.0)


def _check_overview(results: Results, panels: dict[str, dict[str, Any]],
                    curators: dict[str, str]) -> None:
    table = results["Services breaking the standard now"]
    assert {FLAKY, NIGHT, HOURLY} <= _services(table)
    down = {s["metric"]["service"] for s in table[1] if _last(s) == 0}
    assert {NIGHT, HOURLY} <= down
    panel = panels["Services breaking the standard now"]
    flaky = next(s for s in table[0] if s["metric"]["service"] == FLAKY)
    assert _color(panel, _last(flaky)) == "red"
    assert all(s["metric"]["curator"] == curators[s["metric"]["service"]] for s in table[0])
    share = _last(results["National goal: МСЗУ services meeting the 24/7 standard"][0][0])
    assert share < 0.95  # three of the demo's МСЗУ services break the standard
    assert _color(panels["National goal: МСЗУ services meeting the 24/7 standard"],
                  share) == "red"
    assert results["Region ranking: share of МСЗУ services meeting the standard"][0]


def _check_services(seen: dict[tuple[str, str], Results], panels: dict[str, dict[str, Any]],
                    now: float) -> None:
    flaky = seen["dozor-service", FLAKY]
    budget = _last(flaky["Error budget remaining"][0][0])
    assert budget < 1 and _color(panels["Error budget remaining"], budget) != "green"
    cert = seen["dozor-service", EXPIRING]["Certificate expires in"][0]
    left = min(_last(s) for s in cert)
    assert 0 < left < 21 * DAY
    assert _color(panels["Certificate expires in"], left) in ("red", "orange")
    for service in (NIGHT, HOURLY):
        timeline = seen["dozor-service", service]["Outages: confirmed state and each run"]
        assert all(_last(s) == 0 for s in timeline[0]), (service, timeline[0])
    runs = seen["dozor-service", SPA]["Outages: confirmed state and each run"][1]
    assert {s["metric"]["probe"]: _last(s) for s in runs} == {"portal": 1, "slots": 0}
    _check_week(seen["dozor-service", NIGHT], panels, now)


def _check_week(night: Results, panels: dict[str, dict[str, Any]], now: float) -> None:
    """On the backfilled week: 01:00–04:00 local red in every day, daytime green."""
    cells = {(s["metric"]["day"], s["metric"]["hour"]): _last(s)
             for s in night["Availability by hour of the week (local time = UTC + $tzoffset h)"][0]}
    assert len(cells) == 168, sorted(cells)
    latest = dt.datetime.fromtimestamp(now, NVS).replace(minute=0) - dt.timedelta(hours=1)
    mixed = (str(latest.isoweekday()), f"{latest.hour:02d}")  # history + live runs
    panel = panels["Availability by hour of the week (local time = UTC + $tzoffset h)"]
    for (day, hour), value in cells.items():
        if (day, hour) == mixed:
            continue
        if hour in ("01", "02", "03"):
            assert value == 0 and _color(panel, value) == "red", (day, hour, value)
        else:
            assert value == 1 and _color(panel, value) == "green", (day, hour, value)
    business, offhours, _ = night["Off-hours vs business hours"]
    assert _last(offhours[0]) < 0.9 < _last(business[0])


def _check_curator(results: Results) -> None:
    services = results["Services of $curator"]
    assert {NIGHT, "doctor-mow"} <= _services(services)
    up = {s["metric"]["service"]: _last(s) for s in services[2]}
    assert up[NIGHT] == 0 and up["doctor-mow"] == 1


def _check_coverage(seen: dict[tuple[str, str], Results],
                    panels: dict[str, dict[str, Any]]) -> None:
    """The daemon ran every scheduled run: covered (green) at its location, service and
    monitor alike. The backfilled week has runs but no schedule: no coverage, not 0."""
    title = "Coverage over the standard's window"
    for service in (NIGHT, FLAKY):
        service_figure, locations = seen["dozor-service", service][title]
        value = _last(service_figure[0])
        assert 0.9 <= value <= 1, (service, value)
        assert _color(panels["dozor-service"][title], value) == "green"
        assert {s["metric"]["location"] for s in locations} == {"e2e"}
        trend = seen["dozor-service", service]["Coverage by location (1h)"][0]
        assert {s["metric"]["location"] for s in trend} == {"e2e"}
    monitor = panels["dozor-monitor"]["Scheduled runs done, by location (1h)"]
    [done] = seen["dozor-monitor", ""]["Scheduled runs done, by location (1h)"][0]
    assert done["metric"] == {"location": "e2e"}
    assert _color(monitor, _last(done)) == "green"


def _check_life_situations(results: Results) -> None:
    down = results["Members down now"][0]
    by_bundle = {(s["metric"]["life_situation"], s["metric"]["service"]) for s in down}
    assert {("retirement", NIGHT), ("starting-a-business", HOURLY)} <= by_bundle
    bundles = {s["metric"]["life_situation"]: _last(s)
               for s in results["Bundle up now"][0]}
    assert bundles["retirement"] == 0 and bundles["starting-a-business"] == 0
