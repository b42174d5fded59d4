"""The supervisor's private line to one worker: a socket pair inherited by the worker
process, carrying length-prefixed pickled messages (both ends are this program, so pickle's
trust boundary is the process tree). The supervisor asks, the worker answers each question
with the question's number, so an answer that comes after its question timed out is
recognised and dropped instead of being taken for the next one's."""

from __future__ import annotations

import asyncio
import pickle
import socket
from dataclasses import dataclass
from typing import Any

from monitor.runtime.daemon import DaemonOptions

_HEADER = 4  # bytes of big-endian length before each message
MAX_MESSAGE = 16 * 1024 * 1024  # a worker's errors for a broken 20k-service catalog fit


# Supervisor -> worker


@dataclass(frozen=True, slots=True)
class Start:
    options: DaemonOptions
    log_level: str
    log_json: bool | None


@dataclass(frozen=True, slots=True)
class Prepare:
    """Load the catalog files now and hold the result; apply nothing."""


@dataclass(frozen=True, slots=True)
class Commit:
    """Apply the held catalog."""


@dataclass(frozen=True, slots=True)
class Abort:
    """Drop the held catalog: another worker could not load it (the reload failed)."""


@dataclass(frozen=True, slots=True)
class RollBack:
    """Re-apply the catalog that ran before the last commit: another worker's commit failed."""


# Worker -> supervisor


@dataclass(frozen=True, slots=True)
class Ready:
    fingerprint: str  # of the whole catalog it loaded, to compare across workers


@dataclass(frozen=True, slots=True)
class Failed:
    errors: tuple[str, ...]  # ``file:line: field: message`` each, secrets redacted


@dataclass(frozen=True, slots=True)
class Prepared:
    fingerprint: str | None  # None: not loaded, see errors
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Done:
    ok: bool


class Channel:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, sock: socket.socket) -> Channel:
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=MAX_MESSAGE)
        return cls(reader, writer)

    async def send(self, number: int, message: Any) -> None:
        blob = pickle.dumps((number, message), protocol=pickle.HIGHEST_PROTOCOL)
        self._writer.write(len(blob).to_bytes(_HEADER, "big") + blob)
        await self._writer.drain()

    async def receive(self) -> tuple[int, Any]:
        """The next message and its number; raises ``EOFError`` when the other end is gone."""
        try:
            size = int.from_bytes(await self._reader.readexactly(_HEADER), "big")
            if size > MAX_MESSAGE:
                raise EOFError(f"message of {size} bytes: the other end is not a Dozor process")
            number, message = pickle.loads(await self._reader.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise EOFError("channel closed") from exc
        return int(number), message

    def close(self) -> None:
        self._writer.close()
