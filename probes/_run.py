"""The caller's side of a probe: apply the timeout and time the run. Probes themselves never
time out or measure their own total duration."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from probes._context import ProbeContext
from probes._result import ProbeResult, Reason

ProbeFn = Callable[[Any, ProbeContext], Awaitable[ProbeResult]]


async def run_probe(
    fn: ProbeFn, spec: Any, ctx: ProbeContext, timeout: float
) -> tuple[ProbeResult, float]:
    """Run one probe under ``timeout`` seconds; returns the result and the wall time taken."""
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            result = await fn(spec, ctx)
    except TimeoutError:
        result = ProbeResult.fail(Reason.TIMEOUT, f"no result within {timeout:g}s")
    return result, time.perf_counter() - start
