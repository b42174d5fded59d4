"""An aiohttp site that guards its port the way Go's http.Server and netutil.LimitListener
would be configured for a hostile network.

Each accepted TCP connection first meets a gate (:class:`_Gate`), before any TLS:

- over the total cap or the client address's cap, it is refused at once (plain HTTP gets a
  503; a TLS port just closes, as no handshake was made);
- it has ``header_timeout`` to finish the TLS handshake and its first request's headers,
  else it is closed: a client that connects and says nothing, or trickles bytes, holds a
  descriptor for seconds, not forever;
- then it is handed to aiohttp, whose keep-alive timeout (``idle_timeout``) closes it when
  it idles between requests, a started next request included.

TLS is done here (``loop.start_tls``) rather than by ``create_server(ssl=...)`` because
there a connection is invisible until its handshake is over, so neither the caps nor the
timeout could count the connections that never finish one.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from monitor.listener.addresses import address_key
from monitor.listener.limits import MAX_FIELD_SIZE, MAX_HEADERS, MAX_LINE_SIZE, ConnectionLimits

_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
         b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 21\r\n\r\n"
         b"too many connections\n")
_END_OF_HEADERS = b"\r\n\r\n"


@dataclass
class ListenerStats:
    """What the gate did, for metrics and tests."""

    open: int = 0
    refused_total: int = 0  # over max_connections
    refused_address: int = 0  # over max_per_address
    timed_out: int = 0  # closed before the first request's headers were complete


class GuardedSite(web.BaseSite):
    def __init__(self, runner: web.BaseRunner, host: str, port: int, *,
                 ssl_context: ssl.SSLContext | None = None,
                 limits: ConnectionLimits | None = None, backlog: int = 128) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host = host
        self._port = port
        self.limits = limits or ConnectionLimits()
        self.stats = ListenerStats()
        self._per_address: dict[str, int] = {}
        self._gates: set[_Gate] = set()

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self.port}"

    @property
    def address(self) -> str:
        """HOST:PORT as listened on (the port bound, if 0 was asked for)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self.port}"

    @property
    def port(self) -> int:
        server = self._server
        if isinstance(server, asyncio.Server) and server.sockets:
            return int(server.sockets[0].getsockname()[1])
        return self._port

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Gate(self), self._host, self._port, backlog=self._backlog,
            reuse_address=True)

    async def stop(self) -> None:
        await super().stop()
        for gate in list(self._gates):  # not yet aiohttp's (it closes its own)
            gate.abort()

    # The gate's bookkeeping.

    def _admit(self, key: str) -> bool:
        limits = self.limits
        if self.stats.open >= limits.max_connections:
            self.stats.refused_total += 1
            return False
        if self._per_address.get(key, 0) >= limits.max_per_address:
            self.stats.refused_address += 1
            return False
        self.stats.open += 1
        self._per_address[key] = self._per_address.get(key, 0) + 1
        return True

    def _release(self, key: str) -> None:
        self.stats.open -= 1
        left = self._per_address[key] - 1
        if left:
            self._per_address[key] = left
        else:
            del self._per_address[key]

    def _handler(self) -> RequestHandler:
        server = self._runner.server
        assert server is not None  # BaseSite checked it at construction
        handler = server()
        assert isinstance(handler, RequestHandler)
        return handler


class _Gate(asyncio.Protocol):
    """One accepted connection: admitted or refused, timed until its first request's headers,
    upgraded to TLS if the site has it, then relayed to aiohttp's handler."""

    def __init__(self, site: GuardedSite) -> None:
        self._site = site
        self._key: str | None = None  # set while admitted
        self._transport: asyncio.Transport | None = None  # the raw one, or the TLS one
        self._handler: RequestHandler | None = None  # once handed over
        self._early: list[bytes] = []  # TLS data read before the handler got the connection
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        site = self._site
        peer = transport.get_extra_info("peername")
        key = address_key(peer[0] if isinstance(peer, tuple) else None)
        if not site._admit(key):
            if site._ssl_context is None:
                transport.write(_BUSY)
            transport.close()
            return
        self._key = key
        self._transport = transport
        site._gates.add(self)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(site.limits.header_timeout, self._too_slow)
        if site._ssl_context is None:
            self._hand_over(transport)
        else:
            transport.pause_reading()
            self._task = loop.create_task(self._handshake(transport, site._ssl_context))

    async def _handshake(self, raw: asyncio.Transport, context: ssl.SSLContext) -> None:
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(raw, self, context, server_side=True,
                                       ssl_handshake_timeout=self._site.limits.header_timeout)
        except (OSError, ssl.SSLError, TimeoutError, RuntimeError):
            # A failed or timed-out handshake, or a client gone before it: nothing to serve.
            raw.abort()
            self._finish()
            return
        if tls is None or self._key is None:  # closed while the handshake ran
            (tls or raw).abort()
            self._finish()
            return
        self._transport = tls
        self._hand_over(tls)
        early, self._early = self._early, []
        for data in early:
            self.data_received(data)

    def _hand_over(self, transport: asyncio.Transport) -> None:
        self._site._gates.discard(self)
        self._handler = self._site._handler()
        self._handler.connection_made(transport)

    def _too_slow(self) -> None:
        self._timer = None
        self._site.stats.timed_out += 1
        self.abort()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._handler is None:
            self._early.append(data)
            return
        if self._timer is not None:
            if _END_OF_HEADERS in self._tail + data:
                self._timer.cancel()
                self._timer = None
            else:
                self._tail = (self._tail + data)[-3:]
        self._handler.data_received(data)

    def eof_received(self) -> None:
        if self._handler is not None:
            self._handler.eof_received()

    def pause_writing(self) -> None:
        if self._handler is not None:
            self._handler.pause_writing()

    def resume_writing(self) -> None:
        if self._handler is not None:
            self._handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        handler, self._handler = self._handler, None
        self._finish()
        if handler is not None:
            handler.connection_lost(exc)

    def _finish(self) -> None:
        """Release the connection's place, once, however it ended."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._site._gates.discard(self)
        if self._key is not None:
            self._site._release(self._key)
            self._key = None


async def serve(app: web.Application, host: str, port: int, *,
                ssl_context: ssl.SSLContext | None = None,
                limits: ConnectionLimits | None = None,
                **runner_kwargs: Any) -> tuple[web.AppRunner, GuardedSite]:
    """Run ``app`` on a guarded port. Returns the runner (``cleanup()`` it to stop) and the
    site (its ``port`` and ``stats``). ``OSError`` if the port cannot be opened."""
    limits = limits or ConnectionLimits()
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=limits.idle_timeout,
                           max_line_size=MAX_LINE_SIZE, max_field_size=MAX_FIELD_SIZE,
                           max_headers=MAX_HEADERS, **runner_kwargs)
    await runner.setup()
    site = GuardedSite(runner, host, port, ssl_context=ssl_context, limits=limits)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site
