"""A simulated back-office job for the demo's heartbeat: the night's processing of pension
applications, each "night" compressed to two minutes so the demo shows it.

It reports its start and its end to the daemon's ping endpoint with a run id (the daemon
measures the run), and misses one night in five: the heartbeat then turns ``missed`` until the
next night's run succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import aiohttp

NIGHT = 120.0  # seconds: the demo catalog's heartbeat expects a success every 2m (+1m grace)
RUN_TIME = 5.0  # seconds the night's processing takes
MISSED_EVERY = 5  # every fifth night the job does not run
FIRST_NIGHT = 10.0  # seconds after the demo starts: the daemon listens by then


async def _ping(session: aiohttp.ClientSession, url: str) -> None:
    # The daemon may not listen yet (the job starts first) or be stopping: that night's ping
    # is lost, as a real job's would be.
    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
        async with session.post(url) as response:
            await response.read()


async def run_nights(ping_url: str, say: Callable[[str], None], *, night: float = NIGHT,
                     run_time: float = RUN_TIME, missed_every: int = MISSED_EVERY,
                     nights: int | None = None) -> None:
    """Run the job every ``night`` seconds (``nights`` times, or until cancelled), reporting
    to ``ping_url`` (``…/ping/<token>``)."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        number = 0
        while nights is None or number < nights:
            number += 1
            began = asyncio.get_running_loop().time()
            if number % missed_every == 0:
                say(f"{time.strftime('%H:%M:%S')} nightly job: night {number} skipped (the "
                    "pension service's heartbeat will report it missed)")
            else:
                run = f"?rid=night-{number}"
                await _ping(session, f"{ping_url}/start{run}")
                await asyncio.sleep(run_time)
                await _ping(session, f"{ping_url}/0{run}")  # exit code 0: success
            left = night - (asyncio.get_running_loop().time() - began)
            if nights is None or number < nights:
                await asyncio.sleep(max(0.0, left))


@contextlib.asynccontextmanager
async def nightly_job(ping_url: str, say: Callable[[str], None]) -> AsyncIterator[None]:
    """The job, running in the background while the context is open."""
    async def later() -> None:
        await asyncio.sleep(FIRST_NIGHT)
        await run_nights(ping_url, say)

    task = asyncio.create_task(later())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
