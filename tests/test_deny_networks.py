"""``dozor run --deny-networks``: no probe connects into a denied network. The check is on the
resolved address right before connecting, so IP literals, names that resolve into a denied
network and every redirect hop are covered; a denied run fails with reason ``denied`` and
nothing reaches the server. Real servers on loopback sub-ranges (Linux routes all of
127.0.0.0/8 to ``lo``): 127.0.0.2 is the "denied" network, 127.0.0.1 the allowed one.

The browser kind's gate is tested in tests/test_browser_deny.py (it starts Chromium); the
daemon's flag end to end in tests/test_deny_networks_e2e.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import re
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import structlog
import trustme
from aiohttp import web
from aiohttp.abc import AbstractResolver
from grpc_health.v1 import health, health_pb2_grpc

from harness.dns_zoo import GOOD_NAME, dns_zoo
from harness.http_zoo import UA, ZooResolver
from monitor.runtime.daemon import DaemonOptions
from monitor.supervisor.channel import Start
from probes import (
    DeniedNetworks,
    Phase,
    ProbeContext,
    ProbeResult,
    Reason,
    RuntimeSettings,
    new_http_session,
    run_probe,
)
from probes.dns import DnsSpec, probe_dns
from probes.grpc import GrpcSpec, probe_grpc
from probes.http import HttpSpec, probe_http
from probes.icmp import IcmpSpec, probe_icmp
from probes.journey import JourneySpec, probe_journey
from probes.tcp import TcpSpec, probe_tcp
from probes.tls import TlsSpec, probe_tls

DENIED_HOST = "127.0.0.2"
DENY = DeniedNetworks.parse("127.0.0.2/32")
ELSEWHERE = DeniedNetworks.parse("10.0.0.0/8,169.254.0.0/16,fe80::/10")
LOOPBACK = DeniedNetworks.parse("127.0.0.0/8,::1/128")
ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (ICMP sockets)")


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


IPV6 = pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")


@contextlib.asynccontextmanager
async def probing(deny: DeniedNetworks, resolver: AbstractResolver | None = None
                  ) -> AsyncIterator[ProbeContext]:
    """A run's context as the daemon builds it with ``--deny-networks``: the HTTP session's
    connector and the context hold the same list."""
    session = new_http_session(user_agent=UA, resolver=resolver, deny=deny)
    try:
        yield ProbeContext(http=session, log=structlog.get_logger("test"), user_agent=UA,
                           deny=deny)
    finally:
        await session.close()


async def _run(fn: Any, spec: Any, ctx: ProbeContext, timeout: float = 5.0) -> ProbeResult:
    result, _ = await run_probe(fn, spec, ctx, timeout)
    return result


# --- the list itself ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "networks"), [
    ("127.0.0.2/32", "127.0.0.2/32"),
    ("169.254.0.0/16,fe80::/10", "169.254.0.0/16,fe80::/10"),
    (" 10.0.0.0/8 , 169.254.169.254 ", "10.0.0.0/8,169.254.169.254/32"),
    ("::1", "::1/128"),
])
def test_parse(text: str, networks: str) -> None:
    assert str(DeniedNetworks.parse(text)) == networks


@pytest.mark.parametrize(("text", "message"), [
    ("10.0.0.300/8", "'10.0.0.300/8' is not a network in CIDR notation; e.g. 169.254.0.0/16,"
                     "fe80::/10, or a single address such as 169.254.169.254"),
    ("127.0.0.2/8", "'127.0.0.2/8' has host bits set; did you mean 127.0.0.0/8?"),
    ("10.0.0.0/8,,fe80::/10", "empty entry in '10.0.0.0/8,,fe80::/10'; write CIDR,CIDR,... "
                              "e.g. 169.254.0.0/16,fe80::/10"),
    ("metadata.internal", "'metadata.internal' is not a network in CIDR notation; e.g. "
                          "169.254.0.0/16,fe80::/10, or a single address such as "
                          "169.254.169.254"),
])
def test_parse_names_the_bad_entry_and_the_fix(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        DeniedNetworks.parse(text)


@pytest.mark.parametrize(("address", "refusal"), [
    ("127.0.0.2", "address 127.0.0.2 is in denied network 127.0.0.2/32"),
    ("127.0.0.1", None),
    ("::ffff:127.0.0.2", "address ::ffff:127.0.0.2 is in denied network 127.0.0.2/32"),
    ("fe80::1%lo", "address fe80::1%lo is in denied network fe80::/10"),
    ("169.254.169.254", "address 169.254.169.254 is in denied network 169.254.0.0/16"),
    ("::1", None),
    ("not-an-address", "address 'not-an-address' is not an IP address and cannot be checked"),
])
def test_refusal(address: str, refusal: str | None) -> None:
    deny = DeniedNetworks.parse("127.0.0.2/32,169.254.0.0/16,fe80::/10")
    assert deny.refusal(address) == refusal


def test_an_empty_list_denies_nothing() -> None:
    assert not DeniedNetworks()
    assert DeniedNetworks().refusal("not-an-address") is None


def test_the_list_travels_to_workers() -> None:
    """The supervisor sends a worker its DaemonOptions pickled (monitor/supervisor/channel.py)."""
    options = DaemonOptions(config=Path("catalog.yaml"), runtime=RuntimeSettings(deny=LOOPBACK))
    sent = pickle.loads(pickle.dumps(Start(options, "info", True)))
    assert sent.options.runtime.deny == LOOPBACK
    assert str(sent.options.runtime.deny) == "127.0.0.0/8,::1/128"


# --- HTTP: the connector --------------------------------------------------------------


@dataclass
class Site:
    url: str
    port: int
    seen: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def site(host: str, port: int = 0, routes: Callable[[Site], list[web.RouteDef]] | None
               = None) -> AsyncIterator[Site]:
    """An HTTP server on ``host`` recording each request's path; ``routes`` replaces the
    default (200 "ok" for every GET)."""
    runner: web.AppRunner | None = None
    found = Site("", port)

    async def ok(request: web.Request) -> web.Response:
        found.seen.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes(routes(found) if routes else [web.get("/{tail:.*}", ok)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    found.port = runner.addresses[0][1]
    found.url = f"http://{f'[{host}]' if ':' in host else host}:{found.port}"
    try:
        yield found
    finally:
        await runner.cleanup()


def _same_port_on_both() -> tuple[socket.socket, int]:
    """A port free on both 127.0.0.1 and 127.0.0.2 (held on 127.0.0.1 until the caller
    closes it), for a name that resolves to both."""
    for _ in range(20):
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        with socket.socket() as other:
            try:
                other.bind((DENIED_HOST, port))
            except OSError:
                holder.close()
                continue
        return holder, port
    raise AssertionError("no port free on both 127.0.0.1 and 127.0.0.2")


async def test_http_into_a_denied_address_never_connects() -> None:
    async with site(DENIED_HOST) as denied, probing(DENY) as ctx:
        result = await _run(probe_http, HttpSpec(url=f"{denied.url}/portal"), ctx)
    assert result.reason is Reason.DENIED
    assert result.detail == (f"not connecting to 127.0.0.2:{denied.port}: address 127.0.0.2 "
                             "is in denied network 127.0.0.2/32")
    assert denied.seen == []
    assert result.phases[Phase.CONNECT] == 0.0


async def test_http_outside_the_denied_networks_is_probed_as_ever() -> None:
    async with site(DENIED_HOST) as served, probing(ELSEWHERE) as ctx:
        result = await _run(probe_http, HttpSpec(url=f"{served.url}/portal"), ctx)
    assert result.success, result.detail
    assert served.seen == ["/portal"]


@pytest.mark.parametrize(("deny", "reason"), [(DENY, Reason.DENIED), (ELSEWHERE, None)])
async def test_a_redirect_into_a_denied_network_is_refused_at_that_hop(
        deny: DeniedNetworks, reason: Reason | None) -> None:
    async with site(DENIED_HOST) as inner:
        def redirecting(found: Site) -> list[web.RouteDef]:
            async def moved(request: web.Request) -> web.Response:
                found.seen.append(request.path)
                raise web.HTTPFound(f"{inner.url}/internal/admin")
            return [web.get("/{tail:.*}", moved)]

        async with site("127.0.0.1", routes=redirecting) as outer, probing(deny) as ctx:
            result = await _run(probe_http, HttpSpec(url=f"{outer.url}/start"), ctx)
    assert result.reason is reason, result.detail
    assert outer.seen == ["/start"]
    if reason is Reason.DENIED:
        assert inner.seen == []
        # The hop's host and port, never its path.
        assert result.detail == (f"not connecting to 127.0.0.2:{inner.port}: address 127.0.0.2 "
                                 "is in denied network 127.0.0.2/32")
    else:
        assert inner.seen == ["/internal/admin"]


async def test_a_name_whose_every_address_is_denied() -> None:
    resolver = ZooResolver({"intranet.test": (DENIED_HOST, "::1")})
    async with site(DENIED_HOST) as served, probing(LOOPBACK, resolver) as ctx:
        result = await _run(probe_http, HttpSpec(url=f"http://intranet.test:{served.port}/"),
                            ctx)
    assert result.reason is Reason.DENIED
    assert result.detail == (f"not connecting to intranet.test:{served.port}: address "
                             "127.0.0.2 is in denied network 127.0.0.0/8; address ::1 is in "
                             "denied network ::1/128")
    assert served.seen == []
    assert resolver.lookups == ["intranet.test"]


async def test_localhost_through_the_system_resolver() -> None:
    """aiohttp's own resolver (getaddrinfo), as the daemon uses it: every address localhost
    has is loopback, so with loopback denied nothing is left."""
    async with site("127.0.0.1") as served, probing(LOOPBACK) as ctx:
        result = await _run(probe_http, HttpSpec(url=f"http://localhost:{served.port}/"), ctx)
    assert result.reason is Reason.DENIED
    assert result.detail.startswith(f"not connecting to localhost:{served.port}: address ")
    assert served.seen == []


async def test_happy_eyeballs_connect_only_to_the_allowed_addresses() -> None:
    holder, port = _same_port_on_both()
    resolver = ZooResolver({"mixed.test": (DENIED_HOST, "127.0.0.1")})
    async with site(DENIED_HOST, port) as denied:
        holder.close()
        async with site("127.0.0.1", port) as allowed, probing(DENY, resolver) as ctx:
            result = await _run(probe_http, HttpSpec(url=f"http://mixed.test:{port}/"), ctx)
    assert result.success, result.detail
    assert (denied.seen, allowed.seen) == ([], ["/"])


async def test_an_allowed_address_that_refuses_is_connect_not_denied() -> None:
    """The denied address is dropped from aiohttp's own list: its retry after the allowed
    one failed does not reach it either, and the run says what happened, ``connect``."""
    holder, port = _same_port_on_both()
    resolver = ZooResolver({"mixed.test": (DENIED_HOST, "127.0.0.1")})
    async with site(DENIED_HOST, port) as denied, probing(DENY, resolver) as ctx:
        result = await _run(probe_http, HttpSpec(url=f"http://mixed.test:{port}/"), ctx)
    holder.close()
    assert result.reason is Reason.CONNECT, result.detail
    assert denied.seen == []


@IPV6
async def test_ipv6_literal() -> None:
    async with site("::1") as served, probing(LOOPBACK) as ctx:
        result = await _run(probe_http, HttpSpec(url=f"{served.url}/"), ctx)
    assert result.reason is Reason.DENIED
    assert result.detail == (f"not connecting to [::1]:{served.port}: address ::1 is in "
                             "denied network ::1/128")


async def test_a_journey_step_into_a_denied_network() -> None:
    async with site("127.0.0.1") as allowed, site(DENIED_HOST) as denied, \
            probing(DENY) as ctx:
        spec = JourneySpec.model_validate({"steps": [
            {"name": "portal", "request": {"url": f"{allowed.url}/portal"}},
            {"name": "backend", "request": {"url": f"{denied.url}/api"}},
        ]})
        result = await _run(probe_journey, spec, ctx)
    assert result.reason is Reason.DENIED
    assert result.detail == (f"step 'backend': denied: not connecting to 127.0.0.2:"
                             f"{denied.port}: address 127.0.0.2 is in denied network "
                             "127.0.0.2/32")
    assert (allowed.seen, denied.seen) == (["/portal"], [])


# --- the other kinds: where each connects --------------------------------------------


@dataclass
class Target:
    """A server of one kind on 127.0.0.2: the spec that probes it and how many requests
    (connections, calls, queries) it received."""

    fn: Any
    spec: Any
    reached: Callable[[], int]
    port: int | None = None  # in the detail; None: the kind has no port (ICMP)


@contextlib.asynccontextmanager
async def _tcp(tmp: Path) -> AsyncIterator[Target]:
    accepted: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(serve, DENIED_HOST, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield Target(probe_tcp, TcpSpec(address=f"{DENIED_HOST}:{port}"), lambda: len(accepted),
                     port)
    finally:
        server.close()


@contextlib.asynccontextmanager
async def _tls(tmp: Path) -> AsyncIterator[Target]:
    ca = trustme.CA()
    ca_file = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(DENIED_HOST).configure_cert(context)
    accepted: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(serve, DENIED_HOST, 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield Target(probe_tls, TlsSpec(address=f"{DENIED_HOST}:{port}", ca_file=str(ca_file)),
                     lambda: len(accepted), port)
    finally:
        server.close()


class _CountingHealth(health.aio.HealthServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def Check(self, request: Any, context: Any) -> Any:
        self.calls += 1
        return await super().Check(request, context)


@contextlib.asynccontextmanager
async def _grpc(tmp: Path) -> AsyncIterator[Target]:
    servicer = _CountingHealth()
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port(f"{DENIED_HOST}:0")
    await server.start()
    try:
        yield Target(probe_grpc, GrpcSpec(address=f"{DENIED_HOST}:{port}"),
                     lambda: servicer.calls, port)
    finally:
        await server.stop(None)


def _dns(transport: str) -> Callable[[Path], contextlib.AbstractAsyncContextManager[Target]]:
    @contextlib.asynccontextmanager
    async def started(tmp: Path) -> AsyncIterator[Target]:
        async with dns_zoo(DENIED_HOST) as zoo:
            spec = DnsSpec.model_validate({"server": zoo.server, "query_name": GOOD_NAME,
                                           "transport": transport})
            yield Target(probe_dns, spec, lambda: len(zoo.queries), zoo.port)
    return started


@contextlib.asynccontextmanager
async def _icmp(tmp: Path) -> AsyncIterator[Target]:
    # Loopback answers every echo itself: the run's own result says whether it was sent.
    yield Target(probe_icmp, IcmpSpec(host=DENIED_HOST, packet_timeout="1s"), lambda: -1)


KINDS: dict[str, Callable[[Path], contextlib.AbstractAsyncContextManager[Target]]] = {
    "tcp": _tcp, "tls": _tls, "grpc": _grpc, "dns-udp": _dns("udp"), "dns-tcp": _dns("tcp"),
    "icmp": _icmp,
}
MARKS = {"icmp": [ROOT]}


@pytest.mark.parametrize("kind", [pytest.param(k, marks=MARKS.get(k, [])) for k in KINDS])
async def test_each_kind_refuses_a_denied_address(kind: str, tmp_path: Path) -> None:
    async with KINDS[kind](tmp_path) as target, probing(DENY) as ctx:
        result = await _run(target.fn, target.spec, ctx)
        await asyncio.sleep(0.1)  # time for anything sent to arrive
        reached = target.reached()
    where = DENIED_HOST if target.port is None else f"{DENIED_HOST}:{target.port}"
    assert result.reason is Reason.DENIED, result.detail
    assert result.detail == (f"not connecting to {where}: address 127.0.0.2 is in denied "
                             "network 127.0.0.2/32")
    assert reached in (0, -1), "nothing may reach a denied server"


@pytest.mark.parametrize("kind", [pytest.param(k, marks=MARKS.get(k, [])) for k in KINDS])
async def test_each_kind_probes_outside_the_denied_networks(kind: str, tmp_path: Path) -> None:
    async with KINDS[kind](tmp_path) as target, probing(ELSEWHERE) as ctx:
        result = await _run(target.fn, target.spec, ctx)
        for _ in range(50):  # a TLS server counts once its side of the handshake is done
            if target.reached():
                break
            await asyncio.sleep(0.02)
        reached = target.reached()
    assert result.success, result.detail
    assert reached != 0


NAMED = "intranet.test"


@pytest.mark.parametrize(("fn", "spec", "where"), [
    (probe_tcp, TcpSpec(address=f"{NAMED}:25"), f"{NAMED}:25"),
    (probe_tls, TlsSpec(address=f"{NAMED}:443"), f"{NAMED}:443"),
    (probe_grpc, GrpcSpec(address=f"{NAMED}:50051"), f"{NAMED}:50051"),
    pytest.param(probe_icmp, IcmpSpec(host=NAMED, packet_timeout="1s"), NAMED, marks=ROOT),
], ids=["tcp", "tls", "grpc", "icmp"])
async def test_a_name_resolving_into_a_denied_network(fn: Any, spec: Any, where: str) -> None:
    resolver = ZooResolver({NAMED: DENIED_HOST})
    async with probing(DENY, resolver) as ctx:
        result = await _run(fn, spec, ctx)
    assert result.reason is Reason.DENIED, result.detail
    assert result.detail == (f"not connecting to {where}: address 127.0.0.2 is in denied "
                             "network 127.0.0.2/32")
    assert resolver.lookups[:1] == [NAMED]


@ROOT
async def test_icmp_skips_a_denied_address_of_a_name_for_an_allowed_one() -> None:
    resolver = ZooResolver({NAMED: (DENIED_HOST, "127.0.0.1")})
    async with probing(DENY, resolver) as ctx:
        spec = IcmpSpec(host=NAMED, packet_timeout="1s", preferred_ip_protocol="ip4")
        result = await _run(probe_icmp, spec, ctx)
    assert result.success, result.detail
    assert "replies from 127.0.0.1" in result.detail
