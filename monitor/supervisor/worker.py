"""One worker process under ``dozor run --workers``: a whole daemon over its share of the
catalog (``DaemonOptions.shard``), listening on a private Unix socket, told by its
supervisor when to load, apply or drop a catalog.

``python -m monitor.supervisor.worker FD``: FD is the inherited end of the channel. The
worker stops when its supervisor says so (SIGTERM) or is gone (the channel closes), so a
killed supervisor leaves no worker probing on its own. It ignores SIGHUP and SIGINT: a
reload must reach every worker or none, and Ctrl-C is the supervisor's to handle.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import socket
import sys
from typing import Any

import structlog

from monitor.catalog import Catalog, CatalogError
from monitor.runtime.daemon import Daemon
from monitor.runtime.logs import configure_logging
from monitor.supervisor.channel import (
    Abort,
    Channel,
    Commit,
    Done,
    Failed,
    Prepare,
    Prepared,
    Ready,
    RollBack,
    Start,
)


def fingerprint(catalog: Catalog) -> str:
    """Equal for equal catalogs: workers that loaded different file contents (an edit landed
    between two workers' reads) are told apart before anything is applied."""
    return hashlib.blake2b(catalog.model_dump_json().encode(), digest_size=16).hexdigest()


class _Worker:
    def __init__(self, channel: Channel, daemon: Daemon) -> None:
        self._channel = channel
        self._daemon = daemon
        self._held: Catalog | None = None  # loaded by Prepare, applied by Commit
        self._before: Catalog | None = None  # what ran before the last Commit
        self._log = structlog.get_logger("dozor.worker")

    async def answer(self, message: Any) -> Any:
        daemon = self._daemon
        if isinstance(message, Prepare):
            self._held = None
            try:
                catalog = await daemon.load()
            except CatalogError as exc:
                daemon.reload_rejected(exc)
                return Prepared(None, tuple(str(issue) for issue in exc.issues))
            self._held = catalog
            return Prepared(await asyncio.to_thread(fingerprint, catalog))
        if isinstance(message, Commit):
            held, self._held = self._held, None
            if held is None:
                return Done(ok=False)
            self._before = daemon.catalog  # this worker's share: re-applying it selects it
            return Done(daemon.commit(held))
        if isinstance(message, Abort):
            if self._held is not None:
                self._held = None
                daemon.metrics.reload_result(False)
                self._log.error("reload rejected by another worker; running catalog kept")
            return Done(ok=True)
        if isinstance(message, RollBack):
            before, self._before = self._before, None
            ok = before is not None and daemon.commit(before, "running catalog restored")
            return Done(ok)
        raise TypeError(f"unknown message {type(message).__name__}")

    async def serve(self) -> None:
        """Answer the supervisor until it stops us or goes away."""
        while True:
            try:
                number, message = await self._channel.receive()
            except EOFError:
                self._log.warning("supervisor gone; stopping")
                return
            reply = await self.answer(message)
            await self._channel.send(number, reply)


async def _main(fd: int) -> int:
    channel = await Channel.open(socket.socket(fileno=fd))
    number, start = await channel.receive()
    assert isinstance(start, Start), type(start)
    options = start.options
    daemon = Daemon(options)
    configure_logging(start.log_level, start.log_json, secrets=lambda: daemon.secrets,
                      fields={"worker": options.worker})
    try:
        catalog = await daemon.load()
    except CatalogError as exc:
        await channel.send(number, Failed(tuple(str(issue) for issue in exc.issues)))
        return 1
    await daemon.start(catalog)
    await channel.send(number, Ready(await asyncio.to_thread(fingerprint, catalog)))

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    for sig in (signal.SIGHUP, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: None)
    served = asyncio.create_task(_Worker(channel, daemon).serve())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({served, stopped}, return_when=asyncio.FIRST_COMPLETED)
    served.cancel()
    stopped.cancel()
    await daemon.stop()
    channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(int(sys.argv[1]))))
