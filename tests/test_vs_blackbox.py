"""Dozor's verdicts side by side with the real blackbox_exporter's (harness/blackbox.py), against
the same local endpoints (harness/http_zoo.py, harness/dns_zoo.py, harness/tls_zoo.py), with the
same timeout, table-driven: HTTP(S), DNS, TCP (blackbox's query_response) and TLS (blackbox's
tcp prober with ``tls: true``). Dozor runs through ``run_probe`` with the real HTTP session.

Each row states Dozor's expected reason and blackbox's expected ``probe_success``. Where they
differ on purpose the row says why in one line; a row that differs without a reason fails
:func:`test_every_difference_is_explained`. ``pytest -s`` prints the agreement table and the
timing comparison; the timing figures themselves (phase medians, timeout overrun, Dozor vs
blackbox) are bench/blackbox_phases.py's, not asserted here.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import socket
import ssl
import statistics
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from harness.blackbox import Blackbox, version
from harness.dns_zoo import (
    ALIAS_NAME,
    DROP_NAME,
    GARBAGE_NAME,
    GOOD_NAME,
    NXDOMAIN_NAME,
    SERVFAIL_NAME,
    DnsZoo,
    closed_udp_port,
)
from harness.http_zoo import OK_TEXT, Pki, RawZoo, ZooResolver, start_zoo
from harness.stream_server import StreamServer
from harness.tls_zoo import BANNER, Zoo
from harness.tls_zoo import Target as StreamTarget
from harness.tools import print_table
from probes import PROBES, Phase, ProbeContext, ProbeResult, Reason, run_probe
from probes.dns import DnsSpec
from probes.http import HttpSpec
from probes.tcp import TcpSpec
from probes.tls import TlsSpec

pytestmark = pytest.mark.e2e  # starts the real blackbox_exporter

UA = "Dozor/test (+24/7 e-service monitor)"
# Placeholders in the tables, replaced by real paths: http_zoo's CA, and tls_zoo's.
CA = "<http zoo CA file>"
ZOO_CA = "<tls zoo CA file>"
HOST = "portal.dozor.test"  # the name on the zoo's certificates; reached as 127.0.0.1
PAST = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
TIMEOUT = 0.5  # seconds, both sides, for the cases that must run out of time
DEFAULT_TIMEOUT = 3.0


@dataclass(frozen=True)
class Case:
    """One endpoint probed by both. ``dozor``: the spec's fields besides the target (url,
    server, address); ``module``: the blackbox module's ``<prober>:`` section; ``series``:
    blackbox series that must hold."""

    id: str
    server: str  # which endpoint: see Endpoints.target
    path: str  # HTTP only
    dozor: Mapping[str, Any]
    module: Mapping[str, Any]
    reason: Reason | None  # Dozor's verdict: None is success
    blackbox: bool  # blackbox's probe_success
    why: str = ""  # one line, required exactly when the verdicts differ
    timeout: float = DEFAULT_TIMEOUT
    series: Mapping[str, float] = field(default_factory=dict)
    kind: str = "http"  # Dozor's probe kind; blackbox's prober is BLACKBOX_PROBER[kind]

    @property
    def agree(self) -> bool:
        return (self.reason is None) == self.blackbox

    @property
    def module_name(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "_", self.id.lower()).strip("_")
        return f"{self.kind}_{slug}"


VERIFY = {"ca_file": CA, "server_name": HOST}
SKIP_VERIFY = {"insecure_skip_verify": True}
BB_VERIFY = {"tls_config": VERIFY}
BB_SKIP = {"tls_config": SKIP_VERIFY}
CAP = 1_000_000

HTTP_CASES = [
    Case("200", "zoo", "/ok", {}, {}, None, True,
         series={"probe_http_status_code": 200}),
    Case("404", "zoo", "/status/404", {}, {}, Reason.HTTP_STATUS, False,
         series={"probe_http_status_code": 404}),
    Case("500", "zoo", "/status/500", {}, {}, Reason.HTTP_STATUS, False,
         series={"probe_http_status_code": 500}),
    Case("404 listed as valid", "zoo", "/status/404", {"expect": {"status": [404]}},
         {"valid_status_codes": [404]}, None, True),
    Case("redirect chain of 3", "zoo", "/redirect/3", {}, {}, None, True,
         series={"probe_http_redirects": 3, "probe_http_status_code": 200}),
    Case("redirect chain of 10 (the limit)", "zoo", "/redirect/10", {}, {}, None, True,
         series={"probe_http_redirects": 10}),
    Case("redirect chain of 11", "zoo", "/redirect/11", {}, {}, Reason.ERROR, False),
    Case("redirect loop", "zoo", "/loop", {}, {}, Reason.ERROR, False),
    Case("redirect not followed", "zoo", "/redirect/1", {"follow_redirects": False},
         {"follow_redirects": False}, Reason.HTTP_STATUS, False,
         series={"probe_http_status_code": 302}),
    Case("redirect not followed, 302 valid", "zoo", "/redirect/1",
         {"follow_redirects": False, "expect": {"status": [302]}},
         {"follow_redirects": False, "valid_status_codes": [302]}, None, True),
    Case("hang past the timeout", "raw", "/hang", {}, {}, Reason.TIMEOUT, False,
         timeout=TIMEOUT),
    Case("body trickle past the timeout", "zoo", f"/slow-body/{int(TIMEOUT * 3000)}", {}, {},
         Reason.TIMEOUT, False, timeout=TIMEOUT),
    Case("slow body within the timeout", "zoo", "/slow-body/200", {}, {}, None, True),
    Case("connection refused", "refused", "/", {}, {}, Reason.CONNECT, False),
    Case("reset before the response", "raw", "/reset-before-response", {}, {},
         Reason.CONNECT, False),
    Case("reset mid-body", "raw", "/reset-mid-body", {}, {}, Reason.ERROR, False),
    Case("closed mid-body", "raw", "/close-mid-body", {}, {}, Reason.ERROR, False),
    Case("bad status line", "raw", "/bad-status-line", {}, {}, Reason.ERROR, False),
    Case("20 kB header line", "raw", "/huge-header", {}, {}, None, True),
    Case("12 KiB Content-Security-Policy header", "raw", "/csp-12k", {}, {}, None, True),
    Case("300 KiB Set-Cookie header", "raw", "/huge-cookie", {}, {}, Reason.ERROR, True,
         why="Dozor caps a header field at 256 KiB (Chromium's limit for all headers); Go's "
             "client allows 10 MiB"),
    Case("body exactly at the cap", "zoo", f"/big/{CAP}", {"max_body_bytes": CAP},
         {"body_size_limit": f"{CAP}B"}, None, True),
    Case("oversized body (Content-Length)", "zoo", f"/big/{5 * CAP}", {"max_body_bytes": CAP},
         {"body_size_limit": f"{CAP}B"}, Reason.BODY_TOO_LARGE, False),
    Case("oversized body (chunked)", "zoo", f"/big-chunked/{5 * CAP}",
         {"max_body_bytes": CAP}, {"body_size_limit": f"{CAP}B"},
         Reason.BODY_TOO_LARGE, False),
    Case("body regex hit", "zoo", "/ok", {"expect": {"body_regex": r"Запись\s+в"}},
         {"fail_if_body_not_matches_regexp": [r"Запись\s+в"]}, None, True,
         series={"probe_failed_due_to_regex": 0}),
    Case("body regex miss", "zoo", "/ok", {"expect": {"body_regex": r"^\d+$"}},
         {"fail_if_body_not_matches_regexp": [r"^\d+$"]}, Reason.ASSERTION, False,
         series={"probe_failed_due_to_regex": 1}),
    Case("forbidden body text present", "zoo", "/ok",
         {"expect": {"body_not_contains": "открыта"}},
         {"fail_if_body_matches_regexp": ["открыта"]}, Reason.ASSERTION, False,
         series={"probe_failed_due_to_regex": 1}),
    Case("header regex miss", "zoo", "/ok", {"expect": {"headers": {"X-Service": "^gosu"}}},
         {"fail_if_header_not_matches": [{"header": "X-Service", "regexp": "^gosu"}]},
         Reason.ASSERTION, False),
    # --- HTTPS: the zoo's certificates name portal.dozor.test; the URL says 127.0.0.1.
    Case("valid certificate", "valid", "/ok", {"tls": VERIFY}, BB_VERIFY, None, True,
         series={"probe_http_ssl": 1}),
    Case("self-signed", "self-signed", "/ok", {"tls": VERIFY}, BB_VERIFY, Reason.TLS, False),
    Case("self-signed, verification off", "self-signed", "/ok", {"tls": SKIP_VERIFY},
         BB_SKIP, None, True),
    Case("expired", "expired", "/ok", {"tls": VERIFY}, BB_VERIFY, Reason.TLS, False),
    Case("expired, verification off", "expired", "/ok", {"tls": SKIP_VERIFY}, BB_SKIP,
         None, True),
    Case("wrong host", "valid", "/ok", {"tls": {"ca_file": CA}},
         {"tls_config": {"ca_file": CA}}, Reason.TLS, False),
    Case("untrusted issuer (system store)", "valid", "/ok", {"tls": {"server_name": HOST}},
         {"tls_config": {"server_name": HOST}}, Reason.TLS, False),
    Case("TLS spoken to plain HTTP", "zoo-as-https", "/ok", {}, {}, Reason.TLS, False),
    Case("TLS 1.0-only server", "tls1.0", "/ok", {"tls": {"ca_file": ZOO_CA}},
         {"tls_config": {"ca_file": ZOO_CA}}, Reason.TLS, False),
    Case("TLS 1.0-only server, min_version TLS10", "tls1.0", "/ok", {"tls": {"ca_file": ZOO_CA}},
         {"tls_config": {"ca_file": ZOO_CA, "min_version": "TLS10"}}, Reason.TLS, True,
         why="Dozor's HTTP probe has no min_version knob: TLS below 1.2 always fails"),
]


def _dns(name: str, qtype: str = "A", **expect: Any) -> dict[str, Any]:
    return {"query_name": name, "query_type": qtype, **({"expect": expect} if expect else {})}


def _bb_dns(name: str, qtype: str = "A", **more: Any) -> dict[str, Any]:
    return {"query_name": name, "query_type": qtype, **more}


DNS_CASES = [
    Case("dns A record", "dns", "", _dns(GOOD_NAME), _bb_dns(GOOD_NAME), None, True,
         kind="dns", series={"probe_dns_answer_rrs": 2}),
    Case("dns CNAME chased", "dns", "", _dns(ALIAS_NAME), _bb_dns(ALIAS_NAME), None, True,
         kind="dns", series={"probe_dns_answer_rrs": 3}),
    Case("dns over TCP", "dns", "", {**_dns(GOOD_NAME, "MX"), "transport": "tcp"},
         _bb_dns(GOOD_NAME, "MX", transport_protocol="tcp"), None, True, kind="dns"),
    Case("dns NXDOMAIN", "dns", "", _dns(NXDOMAIN_NAME), _bb_dns(NXDOMAIN_NAME),
         Reason.DNS, False, kind="dns"),
    Case("dns NXDOMAIN listed as valid", "dns", "", _dns(NXDOMAIN_NAME, rcode=["NXDOMAIN"]),
         _bb_dns(NXDOMAIN_NAME, valid_rcodes=["NXDOMAIN"]), None, True, kind="dns",
         series={"probe_dns_authority_rrs": 1}),
    Case("dns SERVFAIL", "dns", "", _dns(SERVFAIL_NAME), _bb_dns(SERVFAIL_NAME),
         Reason.DNS, False, kind="dns"),
    Case("dns REFUSED (name outside the zone)", "dns", "", _dns("gosuslugi.example."),
         _bb_dns("gosuslugi.example."), Reason.DNS, False, kind="dns"),
    Case("dns answer regex hit", "dns", "", _dns(GOOD_NAME, answers_match=[r"\tA\t127\.0\.0\.2$"]),
         _bb_dns(GOOD_NAME, validate_answer_rrs={
             "fail_if_none_matches_regexp": [r"\tA\t127\.0\.0\.2$"]}),
         None, True, kind="dns"),
    Case("dns answer regex miss", "dns", "", _dns(GOOD_NAME, answers_match=[r"127\.0\.0\.9"]),
         _bb_dns(GOOD_NAME, validate_answer_rrs={"fail_if_none_matches_regexp": [r"127\.0\.0\.9"]}),
         Reason.ASSERTION, False, kind="dns"),
    Case("dns forbidden answer present", "dns", "",
         _dns(GOOD_NAME, answers_not_match=[r"127\.0\.0\.1$"]),
         _bb_dns(GOOD_NAME, validate_answer_rrs={"fail_if_matches_regexp": [r"127\.0\.0\.1$"]}),
         Reason.ASSERTION, False, kind="dns"),
    Case("dns no reply past the timeout", "dns", "", _dns(DROP_NAME), _bb_dns(DROP_NAME),
         Reason.TIMEOUT, False, kind="dns", timeout=TIMEOUT),
    Case("dns garbage reply", "dns", "", _dns(GARBAGE_NAME), _bb_dns(GARBAGE_NAME),
         Reason.ERROR, False, kind="dns", timeout=TIMEOUT),
    Case("dns server port closed", "dns-closed", "", _dns(GOOD_NAME), _bb_dns(GOOD_NAME),
         Reason.CONNECT, False, kind="dns"),
]


# --- TCP and TLS: harness/tls_zoo.py's servers (ZOO_CA trusts them); blackbox's tcp prober

GREETED = {"expect": f"^{BANNER}"}


def _tcp(*steps: Mapping[str, Any], **more: Any) -> dict[str, Any]:
    return {"query_response": list(steps), **more}


STREAM_CASES = [
    Case("tcp connect", "tcp:banner", "", {}, {}, None, True, kind="tcp"),
    Case("tcp banner match", "tcp:banner", "", _tcp(GREETED), _tcp(GREETED), None, True,
         kind="tcp"),
    Case("tcp send and expect", "tcp:banner", "",
         _tcp(GREETED, {"send": "QUIT\r\n"}, {"expect": "^221 bye"}),
         _tcp(GREETED, {"send": "QUIT"}, {"expect": "^221 bye"}), None, True, kind="tcp"),
    Case("tcp banner mismatch", "tcp:banner", "", _tcp({"expect": "^220 gosuslugi"}),
         _tcp({"expect": "^220 gosuslugi"}), Reason.TIMEOUT, False, kind="tcp",
         timeout=TIMEOUT),  # the server waits for a command after its banner
    Case("tcp banner mismatch, server closes", "tcp:banner", "",
         _tcp({"send": "QUIT\r\n"}, {"expect": "^220 gosuslugi"}),
         _tcp({"send": "QUIT"}, {"expect": "^220 gosuslugi"}), Reason.ASSERTION, False,
         kind="tcp"),
    Case("tcp closed at once", "tcp:closer", "", _tcp(GREETED), _tcp(GREETED),
         Reason.ASSERTION, False, kind="tcp"),
    Case("tcp silent server", "tcp:silent", "", _tcp(GREETED), _tcp(GREETED),
         Reason.TIMEOUT, False, kind="tcp", timeout=TIMEOUT),
    Case("tcp endless line", "tcp:flood", "", _tcp(GREETED), _tcp(GREETED),
         Reason.ERROR, False, kind="tcp"),
    Case("tcp endless chatter", "tcp:chatter", "", _tcp(GREETED), _tcp(GREETED),
         Reason.ASSERTION, False, kind="tcp"),
    Case("tcp connection refused", "tcp:refused", "", {}, {}, Reason.CONNECT, False,
         kind="tcp"),
    Case("tcp STARTTLS", "tcp:banner", "",
         _tcp(GREETED, {"send": "STARTTLS\r\n"}, {"expect": "^220 ready"}, {"starttls": True},
              {"send": "QUIT\r\n"}, {"expect": "^221"}, tls_config={"ca_file": ZOO_CA}),
         _tcp(GREETED, {"send": "STARTTLS"}, {"expect": "^220 ready"}, {"starttls": True},
              {"send": "QUIT"}, {"expect": "^221"}, tls_config={"ca_file": ZOO_CA}),
         None, True, kind="tcp"),
    Case("tcp over TLS", "tcp:valid", "",
         _tcp(GREETED, tls=True, tls_config={"ca_file": ZOO_CA}),
         _tcp(GREETED, tls=True, tls_config={"ca_file": ZOO_CA}), None, True, kind="tcp"),
]


def _tls(min_version: str | None = None, **options: Any) -> dict[str, Any]:
    """A Dozor TlsSpec's fields (the zoo CA unless told otherwise)."""
    fields = {"ca_file": ZOO_CA, **options}
    return {**fields, "min_version": min_version} if min_version else fields


