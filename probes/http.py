"""HTTP probe: one request (following redirects), phases timed the blackbox_exporter way.

How a run can end (first match wins):

- ``dns`` / ``connect`` / ``tls``: no response: the name did not resolve, the TCP connection
  was refused, unreachable or reset before a response, the certificate or handshake failed;
- ``denied``: every address of the URL's host, or of a redirect's, is in a network the
  operator denies (``--deny-networks``): nothing was connected to there;
- ``http_status``: the final status is not an expected one;
- ``body_too_large``: Content-Length or the bytes read exceed ``max_body_bytes``;
- ``assertion``: a header, body or ``max_latency`` expectation does not hold;
- ``error``: any other expected misbehaviour (too many redirects, a malformed response, the
  connection broken off mid-body, an unreadable ``tls.ca_file``).

Anything else raises: it is a bug. Details never contain request headers, response header
values or the URL's path and query (any may carry secrets); the host is named, it is in the
catalog anyway.
"""

from __future__ import annotations

import logging
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import aiohttp
from aiohttp.http_exceptions import InvalidHeader, LineTooLong
from multidict import CIMultiDict, CIMultiDictProxy
from pydantic import Field, field_validator

from probes._context import ProbeContext
from probes._http_client import DeniedConnection, HttpExchange
from probes._kind import SpecBase
from probes._result import ProbeResult, Reason
from probes._spec import Duration, OneOrMany, Regex, StrictModel, check_http_url
from probes._tls import TlsOptions, tls_context

__all__ = [
    "HttpCall",
    "HttpExpect",
    "HttpReply",
    "HttpSpec",
    "call_http",
    "probe_http",
]

DEFAULT_MAX_BODY = 1024 * 1024


class HttpExpect(StrictModel):
    """What makes a response a success. All given conditions must hold."""

    status: tuple[Annotated[int, Field(ge=100, le=599)], ...] = Field(
        (), description="accepted status codes; empty means any 2xx"
    )
    body_contains: OneOrMany = ()
    body_not_contains: OneOrMany = ()
    body_regex: Regex | None = None
    headers: dict[str, Regex] = Field(
        default_factory=dict, description="header name -> regex its value must match"
    )
    max_latency: Duration | None = None



class HttpSpec(SpecBase):
    url: str = Field(description="http:// or https:// URL with a host")
    method: Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    follow_redirects: bool = True
    max_redirects: int = Field(10, ge=0, le=30)
    max_body_bytes: int = Field(DEFAULT_MAX_BODY, gt=0, le=256 * 1024 * 1024)
    tls: TlsOptions = TlsOptions()
    expect: HttpExpect = HttpExpect()

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str) -> str:
        return check_http_url(value)

    def latency_objective(self) -> float | None:
        """The longest a run may take to count as a success, if the spec sets one."""
        return self.expect.max_latency


async def probe_http(spec: HttpSpec, ctx: ProbeContext) -> ProbeResult:
    """One request (and its redirects) against ``spec.url``, judged by ``spec.expect``."""
    ssl_context = tls_context(spec.tls)
    if isinstance(ssl_context, ProbeResult):
        return ssl_context
    call = HttpCall(
        method=spec.method,
        url=spec.url,
        headers=spec.headers,
        data=spec.body,
        follow_redirects=spec.follow_redirects,
        max_redirects=spec.max_redirects,
        max_body_bytes=spec.max_body_bytes,
        server_name=spec.tls.server_name,
    )
    exchange = HttpExchange()
    with exchange.bound():
        reply = await call_http(call, spec.expect, ctx, ssl_context, exchange)
    reason, detail = reply.reason, reply.detail
    if ctx.log.is_enabled_for(logging.DEBUG):  # the phases' dict is built for this line only
        ctx.log.debug("http probe finished", reason=reason, detail=detail,
                      phases={str(k): round(v, 6) for k, v in exchange.phases.items()})
    if reason is None:
        return ProbeResult.ok(exchange.phases, exchange.cert_expiry)
    return ProbeResult.fail(reason, detail, exchange.phases, exchange.cert_expiry)


