"""The HTTP probe against real servers on 127.0.0.1 (see harness/http_zoo.py): outcomes,
failure reasons, TLS verification, phase timings. Names resolve through a table resolver, so
no lookup leaves the machine."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from harness.http_zoo import (
    COOKIE_CANARY,
    OK_TEXT,
    STEP,
    UA,
    Pki,
    RawZoo,
    ZooResolver,
    start_zoo,
)
from probes import Phase, ProbeContext, Reason, run_probe
from probes.http import HttpSpec, probe_http

LOOKUP = 0.05  # seconds every table lookup takes, so the resolve phase is measurable


def spec(url: str, **fields: Any) -> HttpSpec:
    return HttpSpec.model_validate({"url": url, **fields})


@pytest.fixture
def resolver() -> ZooResolver:
    return ZooResolver({"zoo.test": "127.0.0.1", "portal.dozor.test": "127.0.0.1"}, LOOKUP)


@pytest.fixture
async def zoo() -> AsyncIterator[TestServer]:
    server = await start_zoo()
    yield server
    await server.close()


@pytest.fixture
async def raw() -> AsyncIterator[RawZoo]:
    server = await RawZoo().start()
    yield server
    await server.close()


# (id, path, spec fields, expected reason or None, regex the detail must match)
PLAIN_CASES = [
    ("200 ok", "/ok", {}, None, "^$"),
    ("404", "/status/404", {}, Reason.HTTP_STATUS, r"^status 404, expected 2xx$"),
    ("500", "/status/500", {}, Reason.HTTP_STATUS, r"^status 500, expected 2xx$"),
    ("404 in the expected list", "/status/404", {"expect": {"status": [404, 410]}}, None, "^$"),
    ("200 not in the expected list", "/ok", {"expect": {"status": [201, 204]}},
     Reason.HTTP_STATUS, re.escape("status 200, expected one of [201, 204]")),
    ("redirect chain", "/redirect/3", {}, None, "^$"),
    ("exactly max_redirects", "/redirect/3", {"max_redirects": 3}, None, "^$"),
    ("one redirect too many", "/redirect/4", {"max_redirects": 3},
     Reason.ERROR, re.escape("more than max_redirects (3) redirects")),
    ("redirect loop", "/loop", {}, Reason.ERROR, re.escape("more than max_redirects (10)")),
    ("max_redirects 0", "/redirect/1", {"max_redirects": 0},
     Reason.ERROR, re.escape("more than max_redirects (0)")),
    ("follow_redirects off: the 302 is the response", "/redirect/1", {"follow_redirects": False},
     Reason.HTTP_STATUS, re.escape("status 302, expected 2xx (follow_redirects is off)")),
    ("follow_redirects off, 302 expected", "/redirect/1",
     {"follow_redirects": False, "expect": {"status": [302]}}, None, "^$"),
    ("body_contains hit", "/ok", {"expect": {"body_contains": ["Запись", "детский сад"]}},
     None, "^$"),
    ("body_contains miss", "/ok", {"expect": {"body_contains": ["Запись", "закрыта"]}},
     Reason.ASSERTION, "body does not contain 'закрыта'"),
    ("body_not_contains hit", "/ok", {"expect": {"body_not_contains": "открыта"}},
     Reason.ASSERTION, "body contains 'открыта'"),
    ("body_not_contains clear", "/ok", {"expect": {"body_not_contains": "Ошибка"}}, None, "^$"),
    ("body_regex hit", "/ok", {"expect": {"body_regex": r"Запись\s+в"}}, None, "^$"),
    ("body_regex miss", "/ok", {"expect": {"body_regex": r"^\d+$"}},
     Reason.ASSERTION, "does not match body_regex"),
    ("header match", "/ok", {"expect": {"headers": {"x-service": "^dozor-"}}}, None, "^$"),
    ("header mismatch", "/ok", {"expect": {"headers": {"X-Service": "^gosuslugi$"}}},
     Reason.ASSERTION, "header 'X-Service' does not match"),
    ("header missing", "/ok", {"expect": {"headers": {"X-Absent": "."}}},
     Reason.ASSERTION, "header 'X-Absent' is missing"),
    ("max_latency met", "/ok", {"expect": {"max_latency": "1s"}}, None, "^$"),
    ("max_latency exceeded", "/delay/300", {"expect": {"max_latency": "100ms"}},
     Reason.ASSERTION, r"^took 0\.3\d+s, over max_latency 0\.1s$"),
    ("body exactly at the cap", "/big/1000", {"max_body_bytes": 1000}, None, "^$"),
    ("Content-Length over the cap", "/big/5000000", {"max_body_bytes": 1_000_000},
     Reason.BODY_TOO_LARGE, "Content-Length 5000000 exceeds max_body_bytes 1000000"),
    ("chunked body over the cap", "/big-chunked/5000000", {"max_body_bytes": 1_000_000},
     Reason.BODY_TOO_LARGE, "body exceeds max_body_bytes 1000000"),
    ("cookie set by a redirect reaches the next hop", "/cookie/set", {}, None, "^$"),
    ("our User-Agent reaches the server", "/ua", {"expect": {"body_contains": UA}}, None, "^$"),
]


@pytest.mark.parametrize(
    ("path", "fields", "reason", "detail"),
    [case[1:] for case in PLAIN_CASES],
    ids=[case[0] for case in PLAIN_CASES],
)
async def test_plain_http(
    zoo: TestServer, ctx: ProbeContext, path: str, fields: dict[str, Any],
    reason: Reason | None, detail: str,
) -> None:
    result = await probe_http(spec(str(zoo.make_url(path)), **fields), ctx)
    assert (result.reason, result.success) == (reason, reason is None), result.detail
    assert re.search(detail, result.detail), result.detail
    assert result.cert_expiry is None


RAW_CASES = [
    ("reset before the response", "/reset-before-response",
     Reason.CONNECT, "connection closed before a response"),
    ("reset mid-body", "/reset-mid-body", Reason.ERROR, "broken off while reading the body"),
    ("closed mid-body", "/close-mid-body", Reason.ERROR, "broken off while reading the body"),
    ("bad status line", "/bad-status-line", Reason.ERROR, "^invalid response: "),
    ("header over the limit", "/huge-cookie", Reason.ERROR,
     "^invalid response: a header field or the status line is over 262144 bytes$"),
]


@pytest.mark.parametrize(
    ("path", "reason", "detail"), [c[1:] for c in RAW_CASES], ids=[c[0] for c in RAW_CASES]
)
async def test_misbehaving_server(
    raw: RawZoo, ctx: ProbeContext, path: str, reason: Reason, detail: str
) -> None:
    result = await probe_http(spec(raw.url(path)), ctx)
    assert result.reason is reason, result.detail
    assert re.search(detail, result.detail), result.detail
    assert raw.paths == [path]  # no silent retry hides a dropped connection


async def test_connection_refused(ctx: ProbeContext, closed_port: int) -> None:
    result = await probe_http(spec(f"http://127.0.0.1:{closed_port}/"), ctx)
    assert result.reason is Reason.CONNECT, result.detail
    assert result.detail.startswith(f"cannot connect to 127.0.0.1:{closed_port}: ")


async def test_dns_failure(ctx: ProbeContext, resolver: ZooResolver) -> None:
    started = time.perf_counter()
    result = await probe_http(spec("http://nonexistent.invalid/"), ctx)
    assert result.reason is Reason.DNS, result.detail
    assert result.detail.startswith("cannot resolve nonexistent.invalid: ")
    assert resolver.lookups == ["nonexistent.invalid"]
    assert result.phases[Phase.RESOLVE] >= LOOKUP
    # Fails without waiting (no timeout is set: a wait would be a hang); 5 s cannot flake.
    assert time.perf_counter() - started < 5


async def test_hang_is_cut_by_the_callers_timeout(raw: RawZoo, ctx: ProbeContext) -> None:
    result, took = await run_probe(probe_http, spec(raw.url("/hang")), ctx, timeout=0.3)
    assert result.reason is Reason.TIMEOUT
    # Not early (load only delays a timer) and cut (the session sets no timeout of its own:
    # uncut is a hang), so neither bound can flake; the overrun is bench/blackbox_phases.py's.
    assert 0.3 <= took < 0.3 + 5


@pytest.mark.parametrize("path", ["/huge-header", "/csp-12k"], ids=["20 kB X-Big", "12 KiB CSP"])
async def test_headers_browsers_accept_are_accepted(
    raw: RawZoo, ctx: ProbeContext, path: str
) -> None:
    """Header fields over aiohttp's default 8190 bytes, well under what Chromium accepts."""
    result = await probe_http(spec(raw.url(path)), ctx)
    assert result.success, result.detail


