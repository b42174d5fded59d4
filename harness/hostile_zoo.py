"""Hostile HTTP endpoints on 127.0.0.1, one raw asyncio server per misbehaviour.

Each :class:`Behaviour` listens on its own port, so even "never read a byte" can be told apart:

- ``healthy``: a small 200 answer, then close;
- ``hang-accept``: accept the connection and never answer (reads and discards until EOF);
- ``hang-headers``: send the status line and headers promising a body, then nothing;
- ``trickle``: headers, then one body byte every ``trickle_every`` seconds;
- ``huge``: a 50 MB body with no Content-Length (read until close), streamed chunk by chunk;
- ``huge-declared``: the same with ``Content-Length: 52428800``;
- ``reset``: read the request, then close with RST.

Huge bodies come from a generator over one shared 64 KiB block, so the zoo never holds more
than that in memory; the largest number of bytes written on one connection is kept in
``stats`` (and served as JSON on the ``stats`` port), which shows how early the client hung up.

Run it in its own process (``python -m harness.hostile_zoo``) so its CPU and file descriptors
are not counted against the daemon under test: it prints one JSON line ``{behaviour: port}``
and serves until its stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import socket
import struct
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HUGE_BYTES = 50 * 1024 * 1024
_BLOCK = b"z" * 65536
_OK_BODY = "Запись открыта".encode()


class Behaviour(enum.StrEnum):
    HEALTHY = "healthy"
    HANG_ACCEPT = "hang-accept"
    HANG_HEADERS = "hang-headers"
    TRICKLE = "trickle"
    HUGE = "huge"
    HUGE_DECLARED = "huge-declared"
    RESET = "reset"
    STATS = "stats"


@dataclass
class Stat:
    connections: int = 0
    max_bytes_sent: int = 0  # body bytes written on one connection before it ended


def huge_body(total: int) -> Iterator[memoryview]:
    """``total`` bytes in 64 KiB slices of one block: streamed, never materialised."""
    block = memoryview(_BLOCK)
    left = total
    while left > 0:
        piece = block[: min(left, len(block))]
        left -= len(piece)
        yield piece


@dataclass
class HostileZoo:
    huge_bytes: int = HUGE_BYTES
    trickle_every: float = 0.05
    ports: dict[Behaviour, int] = field(default_factory=dict)
    stats: dict[Behaviour, Stat] = field(default_factory=lambda: {b: Stat() for b in Behaviour})
    _servers: list[asyncio.Server] = field(default_factory=list)
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> HostileZoo:
        for behaviour in Behaviour:
            async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter,
                             b: Behaviour = behaviour) -> None:
                # Cancelled by close(): asyncio 3.11 would log the CancelledError as an error.
                with contextlib.suppress(asyncio.CancelledError):
                    await self._handle(b, r, w)

            server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
            self._servers.append(server)
            self.ports[behaviour] = server.sockets[0].getsockname()[1]
        return self

    def url(self, behaviour: Behaviour, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports[behaviour]}{path}"

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=2)
        for server in self._servers:
            await server.wait_closed()

    async def _handle(self, behaviour: Behaviour, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        stat = self.stats[behaviour]
        stat.connections += 1
        try:
            if behaviour is Behaviour.HANG_ACCEPT:
                await _until_eof(reader)
                return
            await reader.readuntil(b"\r\n\r\n")
            if behaviour is Behaviour.HEALTHY:
                writer.write(_head(len(_OK_BODY)) + _OK_BODY)
            elif behaviour is Behaviour.STATS:
                body = json.dumps({b.value: vars(s) for b, s in self.stats.items()}).encode()
                writer.write(_head(len(body), "application/json") + body)
            elif behaviour is Behaviour.HANG_HEADERS:
                writer.write(_head(1000))
                await writer.drain()
                await _until_eof(reader)
            elif behaviour is Behaviour.TRICKLE:
                await self._trickle(writer, stat)
            elif behaviour in (Behaviour.HUGE, Behaviour.HUGE_DECLARED):
                declared = self.huge_bytes if behaviour is Behaviour.HUGE_DECLARED else None
                await self._stream(writer, stat, declared)
            elif behaviour is Behaviour.RESET:
                _reset(writer)
                return
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client hung up: that is the point of most of these
        finally:
            self._writers.discard(writer)
            self._handlers.discard(task)
            writer.close()

    async def _trickle(self, writer: asyncio.StreamWriter, stat: Stat) -> None:
        size = 10_000
        writer.write(_head(size))
        for sent in range(1, size + 1):
            await asyncio.sleep(self.trickle_every)
            writer.write(b"t")
            await writer.drain()
            stat.max_bytes_sent = max(stat.max_bytes_sent, sent)

    async def _stream(self, writer: asyncio.StreamWriter, stat: Stat, declared: int | None
                      ) -> None:
        # No Content-Length and Connection: close means "the body runs until the server closes".
        writer.write(_head(declared))
        sent = 0
        try:
            for piece in huge_body(self.huge_bytes):
                writer.write(piece)
                await writer.drain()
                sent += len(piece)
        finally:
            stat.max_bytes_sent = max(stat.max_bytes_sent, sent)


def _head(length: int | None, content_type: str = "text/plain; charset=utf-8") -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Type: {content_type}", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN (SO_LINGER with a zero timeout)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(frozen=True)
class ZooProcess:
    """A running ``python -m harness.hostile_zoo``, from :func:`zoo_process`."""

    process: subprocess.Popen[str]
    ports: dict[Behaviour, int]

    def url(self, behaviour: Behaviour, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports[behaviour]}{path}"

    def stats(self) -> dict[Behaviour, Stat]:
        with urllib.request.urlopen(self.url(Behaviour.STATS), timeout=5) as reply:
            raw = json.load(reply)
        return {Behaviour(k): Stat(**v) for k, v in raw.items()}


@contextlib.contextmanager
def zoo_process() -> Iterator[ZooProcess]:
    """Start the zoo in its own process; it is stopped (stdin closed, then killed) on exit."""
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen([sys.executable, "-m", "harness.hostile_zoo"], cwd=root,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"hostile zoo did not start (exit code {process.wait(5)})")
        ports = {Behaviour(k): int(v) for k, v in json.loads(line).items()}
        yield ZooProcess(process, ports)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if process.stdout is not None:
            process.stdout.close()


async def _serve() -> None:
    zoo = await HostileZoo().start()
    print(json.dumps({b.value: p for b, p in zoo.ports.items()}), flush=True)
    loop = asyncio.get_running_loop()
    try:
        # Serve until the parent closes our stdin (or dies): no orphan outlives its test.
        await loop.run_in_executor(None, sys.stdin.read)
    finally:
        await zoo.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve())
