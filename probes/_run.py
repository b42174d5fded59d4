"""The caller's side of a probe: apply the timeout and time the run. Probes themselves never
time out or measure their own total duration.

A run cut off by its timeout still reports the phases measured before the cut: ``run_probe``
binds a :class:`PhaseRecord` for the run, a probe records into :func:`phase_record` (the
bound one, or a fresh one when called outside ``run_probe``, as tests do), and the timeout's
result is built from it. A ContextVar carries it because the probe function's signature is
the kinds' shared contract, and the probe runs in the caller's task, so it sees the binding.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from probes._context import ProbeContext
from probes._result import PhaseRecord, ProbeResult, Reason

ProbeFn = Callable[[Any, ProbeContext], Awaitable[ProbeResult]]

_RECORD: ContextVar[PhaseRecord | None] = ContextVar("dozor_phase_record", default=None)
_DEADLINE: ContextVar[float | None] = ContextVar("dozor_run_deadline", default=None)


def run_deadline() -> float | None:
    """When the current run will be cut (the event loop's clock), or None outside
    ``run_probe``: a probe that has evidence to keep (a browser's screenshot) stops a little
    earlier and reports the timeout itself."""
    return _DEADLINE.get()


def phase_record() -> PhaseRecord:
    """Where the current run records its phases."""
    record = _RECORD.get()
    return PhaseRecord() if record is None else record


async def run_probe(
    fn: ProbeFn, spec: Any, ctx: ProbeContext, timeout: float,
    on_raise: Callable[[Exception], None] | None = None,
) -> tuple[ProbeResult, float]:
    """Run one probe under ``timeout`` seconds; returns the result and the wall time taken.

    A probe that raises has a bug; its run is a failure with reason ``error`` and the phases
    reached. ``on_raise`` gets the exception (the daemon logs it once per streak); without
    one, the traceback is logged through ``ctx.log``."""
    if ctx.runtime is not None:
        # Waiting for the kind's capacity (a browser slot, a launch) is not the service's time.
        async with ctx.runtime.slot(spec):
            return await _timed(fn, spec, ctx, timeout, on_raise)
    return await _timed(fn, spec, ctx, timeout, on_raise)


async def _timed(
    fn: ProbeFn, spec: Any, ctx: ProbeContext, timeout: float,
    on_raise: Callable[[Exception], None] | None,
) -> tuple[ProbeResult, float]:
    record = PhaseRecord()
    token = _RECORD.set(record)
    deadline = asyncio.get_running_loop().time() + timeout
    deadline_token = _DEADLINE.set(deadline)
    start = time.perf_counter()
    try:
        async with asyncio.timeout_at(deadline):
            result = await fn(spec, ctx)
    except TimeoutError:
        # Cancellation has unwound the probe by now: phases it was in when cut are recorded.
        phases = record.cut(time.perf_counter())
        result = ProbeResult.fail(Reason.TIMEOUT, f"no result within {timeout:g}s", phases)
    except Exception as exc:  # any bug in a probe is a failed run, never a stalled job
        if on_raise is None:
            ctx.log.error("probe raised", error=f"{type(exc).__name__}: {exc}", exc_info=exc)
        else:
            on_raise(exc)
        result = ProbeResult.fail(Reason.ERROR, f"probe raised {type(exc).__name__}: {exc}",
                                  record.cut(time.perf_counter()))
    finally:
        _RECORD.reset(token)
        _DEADLINE.reset(deadline_token)
    return result, time.perf_counter() - start