async def test_a_header_over_the_limit_is_not_quoted(raw: RawZoo, ctx: ProbeContext) -> None:
    """The daemon logs a failure's detail ("probe failing"): neither it nor the probe's own
    log may carry a response header's value (a Set-Cookie is a session)."""
    with capture_logs() as logs:
        result, _ = await run_probe(probe_http, spec(raw.url("/huge-cookie")), ctx, timeout=5)
    assert result.reason is Reason.ERROR, result.detail
    assert COOKIE_CANARY not in result.detail
    assert logs, "the probe logs its detail"
    assert COOKIE_CANARY[:8] not in repr(logs)


async def test_timeout_keeps_the_phases_before_a_hang(raw: RawZoo, ctx: ProbeContext) -> None:
    """Accepted, never answered: resolved and connected, no first byte (so no processing,
    as blackbox_exporter reports it)."""
    probe = spec(f"http://zoo.test:{raw.port}/hang")
    result, _ = await run_probe(probe_http, probe, ctx, timeout=0.3)
    assert result.reason is Reason.TIMEOUT, result.detail
    assert result.phases[Phase.RESOLVE] > 0, result.phases
    assert result.phases[Phase.CONNECT] > 0, result.phases
    assert result.phases.get(Phase.PROCESSING, 0) == 0, result.phases
    assert result.phases.get(Phase.TRANSFER, 0) == 0, result.phases


