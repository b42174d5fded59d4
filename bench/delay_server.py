"""A fixed-delay HTTP endpoint for bench/vs_blackbox.py (nginx cannot delay without modules).

Answers every request after ``--delay-ms`` and records, per request path, the delay it really
applied: from the end of the request headers to the moment the response is written, on its
own clock, so a loaded machine's oversleeping is not blamed on the prober. Prints its port
once listening; on SIGTERM writes ``{path: [seconds, ...]}`` to ``--out`` and exits; with
``--received FILE``, also when each of those requests came (``{path: [unix time, ...]}``, in
the same order), so a run can be matched with its own request by time even when other runs
of the same path never reached the server (bench/auth_flood.py).

    python bench/delay_server.py --delay-ms 20 --out /tmp/delays.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from collections import defaultdict
from pathlib import Path

BODY = b"delayed page\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


class _Delayed(asyncio.Protocol):
    def __init__(self, delay: float, seen: dict[str, list[float]],
                 received: dict[str, list[float]]) -> None:
        self._delay = delay
        self._seen = seen
        self._received = received
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._buffer is None:
            return
        self._buffer += data
        if b"\r\n\r\n" not in self._buffer:
            return
        received = time.perf_counter()
        path = self._buffer.split(b" ", 2)[1].decode("latin-1")
        self._buffer = None  # type: ignore[assignment]
        asyncio.get_running_loop().call_later(self._delay, self._answer, path, received,
                                              time.time())

    def _answer(self, path: str, received: float, received_at: float) -> None:
        assert self._transport is not None
        self._seen[path].append(time.perf_counter() - received)
        self._received[path].append(received_at)
        self._transport.write(RESPONSE)
        self._transport.close()


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--delay-ms", type=float, default=20.0)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--received", type=Path, default=None)
    args = p.parse_args()
    seen: dict[str, list[float]] = defaultdict(list)
    received: dict[str, list[float]] = defaultdict(list)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Delayed(args.delay_ms / 1000, seen, received),
                                      "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()
    args.out.write_text(json.dumps(seen))
    if args.received is not None:
        args.received.write_text(json.dumps(received))


if __name__ == "__main__":
    asyncio.run(main())
