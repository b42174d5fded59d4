"""A heartbeat run: judge the pings the kind's runtime has received so far. It reaches no
service, so it never waits for anything."""

from __future__ import annotations

import time

from probes._context import ProbeContext
from probes._result import ProbeResult, Reason
from probes.heartbeat.runtime import HeartbeatRuntime
from probes.heartbeat.spec import HeartbeatSpec


async def probe_heartbeat(spec: HeartbeatSpec, ctx: ProbeContext) -> ProbeResult:
    runtime = ctx.runtime
    if not isinstance(runtime, HeartbeatRuntime):
        return ProbeResult.fail(Reason.ERROR, "no heartbeat runtime: pings cannot be received")
    return runtime.judge(ctx.service, ctx.probe, time.time())