async def test_timeout_keeps_the_phases_of_a_trickled_body(
    raw: RawZoo, ctx: ProbeContext
) -> None:
    """Headers at once, then a chunked body that never ends: the transfer so far counts."""
    result, _ = await run_probe(probe_http, spec(raw.url("/trickle")), ctx, timeout=0.3)
    assert result.reason is Reason.TIMEOUT, result.detail
    assert result.phases[Phase.CONNECT] > 0, result.phases
    assert result.phases[Phase.PROCESSING] > 0, result.phases
    assert result.phases[Phase.TRANSFER] > 0, result.phases


async def test_cookies_stay_within_one_run(zoo: TestServer, ctx: ProbeContext) -> None:
    first = await probe_http(spec(str(zoo.make_url("/cookie/set"))), ctx)
    later = await probe_http(spec(str(zoo.make_url("/cookie/check"))), ctx)
    assert first.success, first.detail
    assert later.reason is Reason.HTTP_STATUS  # the earlier run's cookie is gone


async def test_request_headers_stay_out_of_details(zoo: TestServer, ctx: ProbeContext) -> None:
    probe = spec(str(zoo.make_url("/status/500")), headers={"Authorization": "Bearer s3cr3t"})
    result = await probe_http(probe, ctx)
    assert result.reason is Reason.HTTP_STATUS
    assert "s3cr3t" not in result.detail


# --- phases -------------------------------------------------------------------------------


async def test_phases_plain_http(zoo: TestServer, ctx: ProbeContext) -> None:
    """A name lookup of LOOKUP seconds and 200 ms before the headers."""
    result = await probe_http(spec(f"http://zoo.test:{zoo.port}/delay/200"), ctx)
    assert result.success, result.detail
    phases = result.phases
    assert set(phases) == set(Phase)
    assert LOOKUP <= phases[Phase.RESOLVE] < LOOKUP + 0.1
    assert 0 < phases[Phase.CONNECT] < 0.1
    assert phases[Phase.TLS] == 0
    assert 0.2 <= phases[Phase.PROCESSING] < 0.3
    assert 0 <= phases[Phase.TRANSFER] < 0.1


async def test_phases_are_summed_over_redirects(
    zoo: TestServer, ctx: ProbeContext, resolver: ZooResolver
) -> None:
    """Three hops, each with its own lookup (no DNS cache), connection and STEP of waiting."""
    result = await probe_http(spec(f"http://zoo.test:{zoo.port}/slowhop/2"), ctx)
    assert result.success, result.detail
    assert resolver.lookups == ["zoo.test"] * 3
    assert 3 * LOOKUP <= result.phases[Phase.RESOLVE] < 3 * LOOKUP + 0.1
    assert 3 * STEP <= result.phases[Phase.PROCESSING] < 3 * STEP + 0.1


async def test_transfer_phase_covers_a_slow_body(zoo: TestServer, ctx: ProbeContext) -> None:
    result = await probe_http(spec(str(zoo.make_url("/slow-body/200"))), ctx)
    assert result.success, result.detail
    assert 0.2 <= result.phases[Phase.TRANSFER] < 0.3
    assert result.phases[Phase.PROCESSING] < 0.1


# --- TLS ----------------------------------------------------------------------------------

NOT_AFTER = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=90)
PAST = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)