def _bb_tls(min_version: str | None = None, **options: Any) -> dict[str, Any]:
    """The same for blackbox: a tcp module with ``tls: true``."""
    config = {"ca_file": ZOO_CA, **options}
    if min_version:
        config["min_version"] = min_version
    return {"tls": True, "tls_config": config}


TLS_CASES = [
    Case("tls valid", "tls:valid", "", _tls(), _bb_tls(), None, True, kind="tls",
         series={'probe_tls_version_info{version="TLS 1.3"}': 1}),
    Case("tls earliest expiry is the intermediate's", "tls:short_intermediate", "", _tls(),
         _bb_tls(), None, True, kind="tls"),
    Case("tls expired", "tls:expired", "", _tls(), _bb_tls(), Reason.TLS, False, kind="tls"),
    Case("tls expired, verification off", "tls:expired", "",
         {"insecure_skip_verify": True}, {"tls": True, "tls_config": SKIP_VERIFY},
         None, True, kind="tls"),
    Case("tls self-signed", "tls:self_signed", "", _tls(), _bb_tls(), Reason.TLS, False,
         kind="tls"),
    Case("tls wrong host", "tls:wrong_host", "", _tls(), _bb_tls(), Reason.TLS, False,
         kind="tls"),
    Case("tls untrusted issuer (system store)", "tls:valid", "", {}, {"tls": True},
         Reason.TLS, False, kind="tls"),
    Case("tls 1.2 at most", "tls:tls12_max", "", _tls(), _bb_tls(), None, True, kind="tls",
         series={'probe_tls_version_info{version="TLS 1.2"}': 1}),
    Case("tls 1.2 at most, min_version 1.3", "tls:tls12_max", "", _tls("TLS1.3"),
         _bb_tls("TLS13"), Reason.TLS, False, kind="tls"),
    Case("tls 1.0-only server", "tls:tls10_only", "", _tls(), _bb_tls(), Reason.TLS, False,
         kind="tls"),
    Case("tls 1.0-only server, min_version 1.0", "tls:tls10_only", "", _tls("TLS1.0"),
         _bb_tls("TLS10"), None, True, kind="tls",
         series={'probe_tls_version_info{version="TLS 1.0"}': 1}),
    Case("tls connection refused", "tcp:refused", "", _tls(), _bb_tls(), Reason.CONNECT,
         False, kind="tls"),
    Case("tls spoken to a plain server", "tcp:banner", "", _tls(), _bb_tls(), Reason.TLS,
         False, kind="tls"),
]

