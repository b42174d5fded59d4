"""The HTTP client every HTTP probe shares, and what one probe run observes through it.

The session's connector opens a fresh connection for every request (``force_close``) and
keeps no DNS cache, so each run pays for and measures resolve, connect and TLS. Phases have
blackbox_exporter's meaning and are summed over redirects:

- resolve: DNS lookup (aiohttp's ``dns_resolvehost`` trace; zero for an IP literal);
- connect: TCP connect, timed in the connector (aiohttp's traces do not split TCP from TLS);
- tls: the TLS handshake, timed in the connector;
- processing: connection ready until the response headers arrive (request write + server);
- transfer: response headers until the body is fully read (reported by the probe).

One run's state (:class:`HttpExchange`: phase clock, earliest certificate expiry, cookies)
travels in a ContextVar that the probe binds, because the connector, where TCP and TLS are
separated, gets no trace context. Everything runs in the probe's own task, so the binding is
seen by the connector, the trace callbacks and the cookie jar alike.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from http.cookies import BaseCookie
from types import SimpleNamespace
from typing import Any

import aiohappyeyeballs
import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ClientRequest
from aiohttp.typedefs import LooseCookies
from yarl import URL

from probes._deny import DeniedNetworks, refused
from probes._result import Phase, PhaseRecord
from probes._run import phase_record
from probes._tls import earliest_expiry

# RFC 8305's "Connection Attempt Delay", aiohttp's default too.
_HAPPY_EYEBALLS_DELAY = 0.25
# Response header limits: a hostile or broken target must not make us buffer without bound,
# but a page that browsers load must not fail here. aiohttp's default (8190 bytes per field)
# fails real pages (a 12 KiB Content-Security-Policy). Chromium accepts a response header
# block of up to 256 KiB in total, so no single field a browser accepts can be larger; Go's
# client (blackbox_exporter) allows 10 MiB (http.Transport's MaxResponseHeaderBytes; the 1 MiB
# DefaultMaxHeaderBytes is its server's). aiohttp limits each field and the count, not the
# total: the worst a target can make one run buffer is MAX_HEADERS * MAX_FIELD_SIZE (32 MiB).
MAX_FIELD_SIZE = 256 * 1024  # a header's name and value together
MAX_LINE_SIZE = MAX_FIELD_SIZE  # the status line
MAX_HEADERS = 128

# A ContextVar is the documented way to carry per-task state; it holds no data itself.
_EXCHANGE: ContextVar[HttpExchange | None] = ContextVar("dozor_http_exchange", default=None)


def _empty_jar() -> aiohttp.CookieJar:
    # unsafe=True: targets addressed by IP literal may set cookies too.
    return aiohttp.CookieJar(unsafe=True)


@dataclass(eq=False)
class HttpExchange:
    """What one probe run observes through the shared session. Phases go to the run's
    :class:`PhaseRecord`, so a run cut off by its timeout keeps them: everything completed,
    and a body's transfer up to the cut. Processing without a first byte is not counted
    (blackbox_exporter reports none either: it ends at the first byte, which never came)."""

    record: PhaseRecord = field(default_factory=phase_record)
    # Earliest notAfter (unix seconds) in the chains served over every TLS connection of the run.
    cert_expiry: float | None = None
    # The run's own cookies: a login redirect may set one, no other probe or run sees it.
    # Made at the first cookie set (``cookies``): most runs get none.
    jar: aiohttp.CookieJar | None = None
    _ready_at: float | None = None

    def __post_init__(self) -> None:
        for phase in Phase:  # every phase is reported, as blackbox_exporter does
            self.record.phases.setdefault(phase, 0.0)

    @property
    def cookies(self) -> aiohttp.CookieJar:
        if self.jar is None:
            self.jar = _empty_jar()
        return self.jar

    @property
    def phases(self) -> dict[Phase, float]:
        return self.record.phases

    @contextmanager
    def bound(self) -> Iterator[HttpExchange]:
        """Make this the exchange that requests made by the current task report to."""
        token = _EXCHANGE.set(self)
        try:
            yield self
        finally:
            _EXCHANGE.reset(token)

    def add(self, phase: Phase, seconds: float) -> None:
        self.record.add(phase, seconds)

    def connection_ready(self, at: float) -> None:
        self._ready_at = at
        self.record.drop()  # a redirect's body is never read: its transfer is not counted

    def response_started(self, at: float) -> None:
        if self._ready_at is not None:
            self.add(Phase.PROCESSING, at - self._ready_at)
            self._ready_at = None
        self.record.begin(Phase.TRANSFER, at)

    def body_read(self, at: float) -> None:
        self.record.end(at)

    def saw_expiry(self, expiry: float | None) -> None:
        if expiry is not None:
            self.cert_expiry = expiry if self.cert_expiry is None else min(self.cert_expiry, expiry)


class DeniedConnection(aiohttp.ClientConnectionError):
    """Every address of a request's host (the URL's or a redirect's) is in a denied network:
    nothing was connected to. Not a ClientConnectorError, so aiohttp does not try the next
    address: there is none left that may be tried."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class _TimedConnector(aiohttp.TCPConnector):
    """Splits aiohttp's connection set-up in two timed steps: the TCP connect (the same
    happy-eyeballs call aiohttp makes) and the TLS handshake over that socket (aiohttp's own
    ``_wrap_existing_connection``, which keeps its exception mapping to
    ClientConnectorError / ClientConnectorCertificateError / ClientConnectorSSLError).

    Before connecting it drops the resolved addresses in a denied network (``deny``), from
    aiohttp's own list, so its retry of the next address never reaches them either, and
    raises :class:`DeniedConnection` when none is left. Every connection of the session
    comes here, each redirect hop's too, after resolution (IP literals included).

    Relies on aiohttp 3.x internals: ``_create_direct_connection`` calls
    ``_wrap_create_connection(factory, *, addr_infos, req, timeout, client_error, ssl,
    server_hostname)`` with the list it retries from. The phase tests fail loudly if that
    ever stops being called, the deny tests if the list stops being the one retried."""

    def __init__(self, *, deny: DeniedNetworks, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deny = deny

    async def _wrap_create_connection(
        self,
        *args: Any,
        addr_infos: list[aiohappyeyeballs.AddrInfoType],
        req: ClientRequest,
        timeout: aiohttp.ClientTimeout,
        client_error: type[Exception] = aiohttp.ClientConnectorError,
        **kwargs: Any,
    ) -> tuple[asyncio.Transport, ResponseHandler]:
        if self.deny:
            allowed, refusals = self.deny.screen(addr_infos)
            if refusals:
                addr_infos[:] = allowed
            if not allowed:
                raise DeniedConnection(refused(req.host, req.port, refusals))
        exchange = _EXCHANGE.get()
        started = time.perf_counter()
        try:
            sock = await aiohappyeyeballs.start_connection(
                addr_infos=addr_infos,
                happy_eyeballs_delay=_HAPPY_EYEBALLS_DELAY,
                loop=asyncio.get_running_loop(),
            )
        except OSError as exc:
            if exc.errno is None and isinstance(exc, TimeoutError):
                raise
            raise client_error(req.connection_key, exc) from exc
        finally:
            connected = time.perf_counter()
            if exchange is not None:
                exchange.add(Phase.CONNECT, connected - started)

        tls = bool(kwargs.get("ssl"))
        try:
            transport, protocol = await self._wrap_existing_connection(
                *args, sock=sock, req=req, timeout=timeout, client_error=client_error, **kwargs
            )
        except BaseException:
            sock.close()  # asyncio may not have wrapped it yet; closing twice is harmless
            raise
        finally:
            ready = time.perf_counter()
            if exchange is not None:
                # Plain HTTP: wrapping the socket is part of getting a connection.
                exchange.add(Phase.TLS if tls else Phase.CONNECT, ready - connected)

        if exchange is not None:
            exchange.connection_ready(ready)
            ssl_object = transport.get_extra_info("ssl_object")
            if isinstance(ssl_object, ssl.SSLObject):
                # The whole served chain: an intermediate may expire before the leaf.
                exchange.saw_expiry(earliest_expiry(ssl_object))
        return transport, protocol


class _PerRunCookieJar(aiohttp.DummyCookieJar):
    """Cookies live for one probe run (like blackbox_exporter's per-probe jar): kept across
    that run's redirects, never shared between probes or runs. Outside a run: no cookies."""

    def update_cookies(self, cookies: LooseCookies, response_url: URL = URL()) -> None:  # noqa: B008
        exchange = _EXCHANGE.get()
        if exchange is not None:
            exchange.cookies.update_cookies(cookies, response_url)

    def update_cookies_from_headers(self, headers: Sequence[str], response_url: URL) -> None:
        exchange = _EXCHANGE.get()
        if exchange is not None:
            exchange.cookies.update_cookies_from_headers(headers, response_url)

    def filter_cookies(self, request_url: URL) -> BaseCookie[str]:
        exchange = _EXCHANGE.get()
        if exchange is None or exchange.jar is None:
            return super().filter_cookies(request_url)  # no cookies (yet)
        return exchange.jar.filter_cookies(request_url)


async def _dns_start(
    _session: aiohttp.ClientSession, trace: SimpleNamespace, _params: object
) -> None:
    trace.dns_started = time.perf_counter()


async def _dns_end(
    _session: aiohttp.ClientSession, trace: SimpleNamespace, _params: object
) -> None:
    exchange = _EXCHANGE.get()
    started = getattr(trace, "dns_started", None)
    trace.dns_started = None
    if exchange is not None and started is not None:
        exchange.add(Phase.RESOLVE, time.perf_counter() - started)


async def _headers_received(
    _session: aiohttp.ClientSession, _trace: SimpleNamespace, _params: object
) -> None:
    # aiohttp signals a redirect or the final response right after parsing the headers:
    # the closest hook to Go's GotFirstResponseByte.
    exchange = _EXCHANGE.get()
    if exchange is not None:
        exchange.response_started(time.perf_counter())


def _phase_trace() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_dns_resolvehost_start.append(_dns_start)
    trace.on_dns_resolvehost_end.append(_dns_end)
    # A failed lookup gets no "end" event; its time still belongs to resolve.
    trace.on_request_exception.append(_dns_end)
    trace.on_request_redirect.append(_headers_received)
    trace.on_request_end.append(_headers_received)
    return trace


def new_http_session(
    *, user_agent: str, resolver: AbstractResolver | None = None,
    deny: DeniedNetworks = DeniedNetworks(),  # noqa: B008 - frozen
) -> aiohttp.ClientSession:
    """The session for all HTTP probes. ``resolver`` is for tests (names that must never
    leave the machine); the daemon uses aiohttp's default (getaddrinfo in a thread).
    ``deny``: the networks no request may connect into (``--deny-networks``).

    No connection limit (the daemon bounds concurrent probes), no aiohttp timeouts (the
    caller applies the probe timeout), no proxy from the environment."""
    connector = _TimedConnector(
        deny=deny,
        force_close=True,
        use_dns_cache=False,
        limit=0,
        resolver=resolver,
        happy_eyeballs_delay=_HAPPY_EYEBALLS_DELAY,
    )
    session = aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": user_agent},
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None),
        trace_configs=[_phase_trace()],
        cookie_jar=_PerRunCookieJar(),
        max_line_size=MAX_LINE_SIZE,
        max_field_size=MAX_FIELD_SIZE,
        max_headers=MAX_HEADERS,
        trust_env=False,
    )
    # aiohttp silently retries an idempotent request once when the connection drops before
    # the response, even on a fresh connection: a monitor must see that drop, not mask it.
    # No public switch exists; tests/test_http_probe.py checks the server saw one request.
    session._retry_connection = False
    return session
