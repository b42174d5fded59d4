"""The TCP probe against real servers on 127.0.0.1 (harness/tls_zoo.py): connect, query_response
exchanges, TLS on connect and STARTTLS, byte caps, failure reasons. Names resolve through a
table, never through DNS."""

from __future__ import annotations

import re
from typing import Any

import pydantic
import pytest
import yaml

from harness.http_zoo import ZooResolver
from harness.tls_zoo import BANNER, NAME, Zoo
from probes import Phase, ProbeContext, Reason, run_probe
from probes.tcp import MAX_LINE_BYTES, MAX_READ_BYTES, TcpSpec, probe_tcp

LOOKUP = 0.05


@pytest.fixture
def resolver() -> ZooResolver:
    return ZooResolver({NAME: "127.0.0.1"}, LOOKUP)


CA = object()  # stands for the zoo's ca_file in the table
HELLO = [{"expect": "^220 dozor ESMTP$"}, {"send": "EHLO dozor\r\n"}, {"expect": "^EHLO dozor$"},
         {"send": "QUIT\r\n"}, {"expect": "^221 "}]
STARTTLS = [{"expect": "^220 "}, {"send": "STARTTLS\r\n"}, {"expect": "^220 ready"},
            {"starttls": True}, {"send": "NOOP\r\n"}, {"expect": "^NOOP$"}]

# (id, target, host (None: 127.0.0.1), spec fields, reason, detail regex, TLS expected)
CASES: list[tuple[str, str, str | None, dict[str, Any], Reason | None, str, bool]] = [
    ("connect only", "banner", None, {}, None, "^$", False),
    ("connect by name", "banner", NAME, {}, None, "^$", False),
    ("banner matches", "banner", None, {"query_response": [{"expect": "^220 dozor"}]},
     None, "^$", False),
    ("conversation", "banner", None, {"query_response": HELLO}, None, "^$", False),
    ("reply mismatch, then the server closes", "banner", None,
     {"query_response": [{"expect": "^220"}, {"send": "QUIT\r\n"}, {"expect": "^250"}]},
     Reason.ASSERTION, r"^reply did not match '\^250': connection closed after 1 line\(s\), "
     r"last line '221 bye' \(query_response step 3\)$", False),
    ("server closes before the banner", "closer", None,
     {"query_response": [{"expect": "^220"}]}, Reason.ASSERTION,
     r"^banner did not match '\^220': connection closed after 0 line\(s\), nothing received",
     False),
    ("closes early: connecting alone is fine", "closer", None, {}, None, "^$", False),
    ("a line over the line cap", "flood", None, {"query_response": [{"expect": "^220"}]},
     Reason.ERROR, rf"^a line longer than {MAX_LINE_BYTES} bytes while waiting for '\^220'",
     False),
    ("lines past the read cap", "chatter", None, {"query_response": [{"expect": "^220"}]},
     Reason.ASSERTION, rf"^banner did not match '\^220' within {MAX_READ_BYTES} bytes "
     r"\(\d+ lines\), last line '250-noise \d+'", False),
    ("tls: true", "valid", None,
     {"tls": True, "tls_config": {"ca_file": CA}, "query_response": HELLO},
     None, r"^TLS1\.3 TLS_", True),
    ("tls: true, expired", "expired", None, {"tls": True, "tls_config": {"ca_file": CA}},
     Reason.TLS, "certificate not accepted: certificate has expired", True),
    ("tls: true, system store", "valid", None, {"tls": True},
     Reason.TLS, "certificate not accepted: unable to get local issuer certificate", True),
    ("tls: true, insecure", "self_signed", None,
     {"tls": True, "tls_config": {"insecure_skip_verify": True}}, None, "^TLS1", True),
    ("tls: true to a plain server", "banner", None, {"tls": True},
     Reason.TLS, r"WRONG_VERSION_NUMBER", True),
    ("starttls", "banner", None,
     {"tls_config": {"ca_file": CA}, "query_response": STARTTLS}, None, r"^TLS1\.3 ", True),
    ("starttls, untrusted", "banner", None, {"query_response": STARTTLS}, Reason.TLS,
     r"certificate not accepted: unable to get local issuer.*\(query_response step 4\)$", True),
    ("unreadable ca_file", "valid", None,
     {"tls": True, "tls_config": {"ca_file": "/nonexistent/ca.pem"}},
     Reason.ERROR, r"^cannot load tls_config\.ca_file '/nonexistent/ca\.pem'", False),
]


@pytest.mark.parametrize(
    ("target", "host", "fields", "reason", "detail", "tls"),
    [c[1:] for c in CASES], ids=[c[0] for c in CASES],
)
async def test_tcp(
    streams: Zoo, ctx: ProbeContext, target: str, host: str | None, fields: dict[str, Any],
    reason: Reason | None, detail: str, tls: bool,
) -> None:
    if fields.get("tls_config", {}).get("ca_file") is CA:
        fields = {**fields, "tls_config": {"ca_file": streams.ca_file}}
    address = f"{host or '127.0.0.1'}:{getattr(streams, target).port}"
    result = await probe_tcp(TcpSpec.model_validate({"address": address, **fields}), ctx)
    assert (result.reason, result.success) == (reason, reason is None), result.detail
    assert re.search(detail, result.detail), result.detail
    assert result.phases[Phase.CONNECT] > 0
    assert (Phase.TLS in result.phases) == tls
    if tls and reason is None:
        assert result.cert_expiry == streams.not_after[target if target != "banner" else "valid"]\
            .timestamp()
        assert result.phases[Phase.TLS] > 0
    else:
        assert result.cert_expiry is None
    if host == NAME:
        assert result.phases[Phase.RESOLVE] >= LOOKUP * 0.8


