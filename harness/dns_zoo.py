"""A real authoritative DNS server for the test zone ``gosuslugi.test.``, on 127.0.0.1 (or
::1), UDP and TCP on the same random port. Reusable by any suite that needs a DNS target.

Zone contents (TTL 300, authoritative answers, SOA in the authority section of negative ones):

=================================  =========================================================
``gosuslugi.test.``                SOA, NS, A 127.0.0.1 and 127.0.0.2, AAAA ::1,
                                   MX ``10 mx.gosuslugi.test.``, TXT ``"v=spf1 -all"``
``www.gosuslugi.test.``            CNAME ``gosuslugi.test.`` (chased: the A records follow)
``mx.gosuslugi.test.``             A 127.0.0.3
``ns.gosuslugi.test.``             A 127.0.0.1
any other name in the zone         NXDOMAIN (e.g. :data:`NXDOMAIN_NAME`)
:data:`SERVFAIL_NAME`              SERVFAIL
:data:`DROP_NAME`                  no answer at all: the query is dropped, the client times out
:data:`GARBAGE_NAME`               a reply that is not a DNS message (the query id, then junk)
names outside the zone             REFUSED
=================================  =========================================================

Use::

    async with dns_zoo() as zoo:           # serves from the running event loop
        spec = {"server": zoo.server, "query_name": GOOD_NAME, "query_type": "A"}

    with dns_zoo_in_thread() as zoo:       # serves from its own thread: for tests that block,
        subprocess.run(...)                # e.g. while an external blackbox_exporter queries it

``zoo.queries`` records every query received (name, type, transport, RD flag), in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

ORIGIN = "gosuslugi.test."
TTL = 300
GOOD_NAME = "gosuslugi.test."
GOOD_A = ("127.0.0.1", "127.0.0.2")
ALIAS_NAME = "www.gosuslugi.test."
NXDOMAIN_NAME = "nope.gosuslugi.test."
SERVFAIL_NAME = "servfail.gosuslugi.test."
DROP_NAME = "drop.gosuslugi.test."
GARBAGE_NAME = "garbage.gosuslugi.test."

SOA = "ns.gosuslugi.test. hostmaster.gosuslugi.test. 2025010101 3600 600 86400 300"
# (owner, type) -> rdata in zone-file text form.
ZONE: Mapping[tuple[str, str], tuple[str, ...]] = {
    (GOOD_NAME, "SOA"): (SOA,),
    (GOOD_NAME, "NS"): ("ns.gosuslugi.test.",),
    (GOOD_NAME, "A"): GOOD_A,
    (GOOD_NAME, "AAAA"): ("::1",),
    (GOOD_NAME, "MX"): ("10 mx.gosuslugi.test.",),
    (GOOD_NAME, "TXT"): ('"v=spf1 -all"',),
    (ALIAS_NAME, "CNAME"): (GOOD_NAME,),
    ("mx.gosuslugi.test.", "A"): ("127.0.0.3",),
    ("ns.gosuslugi.test.", "A"): ("127.0.0.1",),
}


@dataclass(frozen=True, slots=True)
class Query:
    name: str  # absolute, lower case, e.g. "gosuslugi.test."
    type: str  # "A", "MX", ...
    transport: str  # "udp" or "tcp"
    recursion_desired: bool


def _rrset(name: str, rdtype: str) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(name, TTL, "IN", rdtype, list(ZONE[name, rdtype]))


def _answer(query: dns.message.Message) -> dns.message.Message:
    """The authoritative reply for the zone above (the special names are handled earlier)."""
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    question = query.question[0]
    name = question.name.to_text().lower()
    rdtype = dns.rdatatype.to_text(question.rdtype)
    if not question.name.is_subdomain(dns.name.from_text(ORIGIN)):
        response.flags &= ~dns.flags.AA
        response.set_rcode(dns.rcode.REFUSED)
        return response
    if name == SERVFAIL_NAME:
        response.set_rcode(dns.rcode.SERVFAIL)
        return response
    owners = {owner for owner, _ in ZONE}
    if name not in owners:
        response.set_rcode(dns.rcode.NXDOMAIN)
        response.authority.append(_rrset(GOOD_NAME, "SOA"))
        return response
    # Follow in-zone CNAMEs the way an authoritative server does (bounded: the zone is tiny).
    for _ in range(8):
        if (name, rdtype) in ZONE:
            response.answer.append(_rrset(name, rdtype))
            break
        if (name, "CNAME") not in ZONE:
            break
        response.answer.append(_rrset(name, "CNAME"))
        name = ZONE[name, "CNAME"][0]
    if not response.answer:
        response.authority.append(_rrset(GOOD_NAME, "SOA"))  # NODATA
    return response


@dataclass
class DnsZoo:
    """The server. Prefer :func:`dns_zoo` / :func:`dns_zoo_in_thread`, which clean up."""

    host: str = "127.0.0.1"
    port: int = 0
    queries: list[Query] = field(default_factory=list)
    _udp: asyncio.DatagramTransport | None = None
    _tcp: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def server(self) -> str:
        """``host:port`` as a DNS probe spec (and blackbox_exporter's target) spell it."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def reply(self, wire: bytes, transport: str) -> bytes | None:
        """The bytes to send back for one query, or None to drop it."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None  # not a query: ignore, as a real server would
        if not query.question:
            return None
        question = query.question[0]
        name = question.name.to_text().lower()
        self.queries.append(Query(name, dns.rdatatype.to_text(question.rdtype), transport,
                                  bool(query.flags & dns.flags.RD)))
        if name == DROP_NAME:
            return None
        if name == GARBAGE_NAME:
            return wire[:2] + b"\x81"  # the right id, then a header cut short
        return _answer(query).to_wire()

    async def start(self) -> DnsZoo:
        loop = asyncio.get_running_loop()
        # UDP and TCP share one port number: take a free UDP port, then bind TCP to it,
        # retrying in the rare case something holds that TCP port.
        for _ in range(20):
            udp, _protocol = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self.host, self.port))
            port = udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, port)
            except OSError:
                udp.close()
                if self.port:
                    raise
                continue
            self._udp, self.port = udp, port
            return self
        raise RuntimeError("no port free for both UDP and TCP")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            for writer in list(self._writers):
                writer.close()
            await self._tcp.wait_closed()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                         ) -> None:
        self._writers.add(writer)
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                reply = self.reply(await reader.readexactly(length), "tcp")
                if reply is not None:
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        finally:
            self._writers.discard(writer)
            writer.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, zoo: DnsZoo) -> None:
        self.zoo = zoo
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport here

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.zoo.reply(data, "udp")
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


@contextlib.asynccontextmanager
async def dns_zoo(host: str = "127.0.0.1") -> AsyncIterator[DnsZoo]:
    """The zoo serving from the running loop (the test must await, not block, meanwhile)."""
    zoo = await DnsZoo(host).start()
    try:
        yield zoo
    finally:
        await zoo.close()


@contextlib.contextmanager
def dns_zoo_in_thread(host: str = "127.0.0.1") -> Iterator[DnsZoo]:
    """The zoo serving from its own thread and loop, so the caller may block freely."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="dns-zoo", daemon=True)
    thread.start()
    try:
        zoo = asyncio.run_coroutine_threadsafe(DnsZoo(host).start(), loop).result(30)
        try:
            yield zoo
        finally:
            asyncio.run_coroutine_threadsafe(zoo.close(), loop).result(30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def closed_udp_port(host: str = "127.0.0.1") -> tuple[socket.socket, int]:
    """A TCP socket bound (not listening) on a port with no UDP listener either: queries to it
    are refused. Keep the socket open while using the port, so nobody else takes it."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.bind((host, 0))
    return sock, sock.getsockname()[1]
