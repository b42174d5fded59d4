"""Wrong-password clients for bench/auth_flood.py, in a process of their own (not the daemon's).

``--clients`` clients run concurrently, each with its own aiohttp session bound to its own
loopback source address (``--addresses``, given round robin: one per client is the worst case
for a per-address limit; one for all is the easy case). Each sends ``GET /metrics`` with a
wrong basic-auth password (a new one every time) and sends the next as soon as the answer is
back, on a kept-alive TLS connection, until ``--duration`` seconds have passed, it has sent
``--max-requests``, or SIGTERM. Prints ``ready`` once its sessions exist; at the end writes

    {"started": t, "ended": t, "requests": n, "status": {"401": n, ...},
     "errors": {"ClientOSError": n, ...}, "per_second": {"<unix second>": {"401": n, ...}},
     "answer_s": {"401": [p50, p99], ...}, "by_address": {"127.0.0.11": {"401": n, ...}}}

(``per_second`` lets the caller count only the answers inside its measured window).

    python bench/flood_client.py --url https://127.0.0.1:9247/metrics --ca ca.pem \
        --addresses 127.0.0.11,127.0.0.12 --clients 8 --duration 30 --out flood.json
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import signal
import ssl
import time
from collections import Counter, defaultdict
from pathlib import Path

import aiohttp


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def main(args: argparse.Namespace) -> None:
    context = ssl.create_default_context(cafile=str(args.ca))
    addresses = args.addresses.split(",")
    status: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    per_second: dict[int, Counter[str]] = defaultdict(Counter)
    by_address: dict[str, Counter[str]] = defaultdict(Counter)
    answer_s: dict[str, list[float]] = defaultdict(list)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    sessions = [aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=context, limit=1,
                                       local_addr=(addresses[k % len(addresses)], 0)),
        timeout=timeout) for k in range(args.clients)]
    deadline = time.monotonic() + args.duration

    async def client(k: int, session: aiohttp.ClientSession) -> None:
        address = addresses[k % len(addresses)]
        for n in range(args.max_requests):
            if stop.is_set() or time.monotonic() >= deadline:
                return
            auth = base64.b64encode(f"{args.user}:wrong-{k}-{n}".encode()).decode()
            sent = time.perf_counter()
            try:
                async with session.get(args.url, headers={"Authorization": f"Basic {auth}"}
                                       ) as response:
                    await response.read()
                    what = str(response.status)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                what = type(exc).__name__
                errors[what] += 1
                await asyncio.sleep(0.05)  # a refused connection must not spin
            else:
                status[what] += 1
                answer_s[what].append(time.perf_counter() - sent)
            per_second[int(time.time())][what] += 1
            by_address[address][what] += 1

    started = time.time()
    print("ready", flush=True)
    async def every_client() -> None:
        await asyncio.gather(*(client(k, s) for k, s in enumerate(sessions)))

    async def signalled() -> None:
        await stop.wait()

    clients, waiting = asyncio.create_task(every_client()), asyncio.create_task(signalled())
    await asyncio.wait([waiting, clients], timeout=args.duration + args.timeout,
                       return_when=asyncio.FIRST_COMPLETED)
    clients.cancel()  # SIGTERM (or a hung answer): the requests in flight are not counted
    with contextlib.suppress(asyncio.CancelledError):
        await clients
    waiting.cancel()
    ended = time.time()
    for session in sessions:
        await session.close()
    args.out.write_text(json.dumps({
        "started": started, "ended": ended, "requests": sum(status.values()) + sum(errors.values()),
        "status": dict(status), "errors": dict(errors),
        "per_second": {str(t): dict(c) for t, c in sorted(per_second.items())},
        "answer_s": {s: [_quantile(v, 0.5), _quantile(v, 0.99)] for s, v in answer_s.items()},
        "by_address": {a: dict(c) for a, c in by_address.items()},
    }))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="the daemon's https://.../metrics")
    p.add_argument("--ca", type=Path, required=True, help="the CA that issued its certificate")
    p.add_argument("--user", default="prometheus")
    p.add_argument("--addresses", default="127.0.0.11", help="source addresses, round robin")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--duration", type=float, default=30.0, help="seconds at most")
    p.add_argument("--max-requests", type=int, default=1_000_000, help="per client, at most")
    p.add_argument("--timeout", type=float, default=60.0, help="per request")
    p.add_argument("--out", type=Path, required=True)
    asyncio.run(main(p.parse_args()))
