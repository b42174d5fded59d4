"""Journey probe: ordered HTTP steps sharing one cookie jar for the run, with variables
extracted from responses, expectations per step, and polling until a result is ready.

Every request goes through the HTTP probe's ``call_http`` with one ``HttpExchange`` bound for
the whole run: cookies carry from step to step (and never to another run), phases are summed
over all requests, and the earliest certificate expiry is kept.

The result carries seconds per step (``steps``; a failed step is included with the time it
took until it failed) and ``time_to_result``: from the start of the step marked
``submit: true`` (else the step before the first poll step) until the poll condition held.

A failure names its step: ``step 'submit': http_status: status 500, expected one of [201]``.
Details never contain request URLs' paths, headers, bodies or variable values (they carry
credentials and personal data); only step names, statuses and catalog-written conditions.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from probes._context import ProbeContext
from probes._http_client import HttpExchange
from probes._result import ProbeResult, Reason
from probes._tls import tls_context
from probes.http import HttpCall, HttpReply, call_http
from probes.journey.extract import extract_value, fill, fill_json, until_misses
from probes.journey.spec import JourneySpec, JourneyStep

__all__ = ["JourneySpec", "probe_journey"]


@dataclass
class _Run:
    """One run's progress: variables so far, seconds per step, and the result timing."""

    variables: dict[str, str] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)
    submitted_at: float | None = None
    time_to_result: float | None = None


async def probe_journey(spec: JourneySpec, ctx: ProbeContext) -> ProbeResult:
    """Run the steps in order; the first failing step ends the run."""
    ssl_context = tls_context(spec.tls)
    if isinstance(ssl_context, ProbeResult):
        return ssl_context
    run = _Run()
    exchange = HttpExchange()
    submit_index = _submit_index(spec)
    reason: Reason | None = None
    detail = ""
    with exchange.bound():
        for index, step in enumerate(spec.steps):
            started = time.perf_counter()
            if index == submit_index:
                run.submitted_at = started
            reason, why = await _step(spec, step, ctx, ssl_context, exchange, run, started)
            run.steps[step.name] = time.perf_counter() - started
            ctx.log.debug("journey step", step=step.name, reason=reason,
                          seconds=round(run.steps[step.name], 6))
            if reason is not None:
                detail = f"step {step.name!r}: {reason}: {why}"
                break
    return ProbeResult(
        success=reason is None,
        reason=reason,
        detail=detail,
        phases=exchange.phases,
        cert_expiry=exchange.cert_expiry,
        steps=run.steps,
        time_to_result=run.time_to_result if reason is None else None,
    )


def _submit_index(spec: JourneySpec) -> int | None:
    """The step whose start begins the time to result: the one marked submit, else the one
    before the first poll (the poll itself when it comes first); None without a poll."""
    marked = next((i for i, s in enumerate(spec.steps) if s.submit), None)
    if marked is not None:
        return marked
    first_poll = next((i for i, s in enumerate(spec.steps) if s.poll is not None), None)
    return None if first_poll is None else max(first_poll - 1, 0)


async def _step(
    spec: JourneySpec,
    step: JourneyStep,
    ctx: ProbeContext,
    ssl_context: ssl.SSLContext,
    exchange: HttpExchange,
    run: _Run,
    started: float,
) -> tuple[Reason | None, str]:
    call = _call(spec, step, run.variables)
    if call is None:
        return Reason.ERROR, "the URL is not an http(s) URL once variables are filled"
    reply = await call_http(call, step.expect, ctx, ssl_context, exchange)
    if step.poll is not None and reply.reason is None:
        reply, not_ready = await _poll(step, call, reply, ctx, ssl_context, exchange, started)
        if not_ready:
            return Reason.ASSERTION, not_ready
        if reply.reason is None and run.submitted_at is not None and run.time_to_result is None:
            run.time_to_result = time.perf_counter() - run.submitted_at
    if reply.reason is not None:
        return reply.reason, reply.detail
    return _extract(step, reply, run.variables)


async def _poll(
    step: JourneyStep,
    call: HttpCall,
    reply: HttpReply,
    ctx: ProbeContext,
    ssl_context: ssl.SSLContext,
    exchange: HttpExchange,
    started: float,
) -> tuple[HttpReply, str]:
    """Repeat ``call`` until the condition holds (-> the ready reply, ""), a response fails
    the step's expectations (-> that reply), or the deadline passes (-> why not ready)."""
    assert step.poll is not None
    poll = step.poll
    deadline_at = started + poll.deadline
    polls = 1
    while (missing := until_misses(poll.until, reply)) is not None:
        now = time.perf_counter()
        if now >= deadline_at:
            return reply, (f"result not ready within {poll.deadline:g}s "
                           f"({polls} requests; last: {missing})")
        # The last request goes out at the deadline itself, not one interval before it.
        await asyncio.sleep(min(poll.every, deadline_at - now))
        reply = await call_http(call, step.expect, ctx, ssl_context, exchange)
        polls += 1
        if reply.reason is not None:
            break
    return reply, ""


def _call(spec: JourneySpec, step: JourneyStep, variables: dict[str, str]) -> HttpCall | None:
    request = step.request
    url = fill(request.url, variables)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    headers = {**spec.headers, **{k: fill(v, variables) for k, v in request.headers.items()}}
    data: Any = None
    if request.body is not None:
        data = fill(request.body, variables)
    elif request.form is not None:
        data = {k: fill(v, variables) for k, v in request.form.items()}
    elif request.json_body is not None:
        data = json.dumps(fill_json(request.json_body, variables), ensure_ascii=False)
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
    return HttpCall(
        method=request.method,
        url=url,
        headers=headers,
        data=data,
        follow_redirects=spec.follow_redirects,
        max_redirects=spec.max_redirects,
        max_body_bytes=spec.max_body_bytes,
        server_name=spec.tls.server_name,
    )


def _extract(
    step: JourneyStep, reply: HttpReply, variables: dict[str, str]
) -> tuple[Reason | None, str]:
    for name, source in step.extract.items():
        value, why = extract_value(source, reply)
        if value is None:
            return Reason.ASSERTION, f"cannot extract {name!r}: {why}"
        variables[name] = value
    return None, ""
