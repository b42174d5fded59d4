"""The guarded listener (monitor/listener/): header and idle timeouts, caps per address and in
total, header size caps, with plain HTTP and real TLS (trustme). Loopback sub-addresses
(127.0.0.2, 127.0.0.3) play other clients. Timeouts here are short; each wait for a
close has a hang bound far above them, and no duration is asserted."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
import trustme
from aiohttp import web

from harness.stack import until
from monitor.listener import ConnectionLimits, GuardedSite, serve

HANG = 15.0  # far above every timeout below: reaching it means the server never closed
BIG = b"x" * (3 << 20)  # more than any socket buffer: the writer must wait for the reader


@dataclass
class Served:
    runner: web.AppRunner
    site: GuardedSite
    tls: ssl.SSLContext | None  # the client's, when the port speaks TLS

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.site.port}"


def _app() -> web.Application:
    app = web.Application(client_max_size=1024)

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def big(_: web.Request) -> web.Response:
        return web.Response(body=BIG)

    app.router.add_get("/ok", ok)
    app.router.add_get("/big", big)
    return app


async def _serve(limits: ConnectionLimits, tls: bool) -> Served:
    server_ctx = client_ctx = None
    if tls:
        ca = trustme.CA()
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
    runner, site = await serve(_app(), "127.0.0.1", 0, ssl_context=server_ctx, limits=limits)
    return Served(runner, site, client_ctx)


@pytest.fixture(params=["plain", "tls"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[object]:
    served: list[Served] = []

    async def factory(**limits: float) -> Served:
        s = await _serve(ConnectionLimits(**limits), request.param == "tls")  # type: ignore[arg-type]
        served.append(s)
        return s

    yield factory
    for s in served:
        await s.runner.cleanup()


async def _get(s: Served, path: str = "/ok", source: str = "127.0.0.1") -> int:
    connector = aiohttp.TCPConnector(local_addr=(source, 0), ssl=s.tls or False)
    async with aiohttp.ClientSession(connector=connector) as session, \
            session.get(s.url + path) as r:
        await r.read()
        return r.status


async def _half_open(s: Served, source: str, partial: bytes
                     ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection that starts and never finishes (no TLS handshake on a TLS port)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", s.site.port,
                                                   local_addr=(source, 0))
    if partial:
        writer.write(partial)
        await writer.drain()
    return reader, writer


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent before it closed the connection."""
    try:
        return await asyncio.wait_for(reader.read(), HANG)
    except ConnectionResetError:
        return b""


PARTIAL = b"GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
# The start of a TLS record that announces 512 bytes of ClientHello and never sends them.
PARTIAL_HELLO = b"\x16\x03\x01\x02\x00\x01"


def _partial(s: Served) -> bytes:
    return PARTIAL_HELLO if s.tls else PARTIAL


async def test_half_open_connections_are_closed_after_the_header_timeout(make) -> None:  # type: ignore[no-untyped-def]
    s: Served = await make(header_timeout=0.5)
    conns = [await _half_open(s, "127.0.0.2", _partial(s) if i % 2 else b"") for i in range(10)]
    if s.tls is not None:  # and past a finished handshake, headers that never end
        for _ in range(2):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", s.site.port, ssl=s.tls, local_addr=("127.0.0.2", 0))
            writer.write(PARTIAL)
            conns.append((reader, writer))
    for reader, _ in conns:
        assert await _closed_by_server(reader) == b""
    await until(lambda: s.site.stats.open == 0, HANG, "every slot given back")
    assert s.site.stats.timed_out == len(conns)
    assert await _get(s, source="127.0.0.2") == 200  # the address is not punished after
    for _, writer in conns:
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed_and_a_busy_one_is_reused(make) -> None:  # type: ignore[no-untyped-def]
    s: Served = await make(idle_timeout=0.5)
    connector = aiohttp.TCPConnector(ssl=s.tls or False)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(3):
            async with session.get(s.url + "/ok") as r:
                assert r.status == 200
                await r.read()
        await until(lambda: s.site.stats.open == 1, HANG, "one connection kept alive")
        assert s.site.stats.timed_out == 0  # its headers came in time: not the header timer
        await until(lambda: s.site.stats.open == 0, HANG, "the idle connection closed")


async def test_a_large_answer_reaches_a_client_that_reads_it(make) -> None:  # type: ignore[no-untyped-def]
    s: Served = await make(header_timeout=0.5)
    connector = aiohttp.TCPConnector(ssl=s.tls or False)
    async with aiohttp.ClientSession(connector=connector) as session, \
            session.get(s.url + "/big") as r:
        assert await r.read() == BIG


async def test_the_caps_hold_while_other_clients_are_served(make) -> None:  # type: ignore[no-untyped-def]
    s: Served = await make(header_timeout=60, max_per_address=3, max_connections=6)
    hogs = [await _half_open(s, "127.0.0.2", _partial(s)) for _ in range(3)]
    await until(lambda: s.site.stats.open == 3, HANG, "the hog's three connections admitted")
    # Its fourth is refused at once; a plain port says why.
    reader, writer = await _half_open(s, "127.0.0.2", b"")
    refused = await _closed_by_server(reader)
    assert refused.startswith(b"HTTP/1.1 503") if s.tls is None else refused == b""
    writer.close()
    assert s.site.stats.refused_address == 1
    assert await _get(s) == 200  # the scraper is served
    hogs += [await _half_open(s, "127.0.0.3", _partial(s)) for _ in range(3)]
    await until(lambda: s.site.stats.open == 6, HANG, "the total cap reached")
    with pytest.raises(aiohttp.ClientError) if s.tls else contextlib.nullcontext():
        assert await _get(s) == 503
    assert s.site.stats.refused_total == 1
    for _, w in hogs[:3]:
        w.close()
    await until(lambda: s.site.stats.open == 3, HANG, "the hog's slots given back")
    assert await _get(s) == 200
    for _, w in hogs[3:]:
        w.close()


async def test_stopping_closes_connections_the_gate_still_holds(make) -> None:  # type: ignore[no-untyped-def]
    s: Served = await make(header_timeout=60)
    reader, writer = await _half_open(s, "127.0.0.2", b"")
    await until(lambda: s.site.stats.open == 1, HANG, "admitted")
    await s.runner.cleanup()
    assert await _closed_by_server(reader) == b""
    writer.close()


async def test_oversized_headers_are_refused(make) -> None:  # type: ignore[no-untyped-def]
    s: Served = await make()
    connector = aiohttp.TCPConnector(ssl=s.tls or False)
    async with aiohttp.ClientSession(connector=connector) as session, \
            session.get(s.url + "/ok", headers={"X-Big": "y" * 9000}) as r:
        assert r.status == 400