CASES = [*HTTP_CASES, *DNS_CASES, *STREAM_CASES, *TLS_CASES]


# blackbox has no TLS prober of its own: a tcp module with `tls: true` is its TLS check.
BLACKBOX_PROBER = {"http": "http", "dns": "dns", "tcp": "tcp", "tls": "tcp"}
Spec = HttpSpec | DnsSpec | TcpSpec | TlsSpec


def _fill(value: Any, files: Mapping[str, str]) -> Any:
    """The tables with the CA placeholders replaced by real paths."""
    if isinstance(value, str):
        return files.get(value, value)
    if isinstance(value, Mapping):
        return {k: _fill(v, files) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, files) for v in value]
    return value


def _module(case: Case, files: Mapping[str, str]) -> dict[str, Any]:
    prober = BLACKBOX_PROBER[case.kind]
    return {"prober": prober, "timeout": f"{round(case.timeout * 1000)}ms",
            prober: {"preferred_ip_protocol": "ip4", **_fill(case.module, files)}}


def _spec(case: Case, target: str, files: Mapping[str, str]) -> Spec:
    fields = _fill(case.dozor, files)
    if case.kind == "dns":
        return DnsSpec.model_validate({"server": target, **fields})
    if case.kind == "tcp":
        return TcpSpec.model_validate({"address": target, **fields})
    if case.kind == "tls":
        return TlsSpec.model_validate({"address": target, **fields})
    return HttpSpec.model_validate({"url": target, **fields})


