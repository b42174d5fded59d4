"""TCP probe: connect, optional TLS on the connection, optional send/expect exchange in the
manner of blackbox_exporter's tcp module (``query_response``).

How a run can end (first match wins):

- ``dns`` / ``connect``: the name did not resolve; the connection was refused or unreachable;
- ``denied``: every address the host resolved to is in a denied network (``--deny-networks``);
- ``tls``: the handshake (``tls: true`` or a ``starttls`` step) failed or the certificate
  was not accepted;
- ``assertion``: an ``expect`` step saw the connection close, or read ``MAX_READ_BYTES``,
  without a matching line ("banner did not match" / "reply did not match");
- ``error``: a line longer than ``MAX_LINE_BYTES``, the connection reset mid-exchange, or an
  unreadable ``tls_config.ca_file``.

A server that goes quiet while a line is awaited is cut off by the caller's timeout
(reason ``timeout``): the probe owns no deadline of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from probes._address import HostPort
from probes._context import ProbeContext
from probes._kind import SpecBase
from probes._result import ProbeResult, Reason
from probes._run import phase_record
from probes._spec import Regex, StrictModel
from probes._stream import (
    MAX_LINE_BYTES,
    Failure,
    Stream,
    open_stream,
    session_resolver,
    stream_result,
)
from probes._tls import SYSTEM_TRUST, TlsOptions, ca_file_problem, stream_ssl_context

__all__ = ["MAX_LINE_BYTES", "MAX_READ_BYTES", "QueryStep", "TcpSpec", "probe_tcp"]

# Everything an exchange may read, so a chatty or hostile server cannot make us buffer more.
MAX_READ_BYTES = 1024 * 1024
_QUOTE = 120  # characters of a received line quoted in a failure detail


class QueryStep(StrictModel):
    """One step of the exchange; exactly one key."""

    expect: Regex | None = Field(
        None, description="regex; lines are read until one matches (searched, not anchored)"
    )
    send: str | None = Field(
        None, description='text sent exactly as written: give the line ending, e.g. "QUIT\\r\\n"'
    )
    starttls: Literal[True] | None = Field(
        None, description="upgrade the connection to TLS here (tls_config applies)"
    )

    @model_validator(mode="after")
    def _one_key(self) -> QueryStep:
        given = [k for k in ("expect", "send", "starttls") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a query_response step needs exactly one of expect, send, starttls; "
                f"found {', '.join(given) or 'none'}"
            )
        return self


class TcpSpec(SpecBase):
    address: HostPort = Field(description="host:port; IPv6 literals in brackets, [::1]:25")
    tls: bool = Field(False, description="TLS handshake right after connecting")
    tls_config: TlsOptions | None = Field(
        None, description="how the certificate is verified (with tls: true or a starttls step)"
    )
    query_response: tuple[QueryStep, ...] = Field(
        (), description="ordered expect/send/starttls steps; empty: connecting is success"
    )

    @model_validator(mode="after")
    def _tls_consistent(self) -> TcpSpec:
        starttls = sum(1 for step in self.query_response if step.starttls)
        if starttls > 1:
            raise ValueError("query_response may upgrade to TLS only once (one starttls step)")
        if starttls and self.tls:
            raise ValueError("a starttls step needs a plain connection; remove tls: true")
        if self.tls_config is not None and not (self.tls or starttls):
            raise ValueError(
                "tls_config has no effect without tls: true or a starttls step; add one or "
                "remove tls_config"
            )
        return self

    def latency_objective(self) -> float | None:
        """None: a TCP probe has no latency objective of its own."""
        return None


async def probe_tcp(spec: TcpSpec, ctx: ProbeContext) -> ProbeResult:
    """Connect to ``spec.address``, optionally handshake, then run ``query_response``."""
    options = spec.tls_config or SYSTEM_TRUST
    phases = phase_record().phases  # the caller's record: kept if the run is cut off
    opened = await open_stream(spec.address, session_resolver(ctx.http), phases,
                              ctx.deny)
    if isinstance(opened, tuple):
        return stream_result(ctx, "tcp", opened, phases, None)
    stream = opened
    try:
        failure = await _converse(spec, options, stream)
    finally:
        await stream.close()
    version = f"{stream.tls_version} {stream.cipher}" if stream.tls_version else ""
    return stream_result(ctx, "tcp", failure, phases, stream.cert_expiry, version)


async def _converse(spec: TcpSpec, options: TlsOptions, stream: Stream) -> Failure | None:
    if spec.tls:
        failure = await _start_tls(stream, options)
        if failure is not None:
            return failure
    budget = _Budget()
    sent = False
    for number, step in enumerate(spec.query_response, 1):
        if step.expect is not None:
            failure = await _expect(stream, step.expect, "reply" if sent else "banner", budget)
        elif step.send is not None:
            failure = await _send(stream, step.send)
            sent = True
        else:
            failure = await _start_tls(stream, options)
        if failure is not None:
            reason, detail = failure
            return reason, f"{detail} (query_response step {number})"
    return None


@dataclass(eq=False)
class _Budget:
    left: int = MAX_READ_BYTES  # bytes still allowed to be read over the whole exchange


async def _start_tls(stream: Stream, options: TlsOptions) -> Failure | None:
    try:
        context = stream_ssl_context(options.ca_file, options.insecure_skip_verify)
    except OSError as exc:  # ssl.SSLError included
        return Reason.ERROR, ca_file_problem("tls_config", options.ca_file, exc)
    return await stream.start_tls(context, options.server_name)


async def _expect(stream: Stream, pattern: str, what: str, budget: _Budget) -> Failure | None:
    regex = re.compile(pattern)
    lines = 0
    last: str | None = None
    while True:
        try:
            raw = await stream.reader.readline()
        except ValueError:  # readline's form of LimitOverrunError
            return Reason.ERROR, (
                f"a line longer than {MAX_LINE_BYTES} bytes while waiting for {pattern!r}"
            )
        except OSError as exc:
            return Reason.ERROR, (
                f"connection broken off while waiting for {pattern!r}: {_describe(exc)}"
            )
        if not raw:
            seen = f"last line {last!r}" if last is not None else "nothing received"
            return Reason.ASSERTION, (
                f"{what} did not match {pattern!r}: connection closed after {lines} "
                f"line(s), {seen}"
            )
        budget.left -= len(raw)
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if regex.search(line):
            return None
        lines += 1
        last = line[:_QUOTE]
        if budget.left <= 0:
            return Reason.ASSERTION, (
                f"{what} did not match {pattern!r} within {MAX_READ_BYTES} bytes "
                f"({lines} lines), last line {last!r}"
            )


async def _send(stream: Stream, text: str) -> Failure | None:
    try:
        stream.writer.write(text.encode("utf-8"))
        await stream.writer.drain()
    except OSError as exc:
        return Reason.ERROR, f"connection broken off while sending: {_describe(exc)}"
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
