"""The DNS probe against a real authoritative server on 127.0.0.1/::1 (harness/dns_zoo.py):
outcomes and failure reasons over UDP and TCP, the query actually sent, timeouts, and the
spec's validation errors as the catalog loader reports them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.catalog_factory import catalog_dict, write_catalog
from harness.dns_zoo import (
    ALIAS_NAME,
    DROP_NAME,
    GARBAGE_NAME,
    GOOD_NAME,
    NXDOMAIN_NAME,
    SERVFAIL_NAME,
    DnsZoo,
    closed_udp_port,
    dns_zoo,
    dns_zoo_in_thread,
)
from monitor.catalog import CatalogError, load_catalog
from probes import Phase, ProbeContext, Reason, run_probe
from probes.dns import DnsSpec, answer_texts, probe_dns, split_server


@pytest.fixture
async def zoo() -> AsyncIterator[DnsZoo]:
    async with dns_zoo() as server:
        yield server


def spec(zoo: DnsZoo, name: str, **fields: Any) -> DnsSpec:
    return DnsSpec.model_validate({"server": zoo.server, "query_name": name, **fields})


# id -> (spec fields, expected reason or None for success, fragment of the detail)
OUTCOMES: dict[str, tuple[dict[str, Any], Reason | None, str]] = {
    "a-record": (
        {"query_name": GOOD_NAME, "expect": {
            "answers_match": [r"^gosuslugi\.test\.\t300\tIN\tA\t127\.0\.0\.1$", r"127\.0\.0\.2$"],
            "min_answers": 2}},
        None, ""),
    "a-record-without-trailing-dot": (
        {"query_name": "gosuslugi.test", "expect": {"answers_match": ["127.0.0.1"]}}, None, ""),
    "aaaa-record": (
        {"query_name": GOOD_NAME, "query_type": "AAAA",
         "expect": {"answers_match": [r"\tAAAA\t::1$"]}}, None, ""),
    "mx-record": (
        {"query_name": GOOD_NAME, "query_type": "MX",
         "expect": {"answers_match": [r"\tMX\t10 mx\.gosuslugi\.test\.$"]}}, None, ""),
    "txt-record": (
        {"query_name": GOOD_NAME, "query_type": "TXT",
         "expect": {"answers_match": ['"v=spf1 -all"']}}, None, ""),
    "cname-chased-by-the-server": (
        {"query_name": ALIAS_NAME, "expect": {
            "answers_match": [r"^www\.gosuslugi\.test\.\t300\tIN\tCNAME\tgosuslugi\.test\.$",
                              r"^gosuslugi\.test\..*\tA\t127\.0\.0\.2$"],
            "min_answers": 3}},
        None, ""),
    "nxdomain": (
        {"query_name": NXDOMAIN_NAME}, Reason.DNS,
        "NXDOMAIN for nope.gosuslugi.test. A from {server}; expected NOERROR"),
    "nxdomain-accepted-by-rcode": (
        {"query_name": NXDOMAIN_NAME, "expect": {"rcode": ["NOERROR", "NXDOMAIN"]}}, None, ""),
    "nxdomain-accepted-but-answer-required": (
        {"query_name": NXDOMAIN_NAME,
         "expect": {"rcode": ["NXDOMAIN"], "answers_match": ["127.0.0.1"]}},
        Reason.ASSERTION, "no answer record for nope.gosuslugi.test. A matches '127.0.0.1' "
        "(no answers)"),
    "noerror-rejected-when-nxdomain-expected": (
        {"query_name": GOOD_NAME, "expect": {"rcode": ["NXDOMAIN"]}}, Reason.DNS,
        "NOERROR for gosuslugi.test. A from {server}; expected NXDOMAIN"),
    "servfail": (
        {"query_name": SERVFAIL_NAME}, Reason.DNS, "SERVFAIL for servfail.gosuslugi.test. A"),
    "refused-outside-the-zone": (
        {"query_name": "gosuslugi.ru"}, Reason.DNS, "REFUSED for gosuslugi.ru A"),
    "answers-match-misses": (
        {"query_name": GOOD_NAME, "expect": {"answers_match": [r"10\.0\.0\.1"]}},
        Reason.ASSERTION,
        r"no answer record for gosuslugi.test. A matches '10\\.0\\.0\\.1' (answers: "
        "gosuslugi.test. 300 IN A 127.0.0."),
    "answers-not-match-hits": (
        {"query_name": GOOD_NAME, "expect": {"answers_not_match": [r"127\.0\.0\.2"]}},
        Reason.ASSERTION,
        r"answer record for gosuslugi.test. A matches '127\\.0\\.0\\.2': "
        "gosuslugi.test. 300 IN A 127.0.0.2"),
    "answers-not-match-clear": (
        {"query_name": GOOD_NAME, "expect": {"answers_not_match": [r"10\.0\.0\.1", "AAAA"]}},
        None, ""),
    "min-answers-short": (
        {"query_name": GOOD_NAME, "expect": {"min_answers": 3}}, Reason.ASSERTION,
        "2 answer record(s) for gosuslugi.test. A; expected at least 3"),
    "nodata-has-no-answers": (
        {"query_name": GOOD_NAME, "query_type": "CAA", "expect": {"min_answers": 1}},
        Reason.ASSERTION, "0 answer record(s) for gosuslugi.test. CAA; expected at least 1 "
        "(no answers)"),
    "malformed-response": (
        {"query_name": GARBAGE_NAME}, Reason.ERROR, "bad response from {server} over"),
}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize(("fields", "reason", "fragment"), OUTCOMES.values(), ids=list(OUTCOMES))
async def test_outcome(
    zoo: DnsZoo, ctx: ProbeContext, transport: str,
    fields: dict[str, Any], reason: Reason | None, fragment: str,
) -> None:
    probe_spec = DnsSpec.model_validate({"server": zoo.server, **fields, "transport": transport})
    result, elapsed = await run_probe(probe_dns, probe_spec, ctx, timeout=5)
    assert (result.success, result.reason) == (reason is None, reason), result.detail
    assert fragment.format(server=zoo.server) in result.detail
    # The query really went over the requested transport, once (no retries).
    assert [(q.name, q.transport) for q in zoo.queries] == [
        (_absolute(fields["query_name"]), transport)
    ]
    if reason is not Reason.ERROR:  # a response arrived: its time is the resolve phase
        assert set(result.phases) == {Phase.RESOLVE}
        assert 0 < result.phases[Phase.RESOLVE] <= elapsed



def _absolute(name: str) -> str:
    return name if name.endswith(".") else f"{name}."


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, True),
    ({"recursion_desired": True}, True),
    ({"recursion_desired": False}, False),
])
async def test_recursion_desired_flag_is_sent(
    zoo: DnsZoo, ctx: ProbeContext, fields: dict[str, Any], expected: bool
) -> None:
    result = await probe_dns(spec(zoo, GOOD_NAME, **fields), ctx)
    assert result.success, result.detail
    assert [q.recursion_desired for q in zoo.queries] == [expected]


@pytest.mark.parametrize("query_type", ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CAA"])
async def test_query_type_is_sent(zoo: DnsZoo, ctx: ProbeContext, query_type: str) -> None:
    result = await probe_dns(spec(zoo, GOOD_NAME, query_type=query_type), ctx)
    assert result.success, result.detail
    assert [q.type for q in zoo.queries] == [query_type]


async def test_internationalised_name_is_sent_as_punycode(
    zoo: DnsZoo, ctx: ProbeContext
) -> None:
    probe_spec = spec(zoo, "госуслуги.test", expect={"rcode": ["REFUSED"]})
    result = await probe_dns(probe_spec, ctx)
    assert result.success, result.detail
    assert [q.name for q in zoo.queries] == ["xn--c1aapkosapc.test."]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_dropped_query_times_out_promptly(
    zoo: DnsZoo, ctx: ProbeContext, transport: str
) -> None:
    result, elapsed = await run_probe(
        probe_dns, spec(zoo, DROP_NAME, transport=transport), ctx, timeout=0.3
    )
    assert (result.success, result.reason) == (False, Reason.TIMEOUT), result.detail
    assert 0.3 <= elapsed < 1.5  # not early (load only delays), cut: 1.2 s past, 5x the timeout
    assert len(zoo.queries) == 1  # asked once, never retried


@pytest.fixture(name="closed_udp_port")
def _closed_udp_port() -> Iterator[int]:
    """A UDP port of 127.0.0.1 bound but not answering (the TCP one is ``closed_port``)."""
    sock, port = closed_udp_port()
    with sock:
        yield port


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_refused_port_is_a_connect_failure_not_a_timeout(
    ctx: ProbeContext, closed_udp_port: int, transport: str
) -> None:
    probe_spec = DnsSpec(server=f"127.0.0.1:{closed_udp_port}", query_name=GOOD_NAME,
                         transport=transport)
    result, elapsed = await run_probe(probe_dns, probe_spec, ctx, timeout=5)
    assert (result.success, result.reason) == (False, Reason.CONNECT), result.detail
    assert f"cannot query 127.0.0.1:{closed_udp_port} over {transport}: " in result.detail
    assert result.detail.endswith("connection refused")
    assert elapsed < 2.5  # refused at once (ms), far inside the 5 s timeout: only a hang fails


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_ipv6_server(ctx: ProbeContext, transport: str) -> None:
    async with dns_zoo("::1") as zoo6:
        assert zoo6.server.startswith("[::1]:")
        result = await probe_dns(
            spec(zoo6, GOOD_NAME, transport=transport, expect={"min_answers": 2}), ctx
        )
        assert result.success, result.detail
        assert [q.transport for q in zoo6.queries] == [transport]


async def test_threaded_zoo_serves_while_the_caller_blocks(ctx: ProbeContext) -> None:
    with dns_zoo_in_thread() as zoo:
        result = await probe_dns(spec(zoo, NXDOMAIN_NAME), ctx)
        time.sleep(0.05)  # noqa: ASYNC251  # blocking the loop must not matter to this zoo
        assert result.reason is Reason.DNS and "NXDOMAIN" in result.detail


def test_answer_texts_use_blackbox_form() -> None:
    import dns.message

    response = dns.message.from_text(
        "id 1\nflags QR AA\n;QUESTION\nx.test. IN MX\n;ANSWER\n"
        "x.test. 60 IN MX 10 mx.x.test.\nx.test. 60 IN MX 20 mx2.x.test.\n"
    )
    assert answer_texts(response) == [
        "x.test.\t60\tIN\tMX\t10 mx.x.test.",
        "x.test.\t60\tIN\tMX\t20 mx2.x.test.",
    ]


@pytest.mark.parametrize(("server", "expected"), [
    ("127.0.0.1:53", ("127.0.0.1", 53)),
    ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("127.0.0.1", ("127.0.0.1", 53)),
    ("[::1]:5353", ("::1", 5353)),
    ("[::1]", ("::1", 53)),
    ("::1", ("::1", 53)),
    ("[2001:DB8::53]:53", ("2001:db8::53", 53)),
])
def test_server_forms(server: str, expected: tuple[str, int]) -> None:
    assert split_server(server) == expected
    assert DnsSpec(server=server, query_name="x.test").address == expected


# (dns spec fields, field path under the probe, message fragment)
INVALID: dict[str, tuple[dict[str, Any], str, str]] = {
    "server-host-name": (
        {"server": "ns.gosuslugi.test:53"}, "dns.server",
        "'ns.gosuslugi.test:53' is not an IP address and port; write e.g. '192.0.2.53:53'"),
    "server-port-out-of-range": (
        {"server": "127.0.0.1:70000"}, "dns.server", "the port must be a number from 1 to 65535"),
    "server-ipv6-without-brackets-and-port": (
        {"server": "[::1]53"}, "dns.server", "is not an IP address and port"),
    "server-missing": (
        {"server": None}, "dns.server", "missing required key 'server'"),
    "query-type-unknown": (
        {"query_type": "ANY"}, "dns.query_type",
        "expected 'A', 'AAAA', 'CNAME', 'MX', 'NS', 'TXT', 'SOA', 'SRV', 'PTR' or 'CAA'; "
        "got 'ANY'"),
    "transport-unknown": (
        {"transport": "quic"}, "dns.transport", "expected 'udp' or 'tcp'; got 'quic'"),
    "query-name-empty-label": (
        {"query_name": "gosuslugi..test"}, "dns.query_name",
        "'gosuslugi..test' is not a valid DNS name"),
    "query-name-root": (
        {"query_name": "."}, "dns.query_name", "must name something below the root"),
    "rcode-unknown": (
        {"expect": {"rcode": ["NOTHING"]}}, "dns.expect.rcode[0]", "got 'NOTHING'"),
    "rcode-empty": (
        {"expect": {"rcode": []}}, "dns.expect.rcode", "expected at least 1 item"),
    "answers-match-bad-regex": (
        {"expect": {"answers_match": ["127.0.0.(1"]}}, "dns.expect.answers_match[0]",
        "'127.0.0.(1' is not a valid regular expression"),
    "answers-not-match-bad-regex": (
        {"expect": {"answers_not_match": ["[z-a]"]}}, "dns.expect.answers_not_match[0]",
        "'[z-a]' is not a valid regular expression"),
    "min-answers-negative": (
        {"expect": {"min_answers": -1}}, "dns.expect.min_answers", "got -1"),
    "blackbox-key-name": (
        {"valid_rcodes": ["NOERROR"]}, "dns.valid_rcodes",
        "unknown key 'valid_rcodes'; allowed keys: server, query_name, query_type"),
}


def _catalog_with_dns(tmp_path: Path, dns_fields: dict[str, Any]) -> Path:
    dns_spec = {"server": "127.0.0.1:53", "query_name": GOOD_NAME, **dns_fields}
    data = catalog_dict(["http://127.0.0.1/"])
    data["services"][0]["probes"] = [
        {"name": "resolver", "dns": {k: v for k, v in dns_spec.items() if v is not None}}
    ]
    return write_catalog(tmp_path / "catalog.yaml", data)


@pytest.mark.parametrize(("fields", "field", "fragment"), INVALID.values(), ids=list(INVALID))
def test_invalid_spec_is_reported_by_the_loader(
    tmp_path: Path, fields: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(_catalog_with_dns(tmp_path, fields), env={})
    issues = caught.value.issues
    assert [i.field for i in issues] == [f"services[svc-00000].probes[resolver].{field}"], (
        "\n".join(map(str, issues))
    )
    assert fragment in issues[0].message, str(issues[0])
    assert issues[0].line is not None and issues[0].file.endswith("catalog.yaml")


def test_valid_spec_loads_with_defaults_and_values(tmp_path: Path) -> None:
    catalog = load_catalog(_catalog_with_dns(tmp_path, {
        "server": "[::1]:5353", "query_type": "MX", "transport": "tcp",
        "expect": {"rcode": ["NOERROR", "NXDOMAIN"], "answers_match": ["mx"]},
    }), env={})
    loaded = catalog.services[0].probes[0].spec
    assert isinstance(loaded, DnsSpec)
    assert (loaded.address, loaded.query_type, loaded.transport, loaded.recursion_desired) == (
        ("::1", 5353), "MX", "tcp", True)
    assert loaded.expect.rcode == ("NOERROR", "NXDOMAIN")
    assert loaded.expect.answers_match == ("mx",) and loaded.expect.min_answers == 0
    default = DnsSpec(server="127.0.0.1", query_name="x.test")
    assert (default.query_type, default.transport, default.expect.rcode) == (
        "A", "udp", ("NOERROR",))