# --- endpoints ----------------------------------------------------------------------------


_TLS10_RESPONSE = (
    f"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
    f"Content-Length: {len(OK_TEXT.encode())}\r\nConnection: close\r\n\r\n{OK_TEXT}"
).encode()


@dataclass
class Tls10Server(StreamServer):
    """HTTPS limited to TLS 1.0, answering OK_TEXT. The handshake runs on an SSLObject over
    a plain stream because asyncio's own TLS server aborts a failed handshake without
    flushing the protocol_version alert: the client would see a bare TCP reset, which no
    real server sends."""

    context: ssl.SSLContext

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)

        async def pump() -> bool:
            """Send what TLS wrote, feed it what arrived; False once the peer is gone."""
            writer.write(outgoing.read())
            await writer.drain()
            data = await reader.read(65536)
            incoming.write(data)
            return bool(data)

        try:
            for _ in range(20):  # a handshake takes a few round trips
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    if not await pump():
                        return
            request = b""
            for _ in range(20):
                try:
                    request += tls.read(65536)
                except ssl.SSLWantReadError:
                    if not await pump():
                        return
                if b"\r\n\r\n" in request:
                    tls.write(_TLS10_RESPONSE)
                    break
        except ssl.SSLError:
            pass  # the handshake failed: the alert is in `outgoing`
        except ConnectionError:
            return
        finally:
            with contextlib.suppress(ConnectionError):
                writer.write(outgoing.read())
                await writer.drain()
            writer.close()