async def test_silent_server_is_cut_off_by_the_callers_timeout(
    streams: Zoo, ctx: ProbeContext
) -> None:
    spec = TcpSpec.model_validate(
        {"address": streams.silent.address, "query_response": [{"expect": "^220"}]})
    result, took = await run_probe(probe_tcp, spec, ctx, timeout=0.5)
    assert result.reason is Reason.TIMEOUT, result.detail
    assert 0.4 < took < 5  # not early, and cut: only a hang reaches 10x the 0.5 s timeout


async def test_timeout_keeps_the_phases_before_the_cut(streams: Zoo, ctx: ProbeContext) -> None:
    """Resolved and connected, then waiting for a banner that never comes."""
    port = streams.silent.address.rsplit(":", 1)[1]
    spec = TcpSpec.model_validate(
        {"address": f"{NAME}:{port}", "query_response": [{"expect": "^220"}]})
    result, _ = await run_probe(probe_tcp, spec, ctx, timeout=0.3)
    assert result.reason is Reason.TIMEOUT, result.detail
    assert result.phases[Phase.RESOLVE] > 0, result.phases
    assert result.phases[Phase.CONNECT] > 0, result.phases


async def test_connect_and_dns_failures(ctx: ProbeContext, closed_port: int) -> None:
    refused = await probe_tcp(TcpSpec(address=f"127.0.0.1:{closed_port}"), ctx)
    assert refused.reason is Reason.CONNECT
    assert refused.detail == f"cannot connect to 127.0.0.1:{closed_port}: Connection refused"
    unknown = await probe_tcp(TcpSpec(address="nowhere.dozor.test:25"), ctx)
    assert unknown.reason is Reason.DNS
    assert unknown.detail.startswith("cannot resolve nowhere.dozor.test: ")
    assert unknown.phases[Phase.RESOLVE] >= LOOKUP * 0.8
    assert Phase.CONNECT not in unknown.phases


async def test_send_escapes_as_written_in_yaml(streams: Zoo, ctx: ProbeContext) -> None:
    """A double-quoted YAML "\\r\\n" is CR LF on the wire: the server answers QUIT only once
    it has a whole line."""
    text = f"""
address: "{streams.banner.address}"
query_response:
  - expect: "^{BANNER}$"
  - send: "QUIT\\r\\n"
  - expect: "^221 bye$"
"""
    spec = TcpSpec.model_validate(yaml.safe_load(text))
    assert spec.query_response[1].send == "QUIT\r\n"
    result = await probe_tcp(spec, ctx)
    assert result.success, result.detail


# (id, spec fields, error regex or None when valid)
SPEC_CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("the catalog fixture's form", {"address": "example.org:443"}, None),
    ("IPv6 literal", {"address": "[2001:db8::1]:25"}, None),
    ("starttls with its options", {"address": "mx.example:25", "tls_config": {"ca_file": "x"},
                                   "query_response": [{"starttls": True}]}, None),
    ("no port", {"address": "mx.example"}, "is not host:port"),
    ("step with two keys", {"address": "mx.example:25",
                            "query_response": [{"expect": "a", "send": "b"}]},
     "exactly one of expect, send, starttls; found expect, send"),
    ("empty step", {"address": "mx.example:25", "query_response": [{}]},
     "exactly one of expect, send, starttls; found none"),
    ("starttls: false", {"address": "mx.example:25", "query_response": [{"starttls": False}]},
     "Input should be True"),
    ("bad regex", {"address": "mx.example:25", "query_response": [{"expect": "("}]},
     "not a valid regular expression"),
    ("tls_config without TLS", {"address": "mx.example:25", "tls_config": {"ca_file": "x"}},
     "tls_config has no effect without tls: true or a starttls step"),
    ("starttls on a TLS connection", {"address": "mx.example:465", "tls": True,
                                      "query_response": [{"starttls": True}]},
     "a starttls step needs a plain connection"),
    ("two starttls", {"address": "mx.example:25",
                      "query_response": [{"starttls": True}, {"starttls": True}]},
     "only once"),
    ("unknown step key", {"address": "mx.example:25", "query_response": [{"recv": "x"}]},
     "Extra inputs"),
]


@pytest.mark.parametrize(("fields", "error"), [c[1:] for c in SPEC_CASES],
                         ids=[c[0] for c in SPEC_CASES])
def test_spec_validation(fields: dict[str, Any], error: str | None) -> None:
    if error is None:
        TcpSpec.model_validate(fields)
        return
    with pytest.raises(pydantic.ValidationError, match=error):
        TcpSpec.model_validate(fields)
