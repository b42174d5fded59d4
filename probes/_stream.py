"""A probe's own TCP connection, optionally upgraded to TLS, with blackbox_exporter's phases
timed: resolve (zero-ish for an IP literal), connect, tls. The TCP and TLS probes use it; the
HTTP probe has its connector (probes/_http_client.py).

Names resolve through the resolver of the shared HTTP session (``ProbeContext.http``), so the
daemon has one resolver configuration and tests substitute one table for every kind. The
resolved addresses in a denied network (``ProbeContext.deny``) are dropped before connecting;
when none is left the stream fails with ``denied``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
import time
from dataclasses import dataclass

import aiohappyeyeballs
import aiohttp
from aiohttp.abc import AbstractResolver

from probes._address import split_address
from probes._context import ProbeContext
from probes._deny import DeniedNetworks, refused
from probes._result import Phase, ProbeResult, Reason
from probes._tls import earliest_expiry, handshake_failure, version_name

# StreamReader's buffer limit: also the longest line a probe will read.
MAX_LINE_BYTES = 64 * 1024
_HAPPY_EYEBALLS_DELAY = 0.25  # RFC 8305, as the HTTP connector

Failure = tuple[Reason, str]


def session_resolver(session: aiohttp.ClientSession) -> AbstractResolver:
    """The resolver the shared HTTP session's connector was built with. aiohttp has no public
    getter; ``_resolver`` is typed and stable across 3.x (tests/test_tcp_probe.py's DNS case
    fails if it moves)."""
    connector = session.connector
    if isinstance(connector, aiohttp.TCPConnector):
        return connector._resolver
    return aiohttp.DefaultResolver()


@dataclass(eq=False)
class Stream:
    """An open connection and what was learnt setting it up."""

    address: str
    host: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    phases: dict[Phase, float]
    cert_expiry: float | None = None
    tls_version: str | None = None
    cipher: str | None = None

    async def start_tls(self, context: ssl.SSLContext, server_name: str | None) -> Failure | None:
        """Handshake over the connection (right after connect, or STARTTLS mid-exchange).
        ``server_name`` (default: the address's host) is sent as SNI and verified."""
        started = time.perf_counter()
        try:
            await self.writer.start_tls(context, server_hostname=server_name or self.host)
        except (OSError, EOFError) as exc:  # ssl.SSLError is an OSError
            return Reason.TLS, f"TLS with {self.address}: {handshake_failure(exc, context)}"
        finally:
            self.phases[Phase.TLS] = self.phases.get(Phase.TLS, 0.0) + time.perf_counter() - started
        ssl_object = self.writer.get_extra_info("ssl_object")
        if isinstance(ssl_object, ssl.SSLObject):
            self.cert_expiry = earliest_expiry(ssl_object)
            self.tls_version = version_name(ssl_object)
            cipher = ssl_object.cipher()
            self.cipher = cipher[0] if cipher else None
        return None

    async def close(self) -> None:
        """Drop the connection at once. A graceful TLS close waits for the peer's close_notify
        (up to 30 s in asyncio), which must not hold a finished probe; every send was drained
        already, so nothing is lost. The yield lets the socket actually close now."""
        self.writer.transport.abort()
        await asyncio.sleep(0)


def stream_result(
    ctx: ProbeContext, kind: str, failure: Failure | None, phases: dict[Phase, float],
    cert_expiry: float | None, detail: str = "",
) -> ProbeResult:
    """A stream probe's result (``detail`` is the success detail, e.g. the TLS version), with
    the debug line that records it."""
    ctx.log.debug(f"{kind} probe finished", failure=failure, detail=detail,
                  phases={str(k): round(v, 6) for k, v in phases.items()})
    if failure is None:
        return ProbeResult(True, None, detail, phases, cert_expiry)
    return ProbeResult.fail(*failure, phases, cert_expiry)


async def open_stream(
    address: str, resolver: AbstractResolver, phases: dict[Phase, float],
    deny: DeniedNetworks,
) -> Stream | Failure:
    """Resolve and connect to ``address`` (host:port, validated by the spec) unless every
    address it resolves to is in ``deny``, filling ``phases`` as it goes, so a failure still
    reports how far it got."""
    host, port = split_address(address)
    started = time.perf_counter()
    try:
        addr_infos = await _resolve(host, port, resolver)
    except OSError as exc:
        return Reason.DNS, f"cannot resolve {host}: {os_error_text(exc)}"
    finally:
        phases[Phase.RESOLVE] = time.perf_counter() - started
    if not addr_infos:
        return Reason.DNS, f"cannot resolve {host}: no addresses"
    addr_infos, refusals = deny.screen(addr_infos)
    if not addr_infos:
        return Reason.DENIED, refused(host, port, refusals)

    started = time.perf_counter()
    try:
        sock = await aiohappyeyeballs.start_connection(
            addr_infos, happy_eyeballs_delay=_HAPPY_EYEBALLS_DELAY
        )
        try:
            reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_LINE_BYTES)
        except BaseException:
            sock.close()
            raise
    except OSError as exc:
        return Reason.CONNECT, f"cannot connect to {address}: {os_error_text(exc)}"
    finally:
        phases[Phase.CONNECT] = time.perf_counter() - started
    return Stream(address, host, reader, writer, phases)


async def _resolve(
    host: str, port: int, resolver: AbstractResolver
) -> list[aiohappyeyeballs.AddrInfoType]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        results = await resolver.resolve(host, port, socket.AF_UNSPEC)
        found = [(r["host"], r["port"]) for r in results]
    else:
        found = [(str(literal), port)]
    infos: list[aiohappyeyeballs.AddrInfoType] = []
    for ip, ip_port in found:
        if ":" in ip:
            infos.append((socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                          (ip, ip_port, 0, 0)))
        else:
            infos.append((socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                          (ip, ip_port)))
    return infos


def os_error_text(exc: OSError) -> str:
    """``Connection refused`` rather than ``[Errno 111] Connect call failed ('1.2.3.4', 25)``."""
    if isinstance(exc, socket.gaierror):
        return exc.strerror or str(exc)
    if exc.errno is not None:  # aiohappyeyeballs keeps it when every address failed alike
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__
