"""The world's non-HTTP services, one per probe kind beyond http: a DNS server, a mail
server's banner with STARTTLS, and a gRPC health server.

- DNS (UDP and TCP on one port): the zone in ``RECORDS``; ``STALE_NAME`` answers
  ``STALE_ADDRESS`` instead of 127.0.0.1 while :func:`faults.hourly_fault_on` holds in its
  region's local time. Unknown names under the zone: NXDOMAIN; other zones: REFUSED.
- SMTP-like banner: ``220 <MAIL_HOST> ESMTP ...``, then ``EHLO`` (advertises STARTTLS until
  TLS is on), ``STARTTLS`` (upgrades with the world's normal certificate), ``NOOP``,
  ``QUIT``; anything else ``502``.
- gRPC health (``grpc.health.v1.Health/Check``): ``""`` and ``APPLICATIONS_SERVICE`` are
  SERVING; ``PAYMENTS_SERVICE`` is NOT_SERVING while the hourly fault is on in Khabarovsk;
  other names NOT_FOUND.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from collections.abc import Callable
from datetime import datetime
from typing import cast
from zoneinfo import ZoneInfo

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from monitor.demo.faults import hourly_fault_on

ZONE = "gosuslugi.demo."
STALE_NAME = "permit.khv.gosuslugi.demo."
STALE_ADDRESS = "192.0.2.10"  # TEST-NET-1: the backend's old address, never reachable
FAULT_ZONE = ZoneInfo("Asia/Vladivostok")  # the stale record and NOT_SERVING: Khabarovsk time
TTL = 60
# name -> (type, value); the healthy answers. Every A record is the loopback: the world's host.
RECORDS: dict[str, tuple[str, str]] = {
    "www.gosuslugi.demo.": ("A", "127.0.0.1"),
    "kindergarten.mos.gosuslugi.demo.": ("A", "127.0.0.1"),
    STALE_NAME: ("A", "127.0.0.1"),
    "mail.gosuslugi.demo.": ("A", "127.0.0.1"),
    "gosuslugi.demo.": ("MX", "10 mail.gosuslugi.demo."),
}
MAIL_HOST = "mail.gosuslugi.demo"
BANNER = f"220 {MAIL_HOST} ESMTP Dozor demo world"
APPLICATIONS_SERVICE = "gosuslugi.demo.Applications"
PAYMENTS_SERVICE = "gosuslugi.demo.Payments"

Now = Callable[[], datetime]


# --- DNS --------------------------------------------------------------------------------


def answer(query: dns.message.Message, now: Now) -> dns.message.Message:
    """The world's reply to one query, from the zone and the clock."""
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    if not query.question:
        response.set_rcode(dns.rcode.FORMERR)
        return response
    question = query.question[0]
    name = question.name.to_text().lower()
    if not dns.name.from_text(name).is_subdomain(dns.name.from_text(ZONE)):
        response.flags &= ~dns.flags.AA
        response.set_rcode(dns.rcode.REFUSED)
        return response
    record = RECORDS.get(name)
    if record is None:
        response.set_rcode(dns.rcode.NXDOMAIN)
        return response
    rdtype, value = record
    if name == STALE_NAME and hourly_fault_on(now().astimezone(FAULT_ZONE)):
        value = STALE_ADDRESS
    if dns.rdatatype.from_text(rdtype) == question.rdtype:
        response.answer.append(dns.rrset.from_text(name, TTL, "IN", rdtype, value))
    return response


class _DnsUdp(asyncio.DatagramProtocol):
    def __init__(self, now: Now) -> None:
        self.now = now
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except Exception:  # garbage gets no answer, as from a real server
            return
        if self.transport is not None:
            self.transport.sendto(answer(query, self.now).to_wire(), addr)


async def _dns_tcp(now: Now, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            query = dns.message.from_wire(await reader.readexactly(length))
            wire = answer(query, now).to_wire()
            writer.write(struct.pack("!H", len(wire)) + wire)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, dns.exception.DNSException):
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def start_dns(host: str, port: int,
                    now: Now) -> tuple[int, asyncio.DatagramTransport, asyncio.Server]:
    """UDP and TCP on the same port. Port 0: the UDP socket picks one and TCP follows; if
    that TCP port is taken, another pick (a few tries)."""
    loop = asyncio.get_running_loop()
    for attempt in range(1 if port else 10):
        udp, _ = await loop.create_datagram_endpoint(lambda: _DnsUdp(now),
                                                     local_addr=(host, port))
        chosen: int = udp.get_extra_info("sockname")[1]
        try:
            tcp = await asyncio.start_server(lambda r, w: _dns_tcp(now, r, w), host, chosen)
        except OSError:
            udp.close()
            if port or attempt == 9:
                raise
            continue
        except BaseException:
            udp.close()
            raise
        return chosen, udp, tcp
    raise AssertionError("unreachable")


# --- SMTP-like banner with STARTTLS ------------------------------------------------------


async def _smtp(context: ssl.SSLContext, reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter) -> None:
    secure = False

    async def say(*lines: str) -> None:
        writer.write("".join(f"{line}\r\n" for line in lines).encode())
        await writer.drain()

    try:
        await say(BANNER)
        while line := (await reader.readline()).decode(errors="replace").strip():
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                offers = [] if secure else ["STARTTLS"]
                lines = [MAIL_HOST, *offers, "8BITMIME"]
                await say(*(f"250-{x}" for x in lines[:-1]), f"250 {lines[-1]}")
            elif verb == "STARTTLS" and not secure:
                await say("220 2.0.0 Ready to start TLS")
                await writer.start_tls(context)
                secure = True
            elif verb == "NOOP":
                await say("250 2.0.0 OK")
            elif verb == "QUIT":
                await say("221 2.0.0 Bye")
                break
            else:
                await say("502 5.5.2 Error: command not recognized")
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def start_smtp(host: str, port: int, context: ssl.SSLContext) -> tuple[int, asyncio.Server]:
    server = await asyncio.start_server(lambda r, w: _smtp(context, r, w), host, port)
    return server.sockets[0].getsockname()[1], server


# --- gRPC health --------------------------------------------------------------------------


def health_status(service: str, now: Now) -> str:
    """SERVING, NOT_SERVING or NOT_FOUND for one health-checked service name."""
    if service in ("", APPLICATIONS_SERVICE):
        return "SERVING"
    if service == PAYMENTS_SERVICE:
        return "NOT_SERVING" if hourly_fault_on(now().astimezone(FAULT_ZONE)) else "SERVING"
    return "NOT_FOUND"


async def start_grpc(host: str, port: int, now: Now) -> tuple[int, object]:
    """A plaintext gRPC server with the standard health service only."""
    import grpc  # here: heavy, and only the world needs it
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    class _Health(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
        async def Check(self, request: health_pb2.HealthCheckRequest,
                        context: grpc.aio.ServicerContext) -> health_pb2.HealthCheckResponse:
            status = health_status(request.service, now)
            if status == "NOT_FOUND":
                await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown {request.service!r}")
            return health_pb2.HealthCheckResponse(
                status=health_pb2.HealthCheckResponse.ServingStatus.Value(status))

    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(_Health(), server)
    chosen = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    return chosen, server