class Endpoints:
    """Starts the server a case needs; ``close`` stops them all."""

    def __init__(self, pki: Pki, streams: Zoo, workdir: Path) -> None:
        self.pki, self.streams, self.workdir = pki, streams, workdir
        self._servers: list[TestServer] = []
        self._raw: RawZoo | None = None
        self._refused: socket.socket | None = None
        self._tls10: Tls10Server | None = None
        self._dns: DnsZoo | None = None

    async def target(self, server: str, path: str = "") -> str:
        """What the probes are pointed at: a URL, or host:port for DNS, TCP and TLS."""
        if server == "tcp:refused":
            return f"127.0.0.1:{self._closed_port()}"
        if server.startswith(("tcp:", "tls:")):
            target: StreamTarget = getattr(self.streams, server[4:])
            return target.address
        if server == "dns":
            self._dns = await DnsZoo().start()
            return self._dns.server
        if server == "dns-closed":
            self._refused, port = closed_udp_port()
            return f"127.0.0.1:{port}"
        if server == "raw":
            self._raw = await RawZoo().start()
            return self._raw.url(path)
        if server == "refused":
            return f"http://127.0.0.1:{self._closed_port()}{path}"
        if server == "tls1.0":  # tls_zoo's TLS 1.0-only certificate and settings, over HTTP
            self._tls10 = await Tls10Server(self.streams.contexts["tls10_only"]).start()
            return f"https://127.0.0.1:{self._tls10.port}{path}"
        contexts = {
            "zoo": None,
            "zoo-as-https": None,
            "valid": lambda: self.pki.server_context(HOST),
            "expired": lambda: self.pki.server_context(
                HOST, not_before=PAST, not_after=PAST + dt.timedelta(days=1)),
            "self-signed": lambda: self.pki.self_signed_context(self.workdir),
        }
        make = contexts[server]
        zoo = await start_zoo(make() if make else None)
        self._servers.append(zoo)
        scheme = "http" if server == "zoo" else "https"
        return f"{scheme}://127.0.0.1:{zoo.port}{path}"

    def _closed_port(self) -> int:
        """Bound but not listening: connecting is refused, and nobody else can take it."""
        self._refused = socket.socket()
        self._refused.bind(("127.0.0.1", 0))
        port: int = self._refused.getsockname()[1]
        return port

    async def close(self) -> None:
        for zoo in self._servers:
            await zoo.close()
        if self._raw is not None:
            await self._raw.close()
        if self._refused is not None:
            self._refused.close()
        if self._tls10 is not None:
            await self._tls10.close()
        if self._dns is not None:
            await self._dns.close()


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vs-blackbox")


