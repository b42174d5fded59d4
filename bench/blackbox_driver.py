"""Drives blackbox_exporter the way Prometheus does: one ``/probe?target=...&module=...`` HTTP
request per probe, sent on a fixed schedule at ``--rate`` per second with at most
``--concurrency`` in flight. Runs in its own process so its CPU is not blackbox's.

Every ``--delay-every``-th probe targets the fixed-delay endpoint under a unique path, so the
probe's ``probe_duration_seconds`` can be matched with the delay the server really applied.
Prints ``ready`` when started; writes one JSON file at the end:
``{"runs": [[scheduled, lag, done, ok, duration, delay_path], ...]}`` (wall-clock seconds).

    python bench/blackbox_driver.py --blackbox http://127.0.0.1:9115 --rate 500 \
        --duration 15 --page http://127.0.0.1:8080/ --delay http://127.0.0.1:8081 --out r.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp


def _sample(text: str, name: str) -> float | None:
    at = text.find("\n" + name + " ")
    if at < 0:
        return None
    end = text.find("\n", at + 1)
    return float(text[at + len(name) + 2:end])


async def main(args: argparse.Namespace) -> None:
    runs: list[list[Any]] = []
    limit = asyncio.Semaphore(args.concurrency)
    # Like Prometheus: a pooled keep-alive client towards the exporter.
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": "5.5"}
    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one(k: int, scheduled: float) -> None:
            delay_path = ""
            if args.delay_every and k % args.delay_every == 0:
                delay_path = f"/d/{args.run_id}/b{k}"
                target = args.delay + delay_path
            else:
                target = f"{args.page}b{k}"
            try:
                lag = time.time() - scheduled
                async with session.get(f"{args.blackbox}/probe",
                                       params={"target": target, "module": "http_2xx"}) as resp:
                    text = await resp.text()
                ok = _sample(text, "probe_success") == 1.0
                runs.append([scheduled, lag, time.time(), ok,
                             _sample(text, "probe_duration_seconds"), delay_path])
            except aiohttp.ClientError:
                runs.append([scheduled, lag, time.time(), False, None, delay_path])
            finally:
                limit.release()

        print("ready", flush=True)
        start = time.time() + 0.05
        k = 0
        while True:
            scheduled = start + k / args.rate
            if scheduled > start + args.duration:
                break
            now = time.time()
            if scheduled > now:
                await asyncio.sleep(scheduled - now)
            await limit.acquire()  # bounded concurrency: a slow exporter delays sends (lag)
            task = asyncio.create_task(one(k, scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            k += 1
        if tasks:
            await asyncio.wait(tasks, timeout=10)
    args.out.write_text(json.dumps({"runs": runs}))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--blackbox", required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--page", required=True, help="nginx base URL ending in /")
    p.add_argument("--delay", required=True, help="delay server base URL")
    p.add_argument("--delay-every", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=1000)
    p.add_argument("--run-id", default="r")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--uvloop", action="store_true", help="cheaper driver on a busy machine")
    a = p.parse_args()
    if a.uvloop:
        import uvloop
        uvloop.run(main(a))
    else:
        asyncio.run(main(a))
