"""A zoo of real HTTP(S) targets on 127.0.0.1 for probe tests, reusable by other suites.

- :func:`zoo_app`: an aiohttp application with well-behaved and slow endpoints
  (serve it with ``aiohttp.test_utils.TestServer``, optionally with TLS);
- :class:`RawZoo`: a raw asyncio server for misbehaviour aiohttp's server will not produce
  (hanging, trickling a chunked body, resetting mid-body, malformed status lines, oversized
  headers);
- :class:`ZooResolver`: a name table standing in for DNS so no lookup ever leaves the machine;
- :class:`Pki`: trustme certificates: valid, expired, and self-signed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import ssl
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import trustme
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from harness.stream_server import StreamServer

UA = "Dozor/test (+24/7 e-service monitor)"  # what test sessions send; /ua echoes it
OK_TEXT = "Запись в детский сад открыта"
STEP = 0.1  # seconds each /slowhop hop waits before answering


async def _ok(_: web.Request) -> web.Response:
    return web.Response(text=OK_TEXT, headers={"X-Service": "dozor-zoo"})


async def _status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="status page")


async def _redirect(request: web.Request) -> web.Response:
    left = int(request.match_info["n"])
    if left == 0:
        return web.Response(text="arrived")
    raise web.HTTPFound(f"/redirect/{left - 1}")


async def _loop(_: web.Request) -> web.Response:
    raise web.HTTPFound("/loop")


async def _delay(request: web.Request) -> web.Response:
    await asyncio.sleep(int(request.match_info["ms"]) / 1000)
    return web.Response(text=OK_TEXT)


async def _slowhop(request: web.Request) -> web.Response:
    """Each hop waits STEP before its headers, then redirects until n reaches 0."""
    await asyncio.sleep(STEP)
    left = int(request.match_info["n"])
    if left == 0:
        return web.Response(text=OK_TEXT)
    raise web.HTTPFound(f"/slowhop/{left - 1}")


async def _slow_body(request: web.Request) -> web.StreamResponse:
    """Headers at once, then the body in two parts ``ms`` apart."""
    response = web.StreamResponse()
    response.content_length = 8
    await response.prepare(request)
    await response.write(b"abcd")
    await asyncio.sleep(int(request.match_info["ms"]) / 1000)
    await response.write(b"efgh")
    await response.write_eof()
    return response


async def _big(request: web.Request) -> web.Response:
    return web.Response(body=b"x" * int(request.match_info["size"]))


async def _big_chunked(request: web.Request) -> web.StreamResponse:
    """``size`` bytes, chunked, no Content-Length. Stops quietly once the client hangs up."""
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    left = int(request.match_info["size"])
    with contextlib.suppress(ConnectionError):
        while left > 0:
            await response.write(b"y" * min(left, 65536))
            left -= 65536
        await response.write_eof()
    return response


async def _user_agent(request: web.Request) -> web.Response:
    return web.Response(text=request.headers.get("User-Agent", ""))


async def _set_cookie(_: web.Request) -> web.Response:
    response = web.HTTPFound("/cookie/check")
    response.set_cookie("session", "s3ss10n")
    raise response


async def _check_cookie(request: web.Request) -> web.Response:
    if request.cookies.get("session") == "s3ss10n":
        return web.Response(text="logged in")
    return web.Response(status=403, text="no session cookie")


def zoo_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/ok", _ok)
    app.router.add_get("/status/{code}", _status)
    app.router.add_get("/redirect/{n}", _redirect)
    app.router.add_get("/loop", _loop)
    app.router.add_get("/delay/{ms}", _delay)
    app.router.add_get("/slowhop/{n}", _slowhop)
    app.router.add_get("/slow-body/{ms}", _slow_body)
    app.router.add_get("/big/{size}", _big)
    app.router.add_get("/big-chunked/{size}", _big_chunked)
    app.router.add_get("/ua", _user_agent)
    app.router.add_get("/cookie/set", _set_cookie)
    app.router.add_get("/cookie/check", _check_cookie)
    return app


async def start_zoo(ssl_context: ssl.SSLContext | None = None) -> TestServer:
    server = TestServer(zoo_app(), host="127.0.0.1")
    await server.start_server(ssl=ssl_context)
    return server


_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"
_CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
TRICKLE_EVERY = 0.05  # seconds between the chunks of /trickle
_TRICKLE_CHUNKS = 400  # bounded: 20 s of trickling, far past any test's timeout
# A real-world-sized Content-Security-Policy (12 KiB): over aiohttp's default 8190-byte field.
CSP_BYTES = 12 * 1024
# In the value of /huge-cookie's Set-Cookie header: must never show up in a detail or a log.
COOKIE_CANARY = "canary-c00kie-v4lue-d0-not-log"
HUGE_COOKIE_BYTES = 300 * 1024  # over probes._http_client.MAX_FIELD_SIZE (256 KiB)


def _csp_header() -> bytes:
    sources = " ".join(f"https://cdn{i}.gosuslugi.example" for i in range(CSP_BYTES // 16))
    return b"Content-Security-Policy: script-src 'self' " + sources.encode()[:CSP_BYTES] + b"\r\n"


@dataclass
class RawZoo(StreamServer):
    """Misbehaving HTTP/1.1 on a raw socket; the request path picks the misbehaviour."""

    paths: list[str] = field(default_factory=list)  # one entry per request received

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            self.paths.append(path)
            if path == "/hang":
                await reader.read()  # until the client gives up
            elif path == "/reset-before-response":
                _reset(writer)
            elif path == "/reset-mid-body":
                writer.write(_HEAD + b"z" * 1000)
                await writer.drain()
                await asyncio.sleep(0.05)
                _reset(writer)
            elif path == "/close-mid-body":
                writer.write(_HEAD + b"z" * 1000)
                await writer.drain()
            elif path == "/bad-status-line":
                writer.write(b"HTTP/1.1 OK-ish\r\n\r\n")
            elif path == "/huge-header":
                writer.write(b"HTTP/1.1 200 OK\r\nX-Big: " + b"h" * 20000 + b"\r\n\r\n")
            elif path == "/csp-12k":
                writer.write(b"HTTP/1.1 200 OK\r\n" + _csp_header()
                             + b"Content-Length: 2\r\nConnection: close\r\n\r\nok")
            elif path == "/huge-cookie":
                value = (COOKIE_CANARY * HUGE_COOKIE_BYTES)[:HUGE_COOKIE_BYTES].encode()
                writer.write(b"HTTP/1.1 200 OK\r\nSet-Cookie: session=" + value
                             + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            elif path == "/trickle":  # headers at once, then a chunk now and then, forever
                writer.write(_CHUNKED_HEAD)
                for _ in range(_TRICKLE_CHUNKS):
                    writer.write(b"1\r\nz\r\n")
                    await writer.drain()
                    await asyncio.sleep(TRICKLE_EVERY)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN (SO_LINGER with a zero timeout)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class ZooResolver(AbstractResolver):
    """DNS stand-in: names from a table (an address, or a tuple of them in the order
    getaddrinfo would give them), each lookup taking ``delay`` seconds; any other name fails
    the way getaddrinfo does for a non-existent one."""

    def __init__(self, names: Mapping[str, str | tuple[str, ...]], delay: float = 0.0) -> None:
        self.names = dict(names)
        self.delay = delay
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        await asyncio.sleep(self.delay)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        found = self.names[host]
        return [
            ResolveResult(hostname=host, host=address, port=port,
                          family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                          proto=0, flags=socket.AI_NUMERICHOST)
            for address in ((found,) if isinstance(found, str) else found)
        ]

    async def close(self) -> None:
        return None


@dataclass
class Pki:
    """A trusted CA and what it issues, plus an untrusted self-signed certificate."""

    ca: Any = field(default_factory=trustme.CA)
    stranger: Any = field(default_factory=trustme.CA)  # its own cert is served self-signed

    def ca_file(self, directory: Any) -> str:
        path = directory / "ca.pem"
        self.ca.cert_pem.write_to_path(str(path))
        return str(path)

    def server_context(
        self, *names: str, not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> ssl.SSLContext:
        leaf = self.ca.issue_cert(*names, not_before=not_before, not_after=not_after)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)
        return context

    def self_signed_context(self, directory: Any) -> ssl.SSLContext:
        cert, key = directory / "self.pem", directory / "self.key"
        self.stranger.cert_pem.write_to_path(str(cert))
        self.stranger.private_key_pem.write_to_path(str(key))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        return context
