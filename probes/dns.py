"""DNS probe: one query to one configured server (a resolver or an authoritative server),
its rcode and answer records judged by ``expect``.

How a run can end (first match wins):

- ``denied``: the server's address is in a denied network (``--deny-networks``): nothing is
  sent;
- ``connect``: the server could not be reached: UDP or TCP refused (ICMP port unreachable
  included: the UDP socket is connected, as blackbox_exporter's is), unreachable, or a TCP
  connection closed before a full response;
- ``error``: a reply arrived that is not a valid DNS response to our query (malformed, cut
  short, wrong id or question);
- ``dns``: the rcode is not one of ``expect.rcode`` (default NOERROR), e.g. NXDOMAIN;
- ``assertion``: ``min_answers``, ``answers_match`` or ``answers_not_match`` does not hold.

No answer at all (a dropped UDP datagram, a server that never replies) is left to the
caller's timeout (``timeout``): dnspython is given no timeout of its own and the query is not
retried, so one probe is one query, as in blackbox_exporter.

Phase: the query's whole exchange (for TCP including the connection) is reported as
``resolve``: it is the time the name took to resolve against this server. blackbox_exporter
splits the same span into ``probe_dns_duration_seconds{phase="connect"}`` + ``{phase="request"}``
(its ``resolve`` phase there is the lookup of the target's own host name, which Dozor does
not need: ``server`` is an IP address). Compare ours with their sum.

Answer records are matched as text in blackbox_exporter's form (miekg/dns ``RR.String()``):
``owner<TAB>ttl<TAB>class<TAB>type<TAB>rdata``, e.g. ``gosuslugi.test.\\t300\\tIN\\tA\\t127.0.0.1``,
searched (not anchored) with Python's ``re``, so most blackbox regexes carry over. The mapping:
``answers_match`` = ``fail_if_none_matches_regexp`` (applied per regex: each must match at
least one record), ``answers_not_match`` = ``fail_if_matches_regexp``, ``expect.rcode`` =
``valid_rcodes``. The query carries EDNS0 with a 1232-byte UDP payload (the 2020 DNS flag
day size), so answers up to that size are not truncated over UDP; a truncated UDP answer is
judged as received (no TCP retry; choose ``transport: tcp`` for large answers).
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import time
from typing import Literal

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
from pydantic import Field, field_validator

from probes._context import ProbeContext
from probes._deny import refused
from probes._kind import SpecBase
from probes._result import Phase, ProbeResult, Reason
from probes._spec import Regex, StrictModel

__all__ = ["DnsExpect", "DnsSpec", "probe_dns"]

QueryType = Literal["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "SRV", "PTR", "CAA"]
Rcode = Literal[
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
    "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
]
EDNS_PAYLOAD = 1232
_SHOWN_ANSWERS = 3  # answers quoted in a failure's detail; the rest are counted


class DnsExpect(StrictModel):
    """What makes a response a success. All given conditions must hold."""

    rcode: tuple[Rcode, ...] = Field(
        ("NOERROR",), min_length=1,
        description="accepted response codes (blackbox_exporter's valid_rcodes)",
    )
    answers_match: tuple[Regex, ...] = Field(
        (), description="regexes; each must match at least one answer record in text form"
    )
    answers_not_match: tuple[Regex, ...] = Field(
        (), description="regexes; no answer record in text form may match any of them"
    )
    min_answers: int = Field(0, ge=0, description="fewest answer records accepted")


class DnsSpec(SpecBase):
    server: str = Field(
        description="IP address and port of the server to query, e.g. '192.0.2.53:53' or "
        "'[2001:db8::53]:53'; the port defaults to 53"
    )
    query_name: str = Field(description="the name to look up, e.g. 'gosuslugi.ru'")
    query_type: QueryType = "A"
    transport: Literal["udp", "tcp"] = "udp"
    recursion_desired: bool = True
    expect: DnsExpect = DnsExpect()

    @field_validator("server")
    @classmethod
    def _server_is_ip_and_port(cls, value: str) -> str:
        split_server(value)
        return value

    @field_validator("query_name")
    @classmethod
    def _name_is_valid(cls, value: str) -> str:
        try:
            name = dns.name.from_text(value)
        except (dns.exception.DNSException, UnicodeError) as exc:
            raise ValueError(f"{value!r} is not a valid DNS name: {exc}") from None
        if name == dns.name.root:
            raise ValueError("query_name must name something below the root, e.g. 'gosuslugi.ru'")
        return value

    @property
    def address(self) -> tuple[str, int]:
        """The server as (IP address, port)."""
        return split_server(self.server)

    def latency_objective(self) -> float | None:
        """None: a DNS probe has no latency objective of its own."""
        return None


def split_server(server: str) -> tuple[str, int]:
    """``'192.0.2.1:53'``, ``'[2001:db8::1]:53'``, ``'192.0.2.1'`` or ``'2001:db8::1'`` ->
    (address, port). Only IP addresses: the probe measures one given server, and finding it
    by name would need yet another resolver."""
    text = server.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            host = ""
        port = rest[1:] if rest else "53"
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"{server!r} is not an IP address and port; write e.g. '192.0.2.53:53' or "
            "'[2001:db8::53]:53' (a host name is not accepted: the probe queries one given server)"
        ) from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{server!r}: the port must be a number from 1 to 65535")
    return str(address), int(port)


async def probe_dns(spec: DnsSpec, ctx: ProbeContext) -> ProbeResult:
    """One query of ``spec.query_type`` for ``spec.query_name`` to ``spec.server``."""
    host, port = spec.address
    why = ctx.deny.refusal(host)
    if why is not None:
        detail = refused(host, port, [why])
        ctx.log.debug("dns probe finished", reason=Reason.DENIED, detail=detail)
        return ProbeResult.fail(Reason.DENIED, detail)
    query = dns.message.make_query(
        spec.query_name, spec.query_type, use_edns=0, payload=EDNS_PAYLOAD
    )
    if not spec.recursion_desired:
        query.flags &= ~dns.flags.RD
    started = time.perf_counter()
    try:
        response = await _exchange(spec, query)
    except (OSError, EOFError) as exc:
        detail = f"cannot query {spec.server} over {spec.transport}: {_describe(exc)}"
        ctx.log.debug("dns probe finished", reason=Reason.CONNECT, detail=detail)
        return ProbeResult.fail(Reason.CONNECT, detail)
    except dns.exception.DNSException as exc:
        detail = f"bad response from {spec.server} over {spec.transport}: {exc}"
        ctx.log.debug("dns probe finished", reason=Reason.ERROR, detail=detail)
        return ProbeResult.fail(Reason.ERROR, detail)
    phases = {Phase.RESOLVE: time.perf_counter() - started}
    reason, detail = _judge(spec, response)
    ctx.log.debug("dns probe finished", reason=reason, detail=detail,
                  rcode=dns.rcode.to_text(response.rcode()),
                  truncated=bool(response.flags & dns.flags.TC),
                  phases={str(k): round(v, 6) for k, v in phases.items()})
    if reason is None:
        return ProbeResult.ok(phases)
    return ProbeResult.fail(reason, detail, phases)


async def _exchange(spec: DnsSpec, query: dns.message.Message) -> dns.message.Message:
    host, port = spec.address
    if spec.transport == "tcp":
        return await dns.asyncquery.tcp(query, host, port=port)
    # A connected UDP socket, so an ICMP "port unreachable" fails the query at once instead
    # of waiting for the timeout (and replies from other addresses never reach us).
    backend = dns.asyncbackend.get_default_backend()
    sock = await backend.make_socket(  # type: ignore[no-untyped-call]  # dnspython leaves it untyped
        dns.inet.af_for_address(host), socket.SOCK_DGRAM, 0, None, (host, port)
    )
    async with sock:
        return await dns.asyncquery.udp(query, host, port=port, sock=sock)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "connection closed before a full response"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno).lower()  # asyncio words it "Connect call failed (...)"
    return str(exc) or type(exc).__name__


def answer_texts(response: dns.message.Message) -> list[str]:
    """Each answer record in blackbox_exporter's (miekg/dns) text form, one per record."""
    texts: list[str] = []
    for rrset in response.answer:
        owner = rrset.name.to_text()
        rdclass = dns.rdataclass.to_text(rrset.rdclass)
        rdtype = dns.rdatatype.to_text(rrset.rdtype)
        texts.extend(
            f"{owner}\t{rrset.ttl}\t{rdclass}\t{rdtype}\t{rdata.to_text()}" for rdata in rrset
        )
    return texts


