"""ICMP probe: ``count`` echo requests to one host, judged by how many were answered.

Sockets: an unprivileged ICMP datagram socket (``SOCK_DGRAM``/``IPPROTO_ICMP``, allowed when
the process's group is inside ``net.ipv4.ping_group_range``; the same sysctl governs IPv6)
is tried first, a raw socket (root or ``CAP_NET_RAW``) second. The socket is connected to the
target, so only its traffic is read, and an ICMP error about it (unreachable) is reported.
Replies are matched by sequence number and the payload sent (raw sockets: identifier too; a
datagram socket's identifier is rewritten by the kernel); anything else is ignored.

How a run can end (first match wins):

- ``error``: neither socket may be opened (the detail says how to grant it), or a request
  cannot be sent, e.g. ``dont_fragment`` with a packet larger than the path MTU;
- ``dns``: the host did not resolve (to an address of the allowed family);
- ``denied``: the host is, or resolves only to, addresses in a denied network
  (``--deny-networks``): no echo request is sent;
- ``connect``: the kernel reports the target unreachable on the connected socket (no route,
  or an ICMP error it attributes to it); an ICMP error from a router that the kernel does
  not report this way is not read, so that run ends as ``timeout``;
- ``timeout``: no reply at all (within ``packet_timeout`` of each request when set; else
  the caller's probe timeout cuts the run);
- ``assertion``: some replies came, but the loss ratio exceeds ``max_loss`` (default: no
  loss accepted).

On success (and on ``assertion``) the detail carries replies/requests, the loss ratio and the
RTT min/avg/max in milliseconds. No metric family of its own: the loss and RTTs are in the
detail and the debug log line. Phases: ``resolve``; ``connect`` is the socket's setup
(blackbox_exporter's ``setup``); ``processing`` runs from the first request to the last
reply (for one packet: its RTT, blackbox_exporter's ``rtt``).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, model_validator

from probes._context import ProbeContext
from probes._deny import refused
from probes._kind import SpecBase
from probes._result import Phase, PhaseRecord, ProbeResult, Reason
from probes._run import phase_record
from probes._spec import Duration, Percent, format_duration, format_percent
from probes._stream import os_error_text, session_resolver

__all__ = ["IcmpSpec", "probe_icmp"]

# Linux <netinet/in.h>; Python 3.11 does not export them.
_IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)
_IP_PMTUDISC_DO = getattr(socket, "IP_PMTUDISC_DO", 2)
_IP_MTU = getattr(socket, "IP_MTU", 14)
_IPV6_MTU = getattr(socket, "IPV6_MTU", 24)
# (request, reply) ICMP types per family
_ECHO: dict[int, tuple[int, int]] = {socket.AF_INET: (8, 0), socket.AF_INET6: (128, 129)}
_MAX_PACKET = 65535 + 60  # an IPv4 datagram with options, the largest a read must hold
MAX_PAYLOAD = 65507  # 65535 - 20 (IPv4 header) - 8 (ICMP header)

_GRANT_HINT = (
    "allow unprivileged ICMP sockets for the daemon's group "
    "(sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"; in Kubernetes the pod sysctl "
    "net.ipv4.ping_group_range) or give it CAP_NET_RAW for raw sockets"
)
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECONNREFUSED, errno.EACCES,
                errno.EPERM, errno.EHOSTDOWN, errno.ENONET, errno.EPROTO}


class IcmpSpec(SpecBase):
    host: str = Field(min_length=1, pattern=r"^[^\s/\[\]@:]+$|^[0-9A-Fa-f:.]+$",
                      description="host name or IP literal (no port, no brackets)")
    count: int = Field(1, ge=1, le=100, description="echo requests sent per run")
    interval: Duration = Field(1.0, description="between two requests (count > 1)")
    packet_timeout: Duration | None = Field(
        None, description="a request not answered this long after it was sent is lost; "
        "unset: the run waits for every reply until the probe timeout cuts it")
    max_loss: Percent | None = Field(
        None, description="the largest loss ratio still a success, e.g. '34%'; unset: every "
        "request must be answered (needs packet_timeout)")
    payload_size: int = Field(56, ge=0, le=MAX_PAYLOAD, description="bytes after the ICMP "
                              "header (ping's default 56: 64-byte ICMP packets)")
    dont_fragment: bool = Field(False, description="set DF (IPv6: IPV6_DONTFRAG): a packet "
                                "larger than the path MTU fails instead of being fragmented")
    ttl: int | None = Field(None, ge=1, le=255, description="IP TTL / IPv6 hop limit; unset: "
                            "the system default")
    preferred_ip_protocol: Literal["ip4", "ip6"] = Field(
        "ip6", description="address family tried first for a host name (blackbox_exporter's)")
    ip_protocol_fallback: bool = Field(True, description="use the other family if the "
                                       "preferred one has no address")

    @model_validator(mode="after")
    def _loss_needs_a_deadline(self) -> IcmpSpec:
        if self.max_loss is not None and self.packet_timeout is None:
            raise ValueError("max_loss needs packet_timeout: without it a lost request is "
                             "waited for until the probe timeout, which fails the run")
        return self

    def latency_objective(self) -> float | None:
        """None: an ICMP probe has no latency objective of its own."""
        return None

    def time_budget(self) -> float | None:
        """Sending every request and waiting ``packet_timeout`` for the last one."""
        if self.packet_timeout is None:
            return None
        return (self.count - 1) * self.interval + self.packet_timeout

    def time_budget_problem(self, budget: float, timeout: float) -> str:
        return (f"(count - 1) x interval + packet_timeout is {format_duration(budget)}, not "
                f"below the probe timeout {format_duration(timeout)}")


class _Failed(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _new_socket(family: int, kind: int, proto: int) -> socket.socket:
    """Opened here so tests can refuse one kind of socket."""
    return socket.socket(family, kind, proto)


def open_icmp_socket(family: int) -> tuple[socket.socket, bool]:
    """A non-blocking ICMP socket of ``family`` and whether it is a datagram one; _Failed
    (``error``) naming how to grant it when neither kind is permitted."""
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    refused: list[str] = []
    for kind, name in ((socket.SOCK_DGRAM, "datagram"), (socket.SOCK_RAW, "raw")):
        try:
            sock = _new_socket(family, kind, proto)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EACCES, errno.EPROTONOSUPPORT):
                raise
            refused.append(f"{name}: {os_error_text(exc)}")
            continue
        sock.setblocking(False)
        return sock, kind == socket.SOCK_DGRAM
    raise _Failed(Reason.ERROR, f"no ICMP socket permitted ({'; '.join(refused)}): "
                                f"{_GRANT_HINT}")


async def _resolve(spec: IcmpSpec, ctx: ProbeContext) -> tuple[int, str]:
    """The target's family and address: the first one, in the preferred family first, that
    is not in a denied network (``denied`` when every one found is)."""
    try:
        literal = ipaddress.ip_address(spec.host)
    except ValueError:
        pass
    else:
        why = ctx.deny.refusal(str(literal))
        if why is not None:
            raise _Failed(Reason.DENIED, refused(spec.host, None, [why]))
        return (socket.AF_INET if literal.version == 4 else socket.AF_INET6), str(literal)
    order = [socket.AF_INET6, socket.AF_INET]
    if spec.preferred_ip_protocol == "ip4":
        order.reverse()
    if not spec.ip_protocol_fallback:
        order = order[:1]
    resolver = session_resolver(ctx.http)
    problem = "no addresses"
    refusals: list[str] = []
    for family in order:
        try:
            found = await resolver.resolve(spec.host, 0, family)
        except OSError as exc:
            problem = os_error_text(exc)
            continue
        for entry in found:
            if entry["family"] == family:
                why = ctx.deny.refusal(entry["host"])
                if why is None:
                    return family, entry["host"]
                refusals.append(why)
    if refusals:
        raise _Failed(Reason.DENIED, refused(spec.host, None, refusals))
    wanted = "/".join("IPv4" if f == socket.AF_INET else "IPv6" for f in order)
    raise _Failed(Reason.DNS, f"cannot resolve {spec.host} ({wanted}): {problem}")


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _packet(kind: int, ident: int, seq: int, payload: bytes, checksummed: bool) -> bytes:
    header = struct.pack("!BBHHH", kind, 0, 0, ident, seq)
    if checksummed:  # IPv4 raw only: the kernel fills it for datagram and ICMPv6 sockets
        header = struct.pack("!BBHHH", kind, 0, _checksum(header + payload), ident, seq)
    return header + payload


@dataclass(eq=False)
class _Exchange:
    sock: socket.socket
    family: int
    address: str
    datagram: bool
    ident: int
    payloads: list[bytes]
    sent: dict[int, float] = field(default_factory=dict)  # seq -> perf_counter at send
    rtts: dict[int, float] = field(default_factory=dict)  # seq -> seconds
    all_in: asyncio.Event = field(default_factory=asyncio.Event)

    def match(self, data: bytes, at: float) -> None:
        if self.family == socket.AF_INET and not self.datagram and len(data) >= 20:
            data = data[(data[0] & 0x0F) * 4:]  # IPv4 raw reads include the IP header
        if len(data) < 8:
            return
        kind, _code, _sum, ident, seq = struct.unpack("!BBHHH", data[:8])
        if kind != _ECHO[self.family][1] or seq not in self.sent or seq in self.rtts:
            return
        if (not self.datagram and ident != self.ident) or data[8:] != self.payloads[seq]:
            return
        self.rtts[seq] = at - self.sent[seq]
        if len(self.rtts) == len(self.payloads):
            self.all_in.set()


def _configure(sock: socket.socket, family: int, spec: IcmpSpec) -> None:
    if family == socket.AF_INET:
        if spec.ttl is not None:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, spec.ttl)
        if spec.dont_fragment:
            sock.setsockopt(socket.IPPROTO_IP, _IP_MTU_DISCOVER, _IP_PMTUDISC_DO)
    else:
        if spec.ttl is not None:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, spec.ttl)
        if spec.dont_fragment:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_DONTFRAG, 1)


def _send_failure(exc: OSError, ex: _Exchange, size: int) -> _Failed:
    if exc.errno == errno.EMSGSIZE:
        mtu = ""
        try:
            level = socket.IPPROTO_IP if ex.family == socket.AF_INET else socket.IPPROTO_IPV6
            option = _IP_MTU if ex.family == socket.AF_INET else _IPV6_MTU
            mtu = f" (path MTU {ex.sock.getsockopt(level, option)})"
        except OSError:
            pass
        return _Failed(Reason.ERROR, f"cannot send a {size}-byte echo request to {ex.address} "
                                     f"with dont_fragment: too large for the path{mtu}")
    return _received_failure(exc, ex)


def _received_failure(exc: OSError, ex: _Exchange) -> _Failed:
    text = os_error_text(exc)
    if exc.errno in _UNREACHABLE:
        return _Failed(Reason.CONNECT, f"{ex.address}: {text}")
    return _Failed(Reason.ERROR, f"echo to {ex.address} failed: {text}")


async def _receive(ex: _Exchange) -> None:
    loop = asyncio.get_running_loop()
    while True:  # ends when every reply is in, or by cancellation
        try:
            data = await loop.sock_recv(ex.sock, _MAX_PACKET)
        except OSError as exc:
            raise _received_failure(exc, ex) from None
        ex.match(data, time.perf_counter())
        if ex.all_in.is_set():
            return


async def _send_all(ex: _Exchange, spec: IcmpSpec) -> None:
    loop = asyncio.get_running_loop()
    request = _ECHO[ex.family][0]
    raw_v4 = ex.family == socket.AF_INET and not ex.datagram
    start = time.perf_counter()
    for seq, payload in enumerate(ex.payloads):
        if seq:
            await asyncio.sleep(max(0.0, start + seq * spec.interval - time.perf_counter()))
        packet = _packet(request, ex.ident, seq, payload, raw_v4)
        ex.sent[seq] = time.perf_counter()
        try:
            await loop.sock_sendall(ex.sock, packet)
        except OSError as exc:
            raise _send_failure(exc, ex, len(packet)) from None
    if spec.packet_timeout is not None:  # the last request's wait; earlier ones are shorter
        await asyncio.sleep(max(0.0, ex.sent[len(ex.payloads) - 1] + spec.packet_timeout
                                - time.perf_counter()))


def _late(ex: _Exchange, limit: float | None) -> None:
    """Replies slower than packet_timeout are losses, as if they had not come."""
    if limit is not None:
        for seq in [s for s, rtt in ex.rtts.items() if rtt > limit]:
            del ex.rtts[seq]


async def probe_icmp(spec: IcmpSpec, ctx: ProbeContext) -> ProbeResult:
    """``spec.count`` echo requests to ``spec.host``, judged by the loss ratio."""
    record = phase_record()  # the caller's record: kept if the run is cut off
    try:
        started = time.perf_counter()
        try:
            family, address = await _resolve(spec, ctx)
        finally:
            record.add(Phase.RESOLVE, time.perf_counter() - started)
        started = time.perf_counter()
        try:
            sock, datagram = open_icmp_socket(family)
        finally:
            record.add(Phase.CONNECT, time.perf_counter() - started)
        try:
            result = await _exchange(spec, ctx, record, sock, family, address, datagram)
        finally:
            sock.close()
    except _Failed as failed:
        ctx.log.debug("icmp probe finished", failure=failed.reason, detail=failed.detail)
        return ProbeResult.fail(failed.reason, failed.detail, record.phases)
    return result


async def _exchange(spec: IcmpSpec, ctx: ProbeContext, record: PhaseRecord,
                    sock: socket.socket, family: int, address: str, datagram: bool
                    ) -> ProbeResult:
    """The socket's set-up (added to ``connect``) and the echo exchange (``processing``),
    recorded in ``record``, the run's one record."""
    started = time.perf_counter()
    try:
        _configure(sock, family, spec)
        sock.connect((address, 0) if family == socket.AF_INET else (address, 0, 0, 0))
    except OSError as exc:
        raise _Failed(Reason.CONNECT if exc.errno in _UNREACHABLE else Reason.ERROR,
                      f"cannot set up the ICMP socket to {address}: {os_error_text(exc)}"
                      ) from None
    finally:
        record.add(Phase.CONNECT, time.perf_counter() - started)
    token = os.urandom(8)
    payloads = [(token + seq.to_bytes(2, "big")) * (spec.payload_size // 10 + 1)
                for seq in range(spec.count)]
    ex = _Exchange(sock, family, address, datagram, int.from_bytes(os.urandom(2), "big"),
                   [p[:spec.payload_size] for p in payloads])
    record.begin(Phase.PROCESSING, time.perf_counter())
    receiver = asyncio.ensure_future(_receive(ex))
    sender = asyncio.ensure_future(_send_all(ex, spec))
    try:
        if spec.packet_timeout is None:
            # Every reply is awaited; the caller's timeout cuts a run that lost one.
            await asyncio.gather(receiver, sender)
        else:
            done, _ = await asyncio.wait({receiver, sender},
                                         return_when=asyncio.FIRST_COMPLETED)
            # Either every reply is in, or the last request's wait is over; the other task
            # is cancelled below.
            if receiver in done:
                receiver.result()  # raises a receive failure
            else:
                sender.result()
    finally:
        for task in (receiver, sender):
            task.cancel()
        await asyncio.gather(receiver, sender, return_exceptions=True)
    last = max((ex.sent[s] + r for s, r in ex.rtts.items()), default=time.perf_counter())
    record.end(last)
    _late(ex, spec.packet_timeout)
    return _judge(spec, ctx, ex, record.phases)


def _judge(spec: IcmpSpec, ctx: ProbeContext, ex: _Exchange,
           phases: dict[Phase, float]) -> ProbeResult:
    answered, sent = len(ex.rtts), spec.count
    loss = 1 - answered / sent
    rtts = sorted(ex.rtts.values())
    shown = format_percent(loss) if loss else "0%"
    summary = f"{answered}/{sent} replies from {ex.address}, loss {shown}"
    if rtts:
        summary += (f", rtt min/avg/max {rtts[0] * 1000:.3f}/{sum(rtts) / len(rtts) * 1000:.3f}/"
                    f"{rtts[-1] * 1000:.3f} ms")
    ctx.log.debug("icmp probe finished", address=ex.address, sent=sent, answered=answered,
                  loss=round(loss, 6), rtts=[round(r, 6) for r in rtts],
                  socket="datagram" if ex.datagram else "raw")
    allowed = spec.max_loss or 0.0
    if not answered:
        assert spec.packet_timeout is not None  # without it the caller's timeout cut the run
        return ProbeResult.fail(Reason.TIMEOUT, f"no reply from {ex.address} to {sent} echo "
                                f"request(s) within {format_duration(spec.packet_timeout)}",
                                phases)
    if loss > allowed + 1e-9:
        return ProbeResult.fail(Reason.ASSERTION, f"{summary}: over max_loss "
                                f"{format_percent(allowed) if allowed else '0%'}", phases)
    return ProbeResult(True, None, summary, phases)