@pytest.fixture(scope="module")
def ca_file(pki: Pki, workdir: Path) -> str:
    return pki.ca_file(workdir)


@pytest.fixture(scope="module")
def files(ca_file: str, streams: Zoo) -> dict[str, str]:
    return {CA: ca_file, ZOO_CA: streams.ca_file}


@pytest.fixture(scope="module")
def blackbox(workdir: Path, files: dict[str, str]) -> Iterator[Blackbox]:
    modules = {case.module_name: _module(case, files) for case in CASES}
    modules["timing"] = {"prober": "http", "timeout": "5s",
                         "http": {"preferred_ip_protocol": "ip4"}}
    modules["cut"] = {"prober": "http", "timeout": f"{round(TIMEOUT * 1000)}ms",
                      "http": {"preferred_ip_protocol": "ip4"}}
    with Blackbox(modules, workdir) as running:
        yield running


@pytest.fixture(scope="module")
def agreement() -> Iterator[list[tuple[str, str, str, str]]]:
    """Rows of the agreement table, printed once the module's cases have run."""
    rows: list[tuple[str, str, str, str]] = []
    yield rows
    if rows:
        print(f"\n\nDozor vs {version()}")
        print_table(("case", "Dozor", "blackbox", "agree?"), rows)


@pytest.fixture
def resolver() -> ZooResolver:
    # IP literals never reach the resolver; a table one makes sure no name leaves the machine.
    return ZooResolver({HOST: "127.0.0.1"})


