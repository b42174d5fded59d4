"""The browser's one way out when the operator denies networks (``--deny-networks``): a
SOCKS5 gate on 127.0.0.1, opened for one run and set as that run's context proxy.

Chromium sends a SOCKS5 proxy the host name and port of every connection it wants (it does
no DNS of its own for them, IP literals and ``localhost`` included: Playwright adds
``<-loopback>`` so loopback is not bypassed). The gate resolves the name through the shared
resolver, drops the denied addresses and connects with the code the TCP kind uses
(:func:`probes._stream.open_stream`), then relays bytes both ways. So the check is on the
address actually connected to, for everything the page's network context opens: the
navigation and each redirect hop, subresources, fetch/XHR, WebSockets, workers. TLS stays
end to end between Chromium and the server (the gate only relays it).

What it refused or could not reach is counted, the latest kept (``failures``, bounded: a
page that retries a denied fetch in a loop costs no memory): Chromium reports any
failed SOCKS connection as ``net::ERR_SOCKS_CONNECTION_FAILED``, so a ``goto`` asks the gate
what happened (``denied``, ``dns``, ``connect``) instead of reading Chromium's code.

Connections a page could make outside its network context are closed by launch flags while a
deny list is set: QUIC (``--disable-quic``) and WebRTC's UDP
(``--force-webrtc-ip-handling-policy=disable_non_proxied_udp``); see runtime.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp.abc import AbstractResolver

from probes._deny import DeniedNetworks
from probes._result import Phase, Reason
from probes._stream import Failure, Stream, open_stream

_VERSION = 5
_NO_AUTH, _NO_METHOD = 0x00, 0xFF
_CONNECT = 0x01
_IPV4, _DOMAIN, _IPV6 = 0x01, 0x03, 0x04
# RFC 1928 replies
_SUCCEEDED, _GENERAL, _NOT_ALLOWED, _HOST_UNREACHABLE, _REFUSED, _NO_COMMAND = 0, 1, 2, 4, 5, 7
_REPLY = {Reason.DENIED: _NOT_ALLOWED, Reason.DNS: _HOST_UNREACHABLE, Reason.CONNECT: _REFUSED}
_CHUNK = 64 * 1024
KEPT_FAILURES = 50
_HANDSHAKE_TIMEOUT = 10.0  # Chromium's request arrives at once; a stuck one is not kept


@dataclass(eq=False)
class Gate:
    """One run's gate; ``proxy`` is the server a browser context is given."""

    deny: DeniedNetworks
    resolver: AbstractResolver
    failures: deque[Failure] = field(default_factory=lambda: deque(maxlen=KEPT_FAILURES))
    failed: int = 0  # every failure, kept or not
    proxy: str = ""
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def since(self, mark: int) -> Failure | None:
        """The latest failure if there was one after the first ``mark`` (``failed`` taken
        when a navigation started), else None."""
        return self.failures[-1] if self.failed > mark else None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream: Stream | None = None
        try:
            async with asyncio.timeout(_HANDSHAKE_TIMEOUT):
                address = await _request(reader, writer)
            if address is None:
                return
            upstream = await self._connect(address, writer)
            if upstream is not None:
                await _relay(reader, writer, upstream)
        except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the browser went away, or spoke something else: nothing to report
        finally:
            self._tasks.discard(task)
            if upstream is not None:
                upstream.writer.transport.abort()
            writer.transport.abort()

    async def _connect(self, address: str, writer: asyncio.StreamWriter) -> Stream | None:
        phases: dict[Phase, float] = {}  # the gate's own: Chromium times what the page saw
        try:
            opened = await open_stream(address, self.resolver, phases, self.deny)
        except ValueError:  # not host:port as open_stream takes it (split_address)
            opened = Reason.ERROR, f"cannot connect to {address}: not a host and port"
        if isinstance(opened, tuple):
            self.failures.append(opened)
            self.failed += 1
            writer.write(_reply(_REPLY.get(opened[0], _GENERAL)))
            await writer.drain()
            return None
        writer.write(_reply(_SUCCEEDED))
        await writer.drain()
        return opened

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.proxy = f"socks5://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


@contextlib.asynccontextmanager
async def gate(deny: DeniedNetworks, resolver: AbstractResolver) -> AsyncIterator[Gate]:
    """A gate listening on 127.0.0.1 for the duration of the block; every relay it started
    is cut when the block ends."""
    opened = Gate(deny, resolver)
    await opened.start()
    try:
        yield opened
    finally:
        await opened.close()


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str | None:
    """The greeting and CONNECT request; the wanted ``host:port`` (IPv6 in brackets), or
    None after refusing what the gate does not do (authentication, BIND, UDP)."""
    version, count = await reader.readexactly(2)
    methods = await reader.readexactly(count)
    if version != _VERSION or _NO_AUTH not in methods:
        writer.write(bytes((_VERSION, _NO_METHOD)))
        await writer.drain()
        return None
    writer.write(bytes((_VERSION, _NO_AUTH)))
    await writer.drain()
    version, command, _, kind = await reader.readexactly(4)
    if kind == _IPV4:
        host = socket.inet_ntop(socket.AF_INET, await reader.readexactly(4))
    elif kind == _IPV6:
        host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
    elif kind == _DOMAIN:
        length = (await reader.readexactly(1))[0]
        host = (await reader.readexactly(length)).decode("ascii", errors="replace")
    else:
        host = ""
    (port,) = struct.unpack("!H", await reader.readexactly(2))
    if version != _VERSION or command != _CONNECT or not host:
        writer.write(_reply(_NO_COMMAND))
        await writer.drain()
        return None
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host.strip("[]")).version == 6:
            host = f"[{host.strip('[]')}]"
    return f"{host}:{port}"


def _reply(code: int) -> bytes:
    # The bound address is not meaningful to Chromium: 0.0.0.0:0.
    return bytes((_VERSION, code, 0, _IPV4)) + bytes(6)


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 upstream: Stream) -> None:
    """Bytes both ways until both sides are done (a half-close is passed on)."""
    await asyncio.gather(_pump(reader, upstream.writer), _pump(upstream.reader, writer))


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(_CHUNK):
            sink.write(chunk)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except OSError:
        sink.transport.abort()