@dataclass(frozen=True, slots=True)
class HttpCall:
    """One request as sent: an HTTP probe's spec, or a journey step with its variables filled."""

    method: str
    url: str
    headers: Mapping[str, str]
    data: Any  # str, bytes, a form mapping (sent urlencoded) or None
    follow_redirects: bool = True
    max_redirects: int = 10
    max_body_bytes: int = DEFAULT_MAX_BODY
    server_name: str | None = None


@dataclass(frozen=True, slots=True)
class HttpReply:
    """The verdict on one request, plus as much of the response as was read: ``text`` only
    when the status and header expectations held (the body is not read otherwise)."""

    reason: Reason | None
    detail: str
    status: int | None = None
    headers: CIMultiDictProxy[str] | None = None
    text: str | None = None


_Verdict = tuple[Reason | None, str]
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


async def call_http(
    call: HttpCall,
    expect: HttpExpect,
    ctx: ProbeContext,
    ssl_context: ssl.SSLContext,
    exchange: HttpExchange,
) -> HttpReply:
    """Send ``call`` through the shared session and judge the response by ``expect``.

    The caller binds ``exchange`` (``with exchange.bound():``); it collects phases, certificate
    expiry and cookies over every call made while bound, so a journey's steps share them."""
    headers = CIMultiDict({"User-Agent": ctx.user_agent})
    headers.update(call.headers)  # an explicit header in the catalog wins, User-Agent too
    started = time.perf_counter()
    try:
        response = await ctx.http.request(
            call.method,
            call.url,
            headers=headers,
            data=call.data,
            allow_redirects=call.follow_redirects,
            # aiohttp fails on the max_redirects-th redirect; ours counts redirects followed.
            max_redirects=call.max_redirects + 1,
            ssl=ssl_context,
            server_hostname=call.server_name,
        )
    except aiohttp.ClientError as exc:
        return HttpReply(*_no_response(exc, call))
    try:
        return await _judge(call, expect, response, started, exchange)
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
        detail = f"connection broken off while reading the body: {_describe(exc)}"
        return HttpReply(Reason.ERROR, detail, response.status, response.headers)
    finally:
        response.close()  # force_close: never reused; also drops an unread remainder


async def _judge(
    call: HttpCall,
    expect: HttpExpect,
    response: aiohttp.ClientResponse,
    started: float,
    exchange: HttpExchange,
) -> HttpReply:
    status, headers = response.status, response.headers
    reason, detail = _judge_head(call, expect, response)
    if reason is not None:
        return HttpReply(reason, detail, status, headers)

    cap = call.max_body_bytes
    declared = response.content_length
    if declared is not None and declared > cap and call.method != "HEAD":
        # Fail before reading a byte of it.
        detail = f"Content-Length {declared} exceeds max_body_bytes {cap}"
        return HttpReply(Reason.BODY_TOO_LARGE, detail, status, headers)
    body = bytearray()
    async for chunk in response.content.iter_any():
        body += chunk
        if len(body) > cap:
            detail = f"body exceeds max_body_bytes {cap}; not read further"
            return HttpReply(Reason.BODY_TOO_LARGE, detail, status, headers)
    finished = time.perf_counter()
    exchange.body_read(finished)

    text = _decode(bytes(body), response.charset)
    reason, detail = _judge_body(expect, text, finished - started)
    return HttpReply(reason, detail, status, headers, text)


def _judge_head(call: HttpCall, expect: HttpExpect, response: aiohttp.ClientResponse) -> _Verdict:
    status = response.status
    if expect.status and status not in expect.status:
        return Reason.HTTP_STATUS, f"status {status}, expected one of {list(expect.status)}"
    if not expect.status and not 200 <= status < 300:
        unfollowed = status in _REDIRECTS and not call.follow_redirects
        hint = " (follow_redirects is off)" if unfollowed else ""
        return Reason.HTTP_STATUS, f"status {status}, expected 2xx{hint}"

    for name, pattern in expect.headers.items():
        values = response.headers.getall(name, [])
        if not values:
            return Reason.ASSERTION, f"response header {name!r} is missing"
        if not any(re.search(pattern, value) for value in values):
            # The value is not quoted: response headers such as Set-Cookie can be secrets.
            return Reason.ASSERTION, f"response header {name!r} does not match {pattern!r}"
    return None, ""


