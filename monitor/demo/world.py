"""Start and stop the demo world: three aiohttp listeners on one host, plus the services for
the other probe kinds (``services.py``): DNS, an SMTP-like banner with STARTTLS, gRPC health.
The plain HTTP listener also serves the browser kind's pages (``spa.py``, ``a11y.py``).

One application per listener, so a service lives at exactly one origin as in the catalog.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Self
from zoneinfo import ZoneInfo

from aiohttp import web

from monitor.demo import a11y, pages, services, spa, tls
from monitor.demo.faults import decide
from monitor.demo.sites import SITES, Listener, Site

Clock = Callable[[], datetime]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DEFAULT_SEED = 837  # after Government order 837-р; any fixed seed makes runs repeatable


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Behaviour:
    """What every handler shares: the clock, the random source, the delay scale."""

    clock: Clock
    rng: random.Random
    time_scale: float

    def now(self) -> datetime:
        now = self.clock()
        # A naive clock is taken as UTC rather than as the host's zone, so tests are portable.
        return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


@dataclass
class World:
    """A running demo world. URLs have no trailing slash; ``ca_file`` verifies both HTTPS
    listeners. Use ``async with`` or call ``close()``."""

    http_url: str
    https_url: str
    expiring_url: str
    ca_file: str
    dns_address: str  # host:port, UDP and TCP
    smtp_address: str  # host:port, plain with STARTTLS
    grpc_address: str  # host:port, plaintext gRPC health
    _runners: list[web.AppRunner] = field(repr=False)
    _tempdir: tempfile.TemporaryDirectory[str] = field(repr=False)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list, repr=False)
    # The secret the simulated nightly job (``nightly.py``) pings the daemon's heartbeat with;
    # new for every world, as a real token is never a fixed string.
    heartbeat_token: str = field(default_factory=lambda: secrets.token_urlsafe(18),
                                 repr=False)

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        await _close_all(self._closers)
        self._tempdir.cleanup()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def demo_env(world: World) -> dict[str, str]:
    """The variables ``config/examples/demo`` reads for its URLs, CA file and heartbeat
    token."""
    return {
        "DOZOR_DEMO_HTTP": world.http_url,
        "DOZOR_DEMO_HTTPS": world.https_url,
        "DOZOR_DEMO_HTTPS_EXPIRING": world.expiring_url,
        "DOZOR_DEMO_CA": world.ca_file,
        "DOZOR_DEMO_TLS": _address(world.https_url),
        "DOZOR_DEMO_TLS_EXPIRING": _address(world.expiring_url),
        "DOZOR_DEMO_DNS": world.dns_address,
        "DOZOR_DEMO_SMTP": world.smtp_address,
        "DOZOR_DEMO_GRPC": world.grpc_address,
        "DOZOR_DEMO_HEARTBEAT_TOKEN": world.heartbeat_token,
    }


def _address(url: str) -> str:
    return url.split("://", 1)[1]


async def _close_all(closers: list[Callable[[], Awaitable[None]]]) -> None:
    while closers:
        await closers.pop()()


async def start_world(
    *,
    host: str = "127.0.0.1",
    http_port: int = 0,
    https_port: int = 0,
    expiring_port: int = 0,
    dns_port: int = 0,
    smtp_port: int = 0,
    grpc_port: int = 0,
    clock: Clock | None = None,
    time_scale: float = 1.0,
    seed: int = DEFAULT_SEED,
) -> World:
    """Serve every demo site; port 0 picks a free port. ``clock`` returns an aware UTC
    datetime and decides which faults are active; ``time_scale`` multiplies every delay
    (tests use a small one)."""
    behaviour = _Behaviour(clock or _utc_now, random.Random(seed), time_scale)
    tempdir = tempfile.TemporaryDirectory(prefix="dozor-demo-")
    runners: list[web.AppRunner] = []
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        certs = await asyncio.to_thread(tls.issue, Path(tempdir.name))
        contexts: dict[Listener, ssl.SSLContext | None] = {
            "http": None,
            "https": certs.normal,
            "expiring": certs.expiring,
        }
        ports: dict[Listener, int] = {
            "http": http_port,
            "https": https_port,
            "expiring": expiring_port,
        }
        urls: dict[Listener, str] = {}
        for listener in ("http", "https", "expiring"):
            runner = web.AppRunner(_app(listener, behaviour), access_log=None)
            await runner.setup()
            runners.append(runner)
            site = web.TCPSite(runner, host, ports[listener], ssl_context=contexts[listener])
            await site.start()
            port = runner.addresses[0][1]
            scheme = "http" if contexts[listener] is None else "https"
            urls[listener] = f"{scheme}://{_host_in_url(host)}:{port}"
        addresses = await _start_services(host, dns_port, smtp_port, grpc_port, certs.normal,
                                          behaviour.now, closers)
    except BaseException:
        for runner in runners:
            await runner.cleanup()
        await _close_all(closers)
        tempdir.cleanup()
        raise
    return World(
        http_url=urls["http"],
        https_url=urls["https"],
        expiring_url=urls["expiring"],
        ca_file=str(certs.ca_file),
        dns_address=addresses["dns"],
        smtp_address=addresses["smtp"],
        grpc_address=addresses["grpc"],
        _runners=runners,
        _tempdir=tempdir,
        _closers=closers,
    )


async def _start_services(host: str, dns_port: int, smtp_port: int, grpc_port: int,
                          context: ssl.SSLContext, now: Clock,
                          closers: list[Callable[[], Awaitable[None]]]) -> dict[str, str]:
    """Start DNS, SMTP and gRPC health; each registers its closer as soon as it runs."""
    dns_chosen, udp, tcp = await services.start_dns(host, dns_port, now)

    async def close_dns() -> None:
        udp.close()
        tcp.close()
        await tcp.wait_closed()

    closers.append(close_dns)
    smtp_chosen, smtp = await services.start_smtp(host, smtp_port, context)

    async def close_smtp() -> None:
        smtp.close()
        await smtp.wait_closed()

    closers.append(close_smtp)
    grpc_chosen, grpc_server = await services.start_grpc(host, grpc_port, now)

    async def close_grpc() -> None:
        await grpc_server.stop(None)  # type: ignore[attr-defined]

    closers.append(close_grpc)
    at = _host_in_url(host)
    return {"dns": f"{at}:{dns_chosen}", "smtp": f"{at}:{smtp_chosen}",
            "grpc": f"{at}:{grpc_chosen}"}


def _app(listener: Listener, behaviour: _Behaviour) -> web.Application:
    app = web.Application()
    mine = tuple(s for s in SITES if s.listener == listener)
    for site in mine:
        app.router.add_get(site.path, _site_handler(site, behaviour))
    links = tuple(pages.Link(s.path, s.title, s.service, s.fault) for s in mine)
    if listener == "http":
        app.router.add_routes([*spa.routes(behaviour.now), *a11y.routes()])
        links += (pages.Link(spa.SHELL_PATH, spa.TITLE, spa.SERVICE, "hourly API, single-page app"),
                  pages.Link(a11y.FORM_PATH, a11y.TITLE, a11y.SERVICE, "accessibility"))
    app.router.add_get("/", _index_handler(links))
    app.router.add_get("/favicon.ico", _no_favicon)
    return app


async def _no_favicon(request: web.Request) -> web.StreamResponse:
    # Browsers ask every origin for one; a 404 would be a failed request in every browser
    # probe's log. 204: there is none, and nothing failed.
    return web.Response(status=204)


def _site_handler(site: Site, behaviour: _Behaviour) -> Handler:
    zone = ZoneInfo(site.zone)

    async def handle(request: web.Request) -> web.StreamResponse:
        local_now = behaviour.now().astimezone(zone)
        outcome = decide(site.fault, local_now, behaviour.rng)
        await asyncio.sleep(outcome.delay * behaviour.time_scale)
        if outcome.status != 200:
            return pages.error_page(outcome.status)
        return pages.page(site, local_now)

    return handle


def _index_handler(links: tuple[pages.Link, ...]) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return pages.index(links, str(request.url.origin()))

    return handle


def _host_in_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host