def _judge(spec: DnsSpec, response: dns.message.Message) -> tuple[Reason | None, str]:
    expect = spec.expect
    rcode = dns.rcode.to_text(response.rcode())
    asked = f"{spec.query_name} {spec.query_type}"
    if rcode not in expect.rcode:
        return Reason.DNS, (
            f"{rcode} for {asked} from {spec.server}; expected {' or '.join(expect.rcode)}"
        )
    answers = answer_texts(response)
    if len(answers) < expect.min_answers:
        return Reason.ASSERTION, (
            f"{len(answers)} answer record(s) for {asked}; expected at least "
            f"{expect.min_answers}{_quote(answers)}"
        )
    for pattern in expect.answers_match:
        if not any(re.search(pattern, text) for text in answers):
            return Reason.ASSERTION, (
                f"no answer record for {asked} matches {pattern!r}{_quote(answers)}"
            )
    for pattern in expect.answers_not_match:
        hits = [text for text in answers if re.search(pattern, text)]
        if hits:
            return Reason.ASSERTION, (
                f"answer record for {asked} matches {pattern!r}: {_one_line(hits[0])}"
            )
    return None, ""


def _one_line(text: str) -> str:
    return text.replace("\t", " ")


def _quote(answers: list[str]) -> str:
    if not answers:
        return " (no answers)"
    shown = "; ".join(_one_line(a) for a in answers[:_SHOWN_ANSWERS])
    more = len(answers) - _SHOWN_ANSWERS
    return f" (answers: {shown}{f'; and {more} more' if more > 0 else ''})"