def _judge_body(expect: HttpExpect, text: str, took: float) -> _Verdict:
    for needle in expect.body_contains:
        if needle not in text:
            return Reason.ASSERTION, f"body does not contain {needle!r}"
    for needle in expect.body_not_contains:
        if needle in text:
            return Reason.ASSERTION, f"body contains {needle!r} (body_not_contains)"
    if expect.body_regex is not None and not re.search(expect.body_regex, text):
        return Reason.ASSERTION, f"body does not match body_regex {expect.body_regex!r}"
    if expect.max_latency is not None and took > expect.max_latency:
        return Reason.ASSERTION, f"took {took:.3f}s, over max_latency {expect.max_latency:g}s"
    return None, ""


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name in Content-Type
        return body.decode("utf-8", errors="replace")


def _no_response(exc: aiohttp.ClientError, call: HttpCall) -> _Verdict:
    """Map a failure before any (final) response to a reason. Order matters: the aiohttp
    classes nest (DNS and TLS errors are ClientConnectorErrors, which are ClientOSErrors)."""
    if isinstance(exc, DeniedConnection):
        return Reason.DENIED, exc.detail
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return Reason.DNS, f"cannot resolve {exc.host}: {_describe(exc.os_error)}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        error = exc.certificate_error
        why = getattr(error, "verify_message", None) or _describe(error)
        return Reason.TLS, f"certificate of {exc.host}:{exc.port} not accepted: {why}"
    if isinstance(exc, aiohttp.ClientSSLError):
        why = _describe(exc.os_error)
        return Reason.TLS, f"TLS handshake with {exc.host}:{exc.port} failed: {why}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        why = exc.strerror or _describe(exc.os_error)
        return Reason.CONNECT, f"cannot connect to {exc.host}:{exc.port}: {why}"
    if isinstance(exc, aiohttp.ServerTimeoutError):  # only if aiohttp timeouts get configured
        return Reason.TIMEOUT, _describe(exc)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
        return Reason.CONNECT, f"connection closed before a response: {_describe(exc)}"
    if isinstance(exc, aiohttp.TooManyRedirects):
        return Reason.ERROR, f"more than max_redirects ({call.max_redirects}) redirects"
    if isinstance(exc, aiohttp.RedirectClientError):
        return Reason.ERROR, "redirected to an invalid or non-HTTP(S) location"
    if isinstance(exc, aiohttp.InvalidURL):  # its str() is the URL, which may hold secrets
        return Reason.ERROR, f"URL cannot be requested: {exc.description or 'invalid'}"
    if isinstance(exc, aiohttp.ClientResponseError):
        # Malformed responses (bad status line, oversized or malformed headers).
        return Reason.ERROR, f"invalid response: {_malformed(exc)}"
    return Reason.ERROR, _describe(exc)


def _malformed(exc: aiohttp.ClientResponseError) -> str:
    """What is wrong with a malformed response, without quoting it: aiohttp's parser errors
    quote the offending bytes, which may be a header's value (a session's Set-Cookie), and
    the daemon logs a failure's detail."""
    cause = exc.__cause__
    for _ in range(5):  # aiohttp chains its own copy of the parser's error before it
        if cause is None or isinstance(cause, LineTooLong | InvalidHeader):
            break
        cause = cause.__cause__
    if isinstance(cause, LineTooLong):
        return f"a header field or the status line is over {cause.args[1]} bytes"
    if isinstance(cause, InvalidHeader):
        return "a malformed header"
    # llhttp's messages read "<problem>:\n\n  <the bytes received>\n  <a pointer>".
    problem = " ".join(exc.message.split(":\n\n", 1)[0].split())
    return problem or "malformed"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
