"""The monitor's own downtime is never a service's outage (issue 16), end to end with real
parts: ``dozor run`` daemons as subprocesses, a real Prometheus scraping them and evaluating
the generated rules every second, a real Alertmanager with the generated routing, and a
webhook sink standing in for the curator.

Six scenarios share one stack and run at once, each with its own service, endpoint and
daemons. In each, one daemon goes away for GAP seconds (five times the service's max_outage)
and comes back at the same address:

* a healthy service, its daemon stopped by SIGTERM, by SIGKILL, without a state file, or one
  of three locations SIGKILLed: no alert of that service reaches anyone, Prometheus never
  has DozorOutageTooLong for it, and its recorded outage never reaches max_outage;
* a service that went down before a SIGTERM and is still down after the restart: the curator
  is paged, and the outage keeps its true start (it counts the gap, presumed failing);
* a service that went down only while its daemon was away: the curator is paged, the outage
  counted from the restart (the monitor saw nothing before it).

Only causal bounds and hang timeouts are asserted, no latency: an outage recorded at time t
cannot have started after the first failed run, nor before the endpoint went down (less one
probe interval). What each scenario saw is printed as a table.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.catalog_factory import catalog_dict, write_catalog
from harness.dozor_process import DozorProcess
from harness.stack import (
    Delivery,
    WebhookSink,
    alertmanager,
    poll,
    prometheus,
    query,
    shortened_rules,
    webhook_sink,
)
from harness.target import Target
from harness.tools import print_table, scrape
from monitor.alertmanager import AlertmanagerOptions, Timing, render_alertmanager
from monitor.catalog import load_catalog
from monitor.rules import render_rules
from monitor.runtime.plan import start_offset

pytestmark = pytest.mark.e2e

INTERVAL = 1.0  # scrape and rule evaluation interval; probe interval of the failing services
# The healthy services' probe interval: sparser than the scrapes, as in production (runs every
# minute, scrapes every 15-30 s), and each restart lands just after one of their runs, so a
# restarted daemon is scraped several times before its first run: the moment a gap counted
# as outage would show (with 1 s runs it hid from the scrapes in most restarts).
HEALTHY_INTERVAL = 5.0
MAX_OUTAGE = 6.0  # every service's max_outage (above HEALTHY_INTERVAL): the page's threshold
GAP = 30.0  # how long a daemon stays away at least: five times max_outage
# After the restarted daemon's first verdict reached Prometheus, how long a healthy scenario
# keeps watching. A gap counted as outage would show from the restart's first scrape (before
# that verdict) and page at the next evaluation (the page rule has no `for`): it would reach
# the sink a group_wait (1 s) later.
WATCH = 10.0
PAGE = "DozorOutageTooLong"
OUTAGE = "dozor:service_outage_seconds"  # what the page compares with max_outage
CURATOR = "ivanova"
PROBE = "portal"  # each service's one probe (catalog_dict's)


@dataclass(frozen=True)
class Scenario:
    name: str
    service: str
    stop: signal.Signals = signal.SIGTERM
    state_file: bool = True
    locations: tuple[str, ...] = ("msk",)  # the last one is the daemon that goes away
    down: str = ""  # "before": the endpoint fails before the stop; "away": during the gap

    @property
    def healthy(self) -> bool:
        return not self.down

    @property
    def interval(self) -> float:
        return HEALTHY_INTERVAL if self.healthy else INTERVAL


SCENARIOS = (
    Scenario("healthy, SIGTERM", "svc-term"),
    Scenario("healthy, SIGKILL", "svc-kill", stop=signal.SIGKILL),
    Scenario("healthy, SIGTERM, no state file", "svc-stateless", state_file=False),
    Scenario("healthy, 1 of 3 locations SIGKILLed", "svc-quorum", stop=signal.SIGKILL,
             locations=("msk", "nsk", "khv")),
    Scenario("down before SIGTERM, still down", "svc-down", down="before"),
    Scenario("down while away, still down", "svc-away", down="away"),
)


@dataclass
class Run:
    """One scenario as played: wall-clock times (Prometheus's clock) and, for the sink's
    arrival times, the restart's monotonic time."""

    scenario: Scenario
    target: Target
    daemons: list[DozorProcess]
    down: float | None = None  # the endpoint began answering 503
    stopped: float = 0.0  # the signal was sent
    exit_status: int | None = None
    restarted: float = 0.0  # just before the second start
    restarted_mono: float = 0.0

    @property
    def away(self) -> DozorProcess:
        return self.daemons[-1]


@dataclass
class Seen:
    """What Prometheus and the sink hold for one scenario's service at the end."""

    outage: list[tuple[float, float]]  # raw (timestamp, seconds) of OUTAGE
    page_in_alerts: int  # samples of ALERTS{alertname=PAGE} for the service
    pages: list[Delivery]  # deliveries to the curator holding the service's firing PAGE
    mentions: int  # deliveries anywhere holding any alert of the service
    away_scrapes: int  # failed scrapes (up == 0) of the away daemon

    def max_outage(self) -> float | None:
        return max((v for _, v in self.outage), default=None)


def _catalogs(tmp_path: Path, runs: list[tuple[Scenario, Target]], sink: WebhookSink
              ) -> tuple[Path, dict[str, Path]]:
    """The whole catalog (for the rules and the routing) and one per scenario's daemons."""
    data = catalog_dict([f"{t.url}/" for _, t in runs])
    data["standard"]["max_outage"] = f"{MAX_OUTAGE:g}s"
    data["curators"] = [
        {"id": CURATOR, "name": "Иванова А. П.", "webhook": f"{sink.url}/{CURATOR}",
         "deputy": "petrov"},
        {"id": "petrov", "name": "Петров И. И.", "webhook": f"{sink.url}/petrov"},
    ]
    for service, (scenario, _) in zip(data["services"], runs, strict=True):
        service["id"] = scenario.service
        service["probes"][0].update(interval=f"{scenario.interval:g}s",
                                    timeout=f"{min(scenario.interval / 2, 2):g}s")
    own = {s["id"]: write_catalog(tmp_path / f"{s['id']}.yaml", {**data, "services": [s]})
           for s in data["services"]}
    return write_catalog(tmp_path / "all.yaml", data), own


async def test_the_monitors_own_downtime_is_no_services_outage(tmp_path: Path) -> None:
    began = time.time()
    async with webhook_sink() as sink, contextlib.AsyncExitStack() as stack:
        targets = []
        for _ in SCENARIOS:
            target = await Target().start()
            stack.push_async_callback(target.close)
            targets.append(target)
        whole, own = _catalogs(tmp_path, list(zip(SCENARIOS, targets, strict=True)), sink)
        runs = [Run(s, t, [DozorProcess(
                    own[s.service], loc, tmp_path / f"{s.service}-{loc}.log",
                    tmp_path / f"{s.service}-{loc}.state.json" if s.state_file else None)
                    for loc in s.locations])
                for s, t in zip(SCENARIOS, targets, strict=True)]
        daemons = [d for run in runs for d in run.daemons]
        for d in daemons:
            stack.push_async_callback(d.close)
        await asyncio.gather(*(d.start() for d in daemons))

        catalog = load_catalog(whole)
        fast = Timing("1s", "1s", "1h")
        options = AlertmanagerOptions(duty_webhook=f"{sink.url}/duty", page_timing=fast,
                                      ticket_timing=fast, default_timing=fast)
        rules = tmp_path / "rules.yml"
        # Evaluated every second; every `for:` stays the generated one (the page has none).
        rules.write_text(shortened_rules(render_rules(catalog), INTERVAL), encoding="utf-8")
        am = await stack.enter_async_context(
            alertmanager(tmp_path / "am", render_alertmanager(catalog, options)))
        prom = await stack.enter_async_context(prometheus(
            tmp_path / "prom", scrape=[d.address for d in daemons], rule_files=[rules],
            alertmanager_url=am.url))

        await asyncio.gather(*(_play(run, prom.url, sink) for run in runs))
        span = math.ceil(time.time() - began) + 5
        seen = [await _seen(run, prom.url, sink, span) for run in runs]

    _report(runs, seen)
    problems = [f"{run.scenario.name}: {p}" for run, s in zip(runs, seen, strict=True)
                for p in _problems(run, s)]
    assert not problems, "\n".join(problems)


async def _play(run: Run, prom: str, sink: WebhookSink) -> None:
    s, away = run.scenario, run.away
    await _until_verdicts(prom, s.service, s.locations, after=0.0, healthy=True)

    async def recorded() -> bool | None:
        return True if await query(prom, f'{OUTAGE}{{service="{s.service}"}}') else None

    await poll(recorded, 30, f"{s.service}'s outage recording")
    if away.state_file is not None:
        await _until_saved(away.state_file)  # written every 10 s: a SIGKILL finds one
    if s.down == "before":
        run.target.status = 503
        run.down = time.time()
        await _until_failing(away, s.service)  # a failed run in the state it leaves behind
    run.stopped = time.time()
    run.exit_status = await away.stop(s.stop)
    if s.down == "away":
        run.target.status = 503
        run.down = time.time()
    await asyncio.sleep(GAP + _to_next_run(s, time.time() + GAP))
    run.restarted, run.restarted_mono = time.time(), time.monotonic()
    await away.start()
    await _until_verdicts(prom, s.service, (away.location,), after=run.restarted)
    if s.healthy:
        await asyncio.sleep(WATCH)
        return

    async def paged() -> Delivery | None:
        return next((d for d in _pages(sink, s.service) if d.at > run.restarted_mono), None)

    await poll(paged, 60, f"{s.name}: the curator's page after the restart")


def _to_next_run(s: Scenario, at: float) -> float:
    """Seconds from ``at`` to just after the scenario's next scheduled run (the daemon's grid,
    the same at every start and location)."""
    offset = start_offset(f"{s.service}/{PROBE}", s.interval)
    return (offset - at) % s.interval + 0.1


def _samples(result: list[dict[str, Any]]) -> list[tuple[dict[str, str], float, float]]:
    """(labels, timestamp, value) of every raw sample of a range-selector query."""
    return [(r["metric"], float(ts), float(v)) for r in result for ts, v in r["values"]]


async def _until_verdicts(prom: str, service: str, locations: tuple[str, ...], *,
                          after: float, healthy: bool = False) -> None:
    """Until Prometheus holds a run verdict of ``service`` from each location scraped after
    ``after`` (a success, if ``healthy``)."""
    async def check() -> bool | None:
        found = _samples(await query(prom, f'dozor_probe_success{{service="{service}"}}[5s]'))
        fresh = {labels["location"] for labels, ts, v in found
                 if ts > after and (v == 1 or not healthy)}
        return True if fresh >= set(locations) else None

    await poll(check, 30, f"{service}'s verdicts from {', '.join(locations)} in Prometheus")


async def _until_saved(path: Path) -> None:
    async def check() -> bool | None:
        try:
            probes = json.loads(await asyncio.to_thread(path.read_bytes))["probes"]
        except (FileNotFoundError, ValueError):
            return None
        return True if any(p["last_success"] for p in probes.values()) else None

    await poll(check, 30, f"a last success saved in {path.name}")


async def _until_failing(daemon: DozorProcess, service: str) -> None:
    async def check() -> bool | None:
        for (name, labels), value in (await scrape(daemon.url)).items():
            if name == "dozor_probe_success" and dict(labels)["service"] == service:
                return True if value == 0 else None
        return None

    await poll(check, 15, f"{service}'s failed run at {daemon.location}")


def _alerts_of(d: Delivery, service: str) -> list[dict[str, Any]]:
    return [a for a in d.alerts() if a["labels"].get("service") == service]


def _pages(sink: WebhookSink, service: str) -> list[Delivery]:
    return [d for d in sink.at(f"/{CURATOR}") if any(
        a["status"] == "firing" and a["labels"]["alertname"] == PAGE
        for a in _alerts_of(d, service))]


async def _seen(run: Run, prom: str, sink: WebhookSink, span: int) -> Seen:
    svc = run.scenario.service
    outage = _samples(await query(prom, f'{OUTAGE}{{service="{svc}"}}[{span}s]'))
    alerts = _samples(await query(prom, f'ALERTS{{alertname="{PAGE}",service="{svc}"}}'
                                        f"[{span}s]"))
    up = _samples(await query(prom, f'up{{instance="{run.away.address}"}}[{span}s]'))
    return Seen(outage=sorted((ts, v) for _, ts, v in outage),
                page_in_alerts=len(alerts),
                pages=_pages(sink, svc),
                mentions=sum(1 for d in sink.deliveries if _alerts_of(d, svc)),
                away_scrapes=sum(1 for _, ts, v in up
                                 if v == 0 and run.stopped < ts < run.restarted))


def _problems(run: Run, seen: Seen) -> list[str]:
    s, out = run.scenario, []
    expected_exit = 0 if s.stop == signal.SIGTERM else -s.stop
    if run.exit_status != expected_exit:
        out.append(f"{s.stop.name} exit status {run.exit_status}, not {expected_exit}")
    # The gap was real to Prometheus, and there was something to measure on both sides of it.
    if not seen.away_scrapes:
        out.append("Prometheus never failed to scrape the stopped daemon")
    if not any(ts < run.stopped for ts, _ in seen.outage):
        out.append("no outage recording before the stop")
    after = [(ts, v) for ts, v in seen.outage if ts > run.restarted]
    if not after:
        out.append("no outage recording after the restart")
    if s.healthy:
        if seen.mentions:
            out.append(f"{seen.mentions} deliveries hold an alert of this healthy service")
        if seen.page_in_alerts:
            out.append(f"{PAGE} was in ALERTS ({seen.page_in_alerts} samples)")
        worst = seen.max_outage()
        if worst is None or worst >= MAX_OUTAGE:
            out.append(f"recorded outage reached {worst} s (max_outage {MAX_OUTAGE:g} s)")
        return out
    if not any(d.at > run.restarted_mono for d in seen.pages):
        out.append("the curator was not paged after the restart")
    assert run.down is not None
    if s.down == "before":
        # Its true start: the last success before the endpoint failed ended at most one
        # probe interval after it did (a run in flight when it flipped).
        short = [(ts, v) for ts, v in after if v < ts - run.down - INTERVAL]
        if short:
            out.append(f"outage lost its start: {short[0][1]:.1f} s recorded at "
                       f"{short[0][0] - run.down:.1f} s after the endpoint went down")
    else:
        # Counted from the restart: the first failed run began after it.
        long = [(ts, v) for ts, v in after if v > ts - run.restarted]
        if long:
            out.append(f"outage counts the gap: {long[0][1]:.1f} s recorded "
                       f"{long[0][0] - run.restarted:.1f} s after the restart")
    return out


def _report(runs: list[Run], seen: list[Seen]) -> None:
    rows = []
    for run, s in zip(runs, seen, strict=True):
        worst = s.max_outage()
        first = min((d.at - run.restarted_mono for d in s.pages if d.at > run.restarted_mono),
                    default=None)
        rows.append((run.scenario.name, str(len(s.pages)),
                     "-" if worst is None else f"{worst:.1f}",
                     str(s.page_in_alerts), f"{run.restarted - run.stopped:.1f}",
                     "-" if first is None else f"{first:.1f}"))
    print(f"\n\nmax_outage {MAX_OUTAGE:g} s; scrapes and evaluations every {INTERVAL:g} s; "
          f"probes every {HEALTHY_INTERVAL:g} s (healthy services), {INTERVAL:g} s (failing)")
    print_table(("scenario", "pages to curator", "max service_outage_seconds",
                 f"{PAGE} samples in ALERTS", "daemon away (s)", "page after restart (s)"),
                rows)
