"""A raw TCP server on 127.0.0.1 for endpoints that misbehave below HTTP (harness.http_zoo's
RawZoo, test_vs_blackbox's TLS 1.0 server): the subclass answers each connection."""

from __future__ import annotations

import asyncio
from typing import Self


class StreamServer:
    """Listens on a free loopback port from ``start``; ``close`` also closes connections still
    open, so a handler that hangs on purpose cannot keep the server from closing."""

    server: asyncio.Server | None = None
    port: int = 0
    _open: set[asyncio.StreamWriter]

    async def start(self) -> Self:
        self._open = set()
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self._open):
            writer.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            await self._handle(reader, writer)
        finally:
            self._open.discard(writer)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError
