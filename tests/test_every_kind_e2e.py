"""Every probe kind through the running daemon: the demo world, the real daemon on the shipped
``config/examples/every-kind`` catalog, per-kind series and verdicts in /metrics, then a reload
onto a catalog that adds, changes and removes one probe of each kind.

The world's clock is pinned inside the Khabarovsk "hourly" fault (minutes 00–09), so the
catalog's scheduled failures (http, journey, dns) fail and everything else is as always. The
catalog is the shipped file with a 1 s interval, so the test does not wait 15 s per round.

``CASES`` is the per-kind table: a new kind adds one row, and its two probes to the catalog;
the test fails while the catalog, the table and the registry of kinds disagree.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import yaml

from harness.catalog_factory import write_catalog
from harness.stack import poll
from harness.tools import Samples, post_reload, scrape
from monitor.demo import World, demo_env, start_world
from monitor.runtime.daemon import Daemon, DaemonOptions
from monitor.serving.security import WebSecurity
from probes import KINDS

pytestmark = pytest.mark.e2e

CATALOG = Path(__file__).resolve().parent.parent / "config" / "examples" / "every-kind"
# 14:05 in Khabarovsk: the hourly fault is on (502 and a stale DNS record for the permit).
PINNED = datetime(2025, 6, 11, 14, 5, tzinfo=ZoneInfo("Asia/Vladivostok")).astimezone(UTC)
TOKEN = "every-kind-reload-token"
DEADLINE = 60.0  # generous: a shared two-core machine

Ref = tuple[str, str]  # (service, probe)
Spec = dict[str, Any]


@dataclass(frozen=True)
class KindCase:
    good: Ref  # passes at the pinned time; the reload removes it
    failing: Ref  # fails at the pinned time; the reload changes it so that it passes
    reason: str  # the failing probe's dozor_probe_failures_total reason
    phases: frozenset[str]  # phases the good probe reports
    series: frozenset[str]  # kind-specific series the good probe has (besides the common ones)
    change: Callable[[Spec], None]  # edits the failing probe's kind mapping in place
    added: Spec  # a probe the reload adds to the good probe's service (passes)
    # Passive kinds: what makes the failing probe fail (called with the daemon's URL).
    poke: Callable[[str], Awaitable[None]] | None = None


def _expect_status(status: int) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        spec["expect"] = {"status": [status]}

    return change


def _journey_step_expects(status: int) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        spec["steps"][-1]["expect"] = {"status": [status]}

    return change


def _set(**fields: Any) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        spec.update(fields)

    return change


def _tcp_banner(spec: Spec) -> None:
    spec["query_response"] = [{"send": "QUIT\r\n"}, {"expect": "^220 .*ESMTP"}]


async def _report_failure(url: str) -> None:
    """The registry sync reports exit code 2 with its output."""
    async with aiohttp.ClientSession() as session, session.post(
            f"{url}/ping/every-kind-registry-sync/2", data=b"disk full") as response:
        assert response.status == 200, await response.text()


HTTP = "${DOZOR_DEMO_HTTP}"
CASES: dict[str, KindCase] = {
    "http": KindCase(
        good=("kindergarten-mow", "portal"), failing=("construction-permit-khv", "portal"),
        reason="http_status", phases=frozenset({"connect", "processing"}), series=frozenset(),
        change=_expect_status(502),  # expecting the outage's status: passes now
        added={"name": "api", "http": {"url": f"{HTTP}/api/mos/kindergarten/v1/status"}}),
    "journey": KindCase(
        good=("kindergarten-mow", "apply"), failing=("construction-permit-khv", "apply"),
        reason="http_status", phases=frozenset(),
        series=frozenset({"dozor_journey_step_duration_seconds"}),
        change=_journey_step_expects(502),
        added={"name": "index", "journey": {"steps": [
            {"name": "index", "request": {"url": f"{HTTP}/"},
             "expect": {"body_contains": "Dozor demo world"}}]}}),
    "dns": KindCase(
        good=("kindergarten-mow", "dns"), failing=("construction-permit-khv", "dns"),
        reason="assertion", phases=frozenset({"resolve"}), series=frozenset(),
        change=_set(expect={"answers_match": [r"\sA\s192\.0\.2\.10$"]}),  # the stale address
        added={"name": "mx", "dns": {"server": "${DOZOR_DEMO_DNS}", "query_name": "gosuslugi.demo",
                                     "query_type": "MX", "expect": {"min_answers": 1}}}),
    "tls": KindCase(
        good=("first-grade-kzn", "tls"), failing=("first-grade-kzn", "tls-new-name"),
        reason="tls", phases=frozenset({"connect", "tls"}),
        series=frozenset({"dozor_tls_cert_expiry_timestamp_seconds"}),
        change=_set(server_name="localhost"),  # a name the certificate carries
        added={"name": "tls-one-year", "tls": {"address": "${DOZOR_DEMO_TLS}",
                                               "ca_file": "${DOZOR_DEMO_CA}"}}),
    "tcp": KindCase(
        good=("notifications", "smtp"), failing=("notifications", "smtp-old-relay"),
        reason="assertion", phases=frozenset({"connect", "tls"}),
        series=frozenset({"dozor_tls_cert_expiry_timestamp_seconds"}),  # STARTTLS
        change=_tcp_banner,
        added={"name": "smtp-noop", "tcp": {"address": "${DOZOR_DEMO_SMTP}", "query_response": [
            {"expect": "^220 "}, {"send": "NOOP\r\n"}, {"expect": "^250 "},
            {"send": "QUIT\r\n"}, {"expect": "^221 "}]}}),
    "grpc": KindCase(
        good=("notifications", "grpc"), failing=("notifications", "grpc-payments"),
        reason="assertion", phases=frozenset({"connect", "processing"}), series=frozenset(),
        change=_set(service="gosuslugi.demo.Applications"),
        added={"name": "grpc-server", "grpc": {"address": "${DOZOR_DEMO_GRPC}"}}),
    "icmp": KindCase(
        good=("notifications", "gateway"), failing=("notifications", "gateway-jumbo"),
        reason="error", phases=frozenset({"processing"}), series=frozenset(),
        change=_set(dont_fragment=False),  # IPv6 fragments the echo on the loopback
        added={"name": "gateway-v6", "icmp": {"host": "::1"}}),
    "browser": KindCase(
        good=("kindergarten-mow", "page"), failing=("construction-permit-khv", "page"),
        reason="http_status", phases=frozenset(),
        series=frozenset({"dozor_journey_step_duration_seconds",
                          "dozor_browser_web_vital_seconds", "dozor_browser_page_problems"}),
        change=_set(steps=[{"goto": f"{HTTP}/mos/kindergarten"}]),
        added={"name": "index-page", "interval": "5s", "timeout": "4s", "browser": {"steps": [
            {"goto": f"{HTTP}/"}, {"expect": {"text": "Dozor demo world"}}]}}),
    "heartbeat": KindCase(
        good=("notifications", "export"), failing=("notifications", "registry-sync"),
        reason="assertion", phases=frozenset(),
        series=frozenset({"dozor_heartbeat_runs_open"}),
        change=_set(token="every-kind-registry-sync-rotated"),  # a new token: a fresh record
        added={"name": "backup", "heartbeat": {"token": "every-kind-added-backup-token",
                                               "period": "1d"}},
        poke=_report_failure),
}


# --- the catalog ------------------------------------------------------------------------


def _shipped() -> dict[str, Any]:
    """The shipped catalog, unexpanded: the daemon expands its ${DOZOR_DEMO_*} with the
    world's own."""
    text = (CATALOG / "catalog.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    data["defaults"] = {"interval": "1s", "timeout": "900ms"}
    return data


def _probe(data: dict[str, Any], ref: Ref) -> dict[str, Any]:
    service = next(s for s in data["services"] if s["id"] == ref[0])
    return next(p for p in service["probes"] if p["name"] == ref[1])


def _reloaded(data: dict[str, Any]) -> dict[str, Any]:
    """The catalog after the diff: per kind, the good probe removed, the failing one changed,
    one probe added."""
    data = copy.deepcopy(data)
    for kind, case in CASES.items():
        case.change(_probe(data, case.failing)[kind])
        service = next(s for s in data["services"] if s["id"] == case.good[0])
        service["probes"] = [p for p in service["probes"] if p["name"] != case.good[1]]
        service["probes"].append(copy.deepcopy(case.added))
    return data


def _refs(data: dict[str, Any]) -> set[Ref]:
    return {(s["id"], p["name"]) for s in data["services"] for p in s["probes"]}


# --- /metrics ---------------------------------------------------------------------------


def _value(found: Samples, name: str, ref: Ref, **extra: str) -> float | None:
    wanted = {"service": ref[0], "probe": ref[1], **extra}
    values = [v for (n, labels), v in found.items()
              if n == name and wanted.items() <= dict(labels).items()]
    return sum(values) if values else None


def _count(found: Samples, name: str, ref: Ref, **extra: str) -> float:
    return _value(found, name, ref, **extra) or 0.0


def _phases(found: Samples, ref: Ref) -> set[str]:
    return {dict(labels)["phase"] for (n, labels), _ in found.items()
            if n == "dozor_probe_phase_seconds" and dict(labels)["service"] == ref[0]
            and dict(labels)["probe"] == ref[1]}


@dataclass
class Running:
    world: World
    daemon: Daemon
    config: Path

    async def until_every_probe_ran(self, refs: set[Ref]) -> Samples:
        async def check() -> Samples | None:
            found = await scrape(self.daemon.url)
            ran = all(_value(found, "dozor_probe_success", ref) is not None for ref in refs)
            # A passive kind's failing probe fails from the run after its poke on.
            poked = all(_value(found, "dozor_probe_success", case.failing) == 0
                        for case in CASES.values() if case.poke is not None)
            return found if ran and poked else None

        return await poll(check, DEADLINE, f"every probe of {sorted(refs)} ran")


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async with await start_world(clock=lambda: PINNED, time_scale=0.01) as world:
        config = tmp_path / "catalog.yaml"
        write_catalog(config, _shipped())
        daemon = Daemon(DaemonOptions(config=config, port=0, location="e2e",
                                      env=demo_env(world),
                                      security=WebSecurity(reload_token=TOKEN)))
        await daemon.start()
        try:
            yield Running(world, daemon, config)
        finally:
            await daemon.stop()


async def test_every_kind_runs_judges_and_reloads(running: Running) -> None:
    shipped = _shipped()
    kinds = {k for s in shipped["services"] for p in s["probes"] for k in p}
    assert kinds - {"name", "interval", "timeout"} == set(CASES)
    assert set(CASES) == {kind.name for kind in KINDS}, "every registered kind has a row"
    for case in CASES.values():
        if case.poke is not None:
            await case.poke(running.daemon.url)
    found = await running.until_every_probe_ran(_refs(shipped))
    for kind, case in CASES.items():
        assert _value(found, "dozor_probe_success", case.good) == 1, kind
        assert _count(found, "dozor_probes_total", case.good, result="success") >= 1, kind
        assert _value(found, "dozor_probe_success", case.failing) == 0, kind
        assert _count(found, "dozor_probes_total", case.failing, result="failure") >= 1, kind
        assert _count(found, "dozor_probe_failures_total", case.failing,
                      reason=case.reason) >= 1, kind
        assert case.phases <= _phases(found, case.good), (kind, _phases(found, case.good))
        for name in case.series:
            assert _value(found, name, case.good) is not None, (kind, name)
    # Certificate expiry where TLS is spoken: five days on the expiring listener.
    expiry = _value(found, "dozor_tls_cert_expiry_timestamp_seconds", CASES["tls"].good)
    assert expiry is not None
    assert 4 * 86400 < expiry - datetime.now(UTC).timestamp() < 6 * 86400

    after = _reloaded(shipped)
    write_catalog(running.config, after)
    status, text = await post_reload(running.daemon.url, TOKEN)
    assert status == 200, text

    added = {(case.good[0], case.added["name"]) for case in CASES.values()}

    async def diff_applied() -> Samples | None:
        found = await scrape(running.daemon.url)
        flipped = all(_value(found, "dozor_probe_success", c.failing) == 1 for c in CASES.values())
        appeared = all(_value(found, "dozor_probe_success", ref) is not None for ref in added)
        return found if flipped and appeared else None

    found = await poll(diff_applied, DEADLINE, "changed probes pass and added probes ran")
    for kind, case in CASES.items():
        added_ref = (case.good[0], case.added["name"])
        assert _value(found, "dozor_probe_success", added_ref) == 1, kind
        assert _value(found, "dozor_probe_success", case.failing) == 1, kind
        for name in ("dozor_probe_success", "dozor_probes_total", "dozor_probe_phase_seconds"):
            assert _value(found, name, case.good) is None, (kind, name)
    assert found["dozor_probes_configured", frozenset()] == len(_refs(after))