class TlsZoo:
    """Three HTTPS zoos: a valid certificate for portal.dozor.test (expiring at NOT_AFTER),
    an expired one, and a self-signed one."""

    def __init__(self, pki: Pki, tmp: Path) -> None:
        self.pki, self.tmp = pki, tmp
        self.ca_file = pki.ca_file(tmp)
        self.servers: dict[str, TestServer] = {}

    async def start(self) -> TlsZoo:
        contexts = {
            "valid": self.pki.server_context("portal.dozor.test", not_after=NOT_AFTER),
            "expired": self.pki.server_context(
                "portal.dozor.test", not_before=PAST, not_after=PAST + dt.timedelta(days=1)),
            "self-signed": self.pki.self_signed_context(self.tmp),
        }
        for name, context in contexts.items():
            self.servers[name] = await start_zoo(context)
        return self

    async def close(self) -> None:
        for server in self.servers.values():
            await server.close()


@pytest.fixture
async def tls(pki: Pki, tmp_path: Path) -> AsyncIterator[TlsZoo]:
    zoo = await TlsZoo(pki, tmp_path).start()
    yield zoo
    await zoo.close()


# (id, server, host in the URL, tls options (ca_file True = the zoo CA), reason, detail regex)
TLS_CASES = [
    ("valid, verified by name", "valid", "portal.dozor.test", {"ca_file": True}, None, "^$"),
    ("valid, server_name given", "valid", "127.0.0.1",
     {"ca_file": True, "server_name": "portal.dozor.test"}, None, "^$"),
    ("wrong host", "valid", "127.0.0.1", {"ca_file": True},
     Reason.TLS, r"not accepted: .*mismatch.*127\.0\.0\.1"),
    ("untrusted issuer (system store)", "valid", "portal.dozor.test", {},
     Reason.TLS, "not accepted: unable to get local issuer certificate"),
    ("self-signed", "self-signed", "portal.dozor.test", {"ca_file": True},
     Reason.TLS, "not accepted: self.signed certificate"),
    ("expired", "expired", "portal.dozor.test", {"ca_file": True},
     Reason.TLS, "not accepted: certificate has expired"),
    ("insecure_skip_verify accepts self-signed", "self-signed", "127.0.0.1",
     {"insecure_skip_verify": True}, None, "^$"),
    ("insecure_skip_verify accepts expired", "expired", "127.0.0.1",
     {"insecure_skip_verify": True}, None, "^$"),
    ("unreadable ca_file", "valid", "portal.dozor.test", {"ca_file": "/nonexistent/ca.pem"},
     Reason.ERROR, "cannot load tls.ca_file '/nonexistent/ca.pem'"),
]


@pytest.mark.parametrize(
    ("server", "host", "options", "reason", "detail"),
    [c[1:] for c in TLS_CASES], ids=[c[0] for c in TLS_CASES],
)
async def test_https(
    tls: TlsZoo, ctx: ProbeContext, server: str, host: str, options: dict[str, Any],
    reason: Reason | None, detail: str,
) -> None:
    if options.get("ca_file") is True:
        options = {**options, "ca_file": tls.ca_file}
    url = f"https://{host}:{tls.servers[server].port}/ok"
    result = await probe_http(spec(url, tls=options, expect={"body_contains": OK_TEXT}), ctx)
    assert (result.reason, result.success) == (reason, reason is None), result.detail
    assert re.search(detail, result.detail), result.detail
    if reason is None:
        assert result.phases[Phase.CONNECT] > 0
        assert result.phases[Phase.TLS] > 0
        assert result.cert_expiry is not None
    elif reason is Reason.TLS:
        assert result.phases[Phase.PROCESSING] == 0  # no request went out


async def test_handshake_failure(zoo: TestServer, ctx: ProbeContext) -> None:
    """TLS spoken to a plain-HTTP server: not a certificate problem, still a TLS one."""
    result = await probe_http(spec(f"https://127.0.0.1:{zoo.port}/ok"), ctx)
    assert result.reason is Reason.TLS, result.detail
    assert result.detail.startswith(f"TLS handshake with 127.0.0.1:{zoo.port} failed: ")


async def test_cert_expiry_is_the_leafs_not_after(tls: TlsZoo, ctx: ProbeContext) -> None:
    url = f"https://portal.dozor.test:{tls.servers['valid'].port}/status/503"
    result = await probe_http(spec(url, tls={"ca_file": tls.ca_file}), ctx)
    assert result.reason is Reason.HTTP_STATUS  # reported on failures after the handshake too
    assert result.cert_expiry == NOT_AFTER.timestamp()


async def test_cert_expiry_without_verification(tls: TlsZoo, ctx: ProbeContext) -> None:
    url = f"https://127.0.0.1:{tls.servers['expired'].port}/ok"
    result = await probe_http(spec(url, tls={"insecure_skip_verify": True}), ctx)
    assert result.success, result.detail
    assert result.cert_expiry == (PAST + dt.timedelta(days=1)).replace(microsecond=0).timestamp()