@pytest.fixture
async def endpoints(pki: Pki, streams: Zoo, workdir: Path) -> AsyncIterator[Endpoints]:
    started = Endpoints(pki, streams, workdir)
    yield started
    await started.close()


async def _dozor(
    spec: Spec, ctx: ProbeContext, timeout: float
) -> tuple[ProbeResult, float]:
    return await run_probe(PROBES[type(spec)], spec, ctx, timeout)


# --- verdicts -----------------------------------------------------------------------------


def test_every_difference_is_explained() -> None:
    for case in CASES:
        assert case.agree != bool(case.why), f"{case.id}: `why` exactly when verdicts differ"
    assert len({case.module_name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_verdicts(
    case: Case, blackbox: Blackbox, ctx: ProbeContext, endpoints: Endpoints,
    files: dict[str, str],
    agreement: list[tuple[str, str, str, str]], record_property: Any,
) -> None:
    target = await endpoints.target(case.server, case.path)
    result, took = await _dozor(_spec(case, target, files), ctx, case.timeout)
    series = await blackbox.probe(target, case.module_name)

    dozor_says = "success" if result.success else f"failure: {result.reason}"
    blackbox_says = "success" if series["probe_success"] == 1 else "failure"
    verdict = "agree" if case.agree else f"differ: {case.why}"
    agreement.append((case.id, dozor_says, blackbox_says, verdict))
    record_property("dozor", f"{dozor_says} {result.detail}".strip())
    record_property("blackbox", blackbox_says)

    assert (result.success, result.reason) == (case.reason is None, case.reason), result.detail
    assert series["probe_success"] == float(case.blackbox), await blackbox.debug(
        target, case.module_name)
    for name, value in case.series.items():
        assert series[name] == value, name
    if case.reason is Reason.TIMEOUT:
        # The same budget on both sides, both used all of it (never early: load only delays a
        # timer) and both were cut by it (no client timeout is set: uncut is a hang, so 5 s
        # cannot flake). How far past it: bench/blackbox_phases.py.
        assert case.timeout <= took < case.timeout + 5
        # Blackbox sets its deadline before it starts its clock, so its own duration may read
        # a little under the timeout (0.498 s of 0.5 s seen): for it only "it waited, then it
        # was cut" is causal, not "never early".
        assert case.timeout / 2 <= series["probe_duration_seconds"] < case.timeout + 5
    expiry = series.get("probe_ssl_earliest_cert_expiry")
    tls = target.startswith("https://") or case.server.startswith("tls:")
    if tls and result.success and case.blackbox:  # both completed a handshake: both read it
        assert expiry is not None and result.cert_expiry is not None, (expiry, result)
    if expiry is not None and result.cert_expiry is not None:
        assert result.cert_expiry == expiry  # the same chain, read the same way
    if case.server.startswith("tls:") and case.blackbox:
        served = endpoints.streams.not_after[case.server[4:]].timestamp()
        assert expiry == served  # the earliest in the chain, an intermediate's included
        assert result.cert_expiry == served  # Dozor read it too, not only blackbox


# --- phases of a run cut off by its timeout --------------------------------------------------

CUT_PHASES = (Phase.CONNECT, Phase.PROCESSING, Phase.TRANSFER)


@pytest.mark.parametrize(
    ("path", "reached"),
    [("/hang", {Phase.CONNECT}),
     ("/trickle", {Phase.CONNECT, Phase.PROCESSING, Phase.TRANSFER})],
    ids=["accepted, never answered", "chunked body trickling forever"],
)
async def test_phases_of_a_timed_out_run_match_blackbox(
    blackbox: Blackbox, ctx: ProbeContext, endpoints: Endpoints, path: str, reached: set[Phase]
) -> None:
    """Both cut off by the same timeout report the same phases as reached (> 0): presence,
    not closeness (the figures are bench/blackbox_phases.py's)."""
    url = await endpoints.target("raw", path)
    result, _ = await _dozor(HttpSpec.model_validate({"url": url}), ctx, TIMEOUT)
    series = await blackbox.probe(url, "cut")
    assert result.reason is Reason.TIMEOUT, result.detail
    assert series["probe_success"] == 0
    ours = {phase for phase in CUT_PHASES if result.phases.get(phase, 0) > 0}
    theirs = {phase for phase in CUT_PHASES
              if series[f'probe_http_duration_seconds{{phase="{phase}"}}'] > 0}
    assert ours == reached, result.phases
    assert theirs == reached, series


# --- timing -------------------------------------------------------------------------------

DELAY_MS = 300
RUNS = 10
PHASES = ("connect", "processing", "transfer")


async def test_timing_matches_blackbox(
    blackbox: Blackbox, ctx: ProbeContext, endpoints: Endpoints, record_property: Any
) -> None:
    """A plain-HTTP endpoint that waits DELAY_MS before its headers, probed RUNS times by
    each, alternating: both report the same phases, each non-negative, within the run's
    total, and both see the delay in processing. How close the figures are is a timing
    figure, printed (not asserted) by bench/blackbox_phases.py."""
    url = await endpoints.target("zoo", f"/delay/{DELAY_MS}")
    spec = HttpSpec.model_validate({"url": url, "expect": {"body_contains": OK_TEXT}})
    ours: dict[str, list[float]] = {name: [] for name in (*PHASES, "total")}
    theirs: dict[str, list[float]] = {name: [] for name in (*PHASES, "total")}
    for _ in range(RUNS):
        result, took = await _dozor(spec, ctx, 5.0)
        assert result.success, result.detail
        assert {Phase(name) for name in PHASES} <= set(result.phases), result.phases
        for name in PHASES:
            ours[name].append(result.phases[Phase(name)])
        ours["total"].append(took)
        # Sub-intervals of the run, one after the other: structure, not closeness.
        assert all(ours[name][-1] >= 0 for name in PHASES), result.phases
        assert sum(ours[name][-1] for name in PHASES) <= took, (result.phases, took)

        series = await blackbox.probe(url, "timing")
        assert series["probe_success"] == 1
        for name in PHASES:
            theirs[name].append(series[f'probe_http_duration_seconds{{phase="{name}"}}'])
        theirs["total"].append(series["probe_duration_seconds"])
        assert all(theirs[name][-1] >= 0 for name in PHASES), series

    rows = []
    for name in (*PHASES, "total"):
        dozor, bb = statistics.median(ours[name]), statistics.median(theirs[name])
        rows.append((name, f"{dozor * 1000:.2f}", f"{bb * 1000:.2f}",
                     f"{(dozor - bb) * 1000:+.2f}"))
        record_property(f"median_{name}_ms", f"dozor={dozor * 1000:.2f} bb={bb * 1000:.2f}")
    print(f"\n\nmedians over {RUNS} runs each, /delay/{DELAY_MS}, ms ({version()})")
    print_table(("phase", "Dozor", "blackbox", "diff"), rows)
    # The delay is measured, by both: the server sleeps DELAY_MS after reading the request,
    # so processing cannot be shorter (load only makes it longer: cannot flake).
    assert min(ours["processing"]) >= DELAY_MS / 1000, ours["processing"]
    assert statistics.median(theirs["processing"]) >= DELAY_MS / 1000
