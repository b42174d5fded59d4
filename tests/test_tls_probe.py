"""The TLS probe against real TLS servers on 127.0.0.1 (harness/tls_zoo.py): certificate
verdicts, minimum versions, the earliest expiry in the served chain, phases; and the HTTP
probe reporting the same chain expiry. Names resolve through a table, never through DNS."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pydantic
import pytest

from harness.http_zoo import ZooResolver, start_zoo
from harness.tls_zoo import LONG, NAME, OTHER_NAME, Zoo
from probes import Phase, ProbeContext, Reason
from probes.http import HttpSpec, probe_http
from probes.tls import TlsSpec, probe_tls

LOOKUP = 0.05  # seconds each table lookup takes, so the resolve phase is visible


@pytest.fixture
def resolver() -> ZooResolver:
    return ZooResolver({NAME: "127.0.0.1", OTHER_NAME: "127.0.0.1"}, LOOKUP)


CA = object()  # stands for the zoo's ca_file in the table

# (id, target, host to dial (None: 127.0.0.1), spec fields, reason, detail regex,
#  expected cert_expiry: a streams.not_after key, or None for "not reported")
CASES: list[tuple[str, str, str | None, dict[str, Any], Reason | None, str, str | None]] = [
    ("valid", "valid", None, {"ca_file": CA}, None, r"^TLS1\.3 TLS_", "valid"),
    ("valid, by name", "valid", NAME, {"ca_file": CA}, None, r"^TLS1\.3 ", "valid"),
    ("untrusted issuer (system store)", "valid", None, {},
     Reason.TLS, "certificate not accepted: unable to get local issuer certificate", None),
    ("expired", "expired", None, {"ca_file": CA},
     Reason.TLS, "certificate not accepted: certificate has expired", None),
    ("wrong host", "wrong_host", None, {"ca_file": CA},
     Reason.TLS, r"certificate not accepted: IP address mismatch.*'127\.0\.0\.1'", None),
    ("wrong host, by a name it lacks", "wrong_host", NAME, {"ca_file": CA},
     Reason.TLS, r"certificate not accepted: Hostname mismatch.*zoo\.dozor\.test", None),
    ("server_name names the certificate's host", "wrong_host", None,
     {"ca_file": CA, "server_name": OTHER_NAME}, None, "^TLS1", "wrong_host"),
    ("self-signed", "self_signed", None, {"ca_file": CA},
     Reason.TLS, "certificate not accepted: self-signed certificate", None),
    ("insecure_skip_verify: self-signed", "self_signed", None, {"insecure_skip_verify": True},
     None, "^TLS1", "self_signed"),
    ("insecure_skip_verify: expired, expiry still reported", "expired", None,
     {"insecure_skip_verify": True}, None, "^TLS1", "expired"),
    ("intermediate expiring before the leaf", "short_intermediate", None, {"ca_file": CA},
     None, "^TLS1", "short_intermediate"),
    ("TLS1.2 server, default", "tls12_max", None, {"ca_file": CA},
     None, r"^TLS1\.2 ECDHE-", "tls12_max"),
    ("TLS1.2 server, min_version TLS1.2", "tls12_max", None,
     {"ca_file": CA, "min_version": "TLS1.2"}, None, r"^TLS1\.2 ", "tls12_max"),
    ("TLS1.2 server, min_version TLS1.3", "tls12_max", None,
     {"ca_file": CA, "min_version": "TLS1.3"},
     Reason.TLS, r"^negotiated TLS1\.2 with 127\.0\.0\.1:\d+, older than min_version TLS1\.3$",
     "tls12_max"),
    # Python 3.11 + OpenSSL 3 offer TLS 1.2 and 1.3 by default: a TLS 1.0 server fails.
    ("TLS1.0 server, default", "tls10_only", None, {"ca_file": CA},
     Reason.TLS, r"handshake failed: \[SSL: TLSV1_ALERT_PROTOCOL_VERSION\].*"
     r"no protocol version in common \(this client offered TLS1\.2 and newer\)", None),
    ("TLS1.0 server, min_version TLS1.2", "tls10_only", None,
     {"ca_file": CA, "min_version": "TLS1.2"},
     Reason.TLS, r"PROTOCOL_VERSION.*offered TLS1\.2 and newer", None),
    ("TLS1.0 server, min_version TLS1.1", "tls10_only", None,
     {"ca_file": CA, "min_version": "TLS1.1"},
     Reason.TLS, r"PROTOCOL_VERSION.*offered TLS1\.1 and newer", None),
    ("TLS1.0 server, min_version TLS1.0 accepts it", "tls10_only", None,
     {"ca_file": CA, "min_version": "TLS1.0"}, None, r"^TLS1\.0 ECDHE-", "tls10_only"),
    ("plain TCP server", "banner", None, {"ca_file": CA},
     Reason.TLS, r"handshake failed: \[SSL: WRONG_VERSION_NUMBER\]", None),
    ("server closes at once", "closer", None, {"ca_file": CA},
     Reason.TLS, r"connection closed during the handshake \(Connection", None),
    ("unreadable ca_file", "valid", None, {"ca_file": "/nonexistent/ca.pem"},
     Reason.ERROR, r"^cannot load ca_file '/nonexistent/ca\.pem': ", None),
]


@pytest.mark.parametrize(
    ("target", "host", "fields", "reason", "detail", "expiry"),
    [c[1:] for c in CASES], ids=[c[0] for c in CASES],
)
async def test_tls(
    streams: Zoo, ctx: ProbeContext, target: str, host: str | None, fields: dict[str, Any],
    reason: Reason | None, detail: str, expiry: str | None,
) -> None:
    fields = {k: streams.ca_file if v is CA else v for k, v in fields.items()}
    address = f"{host or '127.0.0.1'}:{getattr(streams, target).port}"
    result = await probe_tls(TlsSpec.model_validate({"address": address, **fields}), ctx)
    assert (result.reason, result.success) == (reason, reason is None), result.detail
    assert re.search(detail, result.detail), result.detail
    expected = streams.not_after[expiry].timestamp() if expiry is not None else None
    assert result.cert_expiry == expected
    if reason is not Reason.ERROR:  # an unreadable ca_file stops before connecting
        assert result.phases[Phase.CONNECT] > 0
        assert result.phases[Phase.TLS] > 0
    if host == NAME:
        assert result.phases[Phase.RESOLVE] >= LOOKUP * 0.8
    else:
        assert result.phases.get(Phase.RESOLVE, 0.0) < LOOKUP  # IP literal: no lookup


async def test_chain_expiry_is_the_intermediates(streams: Zoo, ctx: ProbeContext) -> None:
    """The leaf lives LONG; the intermediate expires first, and that is what is reported."""
    spec = TlsSpec(address=streams.short_intermediate.address, ca_file=streams.ca_file)
    result = await probe_tls(spec, ctx)
    assert result.success, result.detail
    leaf_expiry = streams.not_after["valid"].timestamp()  # issued the same second, LONG validity
    assert result.cert_expiry is not None
    assert result.cert_expiry < leaf_expiry - (LONG.total_seconds() / 2)


async def test_http_probe_reports_the_chains_earliest_expiry(
    streams: Zoo, ctx: ProbeContext
) -> None:
    server = await start_zoo(streams.contexts["short_intermediate"])
    try:
        spec = HttpSpec.model_validate(
            {"url": f"https://127.0.0.1:{server.port}/ok", "tls": {"ca_file": streams.ca_file}})
        result = await probe_http(spec, ctx)
    finally:
        await server.close()
    assert result.success, result.detail
    assert result.cert_expiry == streams.not_after["short_intermediate"].timestamp()


async def test_connect_and_dns_failures(ctx: ProbeContext, closed_port: int) -> None:
    refused = await probe_tls(TlsSpec(address=f"127.0.0.1:{closed_port}"), ctx)
    assert refused.reason is Reason.CONNECT
    assert refused.detail == f"cannot connect to 127.0.0.1:{closed_port}: Connection refused"
    assert Phase.TLS not in refused.phases
    unknown = await probe_tls(TlsSpec(address="nowhere.dozor.test:443"), ctx)
    assert unknown.reason is Reason.DNS
    assert unknown.detail.startswith("cannot resolve nowhere.dozor.test: ")
    assert unknown.phases[Phase.RESOLVE] >= LOOKUP * 0.8
    assert Phase.CONNECT not in unknown.phases


# (id, spec fields, error regex or None when valid)
SPEC_CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("host:port", {"address": "portal.example.org:443"}, None),
    ("IPv6 literal", {"address": "[::1]:443"}, None),
    ("every option", {"address": "a.example:443", "server_name": "b.example",
                      "ca_file": "/etc/ca.pem", "min_version": "TLS1.3"}, None),
    ("no port", {"address": "portal.example.org"}, "is not host:port"),
    ("URL instead", {"address": "https://portal.example.org:443"}, "is not host:port"),
    ("bare IPv6", {"address": "::1:443"}, "is not host:port"),
    ("port 0", {"address": "a.example:0"}, "outside 1-65535"),
    ("port too big", {"address": "a.example:70000"}, "outside 1-65535"),
    ("unknown version", {"address": "a.example:443", "min_version": "TLS1.4"},
     "'TLS1.0', 'TLS1.1', 'TLS1.2' or 'TLS1.3'"),
    ("unknown key", {"address": "a.example:443", "verify": False}, "Extra inputs"),
]


@pytest.mark.parametrize(("fields", "error"), [c[1:] for c in SPEC_CASES],
                         ids=[c[0] for c in SPEC_CASES])
def test_spec_validation(fields: dict[str, Any], error: str | None) -> None:
    if error is None:
        TlsSpec.model_validate(fields)
        return
    with pytest.raises(pydantic.ValidationError, match=error):
        TlsSpec.model_validate(fields)


def test_zoo_ca_file_holds_both_roots(streams: Zoo) -> None:
    """The side-by-side suite points blackbox_exporter at this one file."""
    assert Path(streams.ca_file).read_text().count("BEGIN CERTIFICATE") == 2
