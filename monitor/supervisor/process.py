"""One worker as the supervisor sees it: its process, its channel, its HTTP client.

A question to a worker is numbered; ``ask`` waits for the answer with that number and drops
older ones, so a worker that answers after a timeout cannot answer the next question with
the previous answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any

import aiohttp

from monitor.runtime.daemon import DaemonOptions
from monitor.supervisor.channel import Channel, Failed, Ready, Start


class WorkerGone(Exception):
    """The worker's channel closed or it did not answer in time."""


# What an HTTP request to a worker raises when the worker dies or is dropped under it: a
# ClientError, a reset or a cut body (OSError, IncompleteReadError), a timeout, and aiohttp's
# RuntimeError for a session or connection closed mid-request ("Session is closed").
UNREACHABLE: tuple[type[BaseException], ...] = (
    aiohttp.ClientError, OSError, TimeoutError, asyncio.IncompleteReadError, RuntimeError)


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start a worker: its daemon options and the logging it inherits."""

    options: DaemonOptions
    log_level: str
    log_json: bool | None
    start_timeout: float  # loading a 20,000-service catalog on a loaded machine fits


class WorkerProcess:
    def __init__(self, index: int) -> None:
        self.index = index
        self.name = str(index)
        self.process: asyncio.subprocess.Process | None = None
        self.ready = False
        self.fingerprint: str | None = None
        self.http: aiohttp.ClientSession | None = None
        self._channel: Channel | None = None
        self._asked = 0
        self._lock = asyncio.Lock()

    async def spawn(self, launch: Launch) -> Ready | Failed:
        """Start the process and wait until it serves (``Ready``) or says why it cannot
        (``Failed``: the catalog's errors). Raises ``WorkerGone`` if it dies first."""
        path = launch.options.unix_socket
        assert path is not None
        ours, theirs = socket.socketpair()
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "monitor.supervisor.worker", str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                # Not in the terminal's process group: Ctrl-C reaches the supervisor only,
                # which stops the workers in order.
                start_new_session=True)
        finally:
            theirs.close()
        self._channel = await Channel.open(ours)
        first = await self.ask(Start(launch.options, launch.log_level, launch.log_json),
                               launch.start_timeout)
        if isinstance(first, Ready):
            self.fingerprint = first.fingerprint
            self.http = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=str(path)))
            self.ready = True
            return first
        if isinstance(first, Failed):
            return first
        raise WorkerGone(f"worker {self.name} answered {type(first).__name__} to Start")

    async def ask(self, message: Any, timeout: float) -> Any:
        async with self._lock:
            channel = self._channel
            if channel is None:
                raise WorkerGone(f"worker {self.name} is not running")
            self._asked += 1
            number = self._asked
            try:
                async with asyncio.timeout(timeout):
                    await channel.send(number, message)
                    while True:
                        answered, reply = await channel.receive()
                        if answered == number:
                            return reply
            except (EOFError, ConnectionError) as exc:
                raise WorkerGone(f"worker {self.name} is gone") from exc
            except TimeoutError as exc:
                raise WorkerGone(f"worker {self.name} did not answer within {timeout:g} s"
                                 ) from exc

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    def signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, sig)

    async def scrape(self, timeout: aiohttp.ClientTimeout) -> str:
        """The worker's ``/metrics``; ``WorkerGone`` if it is not running or dies meanwhile."""
        http = self.http
        if http is None:
            raise WorkerGone(f"worker {self.name} is not running")
        try:
            async with http.get("http://worker/metrics", timeout=timeout) as got:
                got.raise_for_status()
                return await got.text()
        except UNREACHABLE as exc:
            raise WorkerGone(f"worker {self.name}: {type(exc).__name__}: {exc}") from exc

    async def closed(self) -> None:
        """After the process ended: drop the channel and client."""
        self.ready = False
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        # Dropped before it is closed: while close() awaits, a request started meanwhile
        # must see no client, not a closing one.
        http, self.http = self.http, None
        if http is not None:
            await http.close()
