"""The gRPC probe against real ``grpc.aio`` servers on loopback, each run through
``run_probe`` as the daemon does: the health servicer's statuses (SERVING, NOT_SERVING,
UNKNOWN, a service it does not know), a server without the health service, a refused port,
TLS with a trustme CA (trusted via ca_file, untrusted without, wrong server_name), a plain
client at the TLS port, a handler that never answers (the caller's timeout), metadata sent,
no grpc thread left behind. The e2e half compares every verdict with blackbox_exporter's own
grpc prober on the same servers (harness/blackbox.py), table-driven as test_vs_blackbox.py.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import structlog
import trustme
from cryptography import x509
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

import probes.grpc as grpc_probe
from harness.blackbox import Blackbox
from harness.http_zoo import ZooResolver
from probes import Phase, ProbeContext, Reason, run_probe
from probes.grpc import GrpcSpec, probe_grpc

NAME = "grpc.dozor.test"  # on the TLS certificate besides 127.0.0.1 and ::1
OTHER = "other.dozor.test"
TIMEOUT = 0.5  # the cases that must run out of time
DEFAULT_TIMEOUT = 3.0
CA = "<ca file>"  # placeholder in the table, replaced by the real path
SECRET = "s3cr3t-token"


class _HangingHealth(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """Accepts the call and does not answer until ``release`` is set (at teardown)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def Check(self, request: Any, context: Any) -> Any:
        await self.release.wait()
        await context.abort(grpc.StatusCode.UNAVAILABLE, "shutting down")


class _MetadataHealth(health.aio.HealthServicer):  # type: ignore[misc]
    """The reference servicer, remembering each call's metadata."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, str]] = []

    async def Check(self, request: Any, context: Any) -> Any:
        self.seen.append({k: v for k, v in context.invocation_metadata() or ()})
        return await super().Check(request, context)


@dataclass
class World:
    """The servers; ``address(name)`` is host:port of one of them."""

    ca_file: str
    not_after: float
    ports: dict[str, int] = field(default_factory=dict)
    servicer: _MetadataHealth = field(default_factory=_MetadataHealth)
    servers: list[Any] = field(default_factory=list)
    refused: socket.socket | None = None

    def address(self, name: str, host: str = "127.0.0.1") -> str:
        if name == "refused":
            assert self.refused is not None
            return f"127.0.0.1:{self.refused.getsockname()[1]}"
        return f"[{host}]:{self.ports[name]}" if ":" in host else f"{host}:{self.ports[name]}"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bytes, bytes, float]:
    """CA file, server key and chain PEMs, the leaf's notAfter."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "::1", NAME)
    path = tmp_path_factory.mktemp("grpc-pki") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    leaf = x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes())
    chain = b"".join(blob.bytes() for blob in cert.cert_chain_pems)
    return str(path), cert.private_key_pem.bytes(), chain, leaf.not_valid_after_utc.timestamp()


def _ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture
async def world(tls: tuple[str, bytes, bytes, float]) -> AsyncIterator[World]:
    ca_file, key, chain, not_after = tls
    started = World(ca_file, not_after)
    health_server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(started.servicer, health_server)
    started.ports["health"] = health_server.add_insecure_port("127.0.0.1:0")
    started.ports["tls"] = health_server.add_secure_port(
        "127.0.0.1:0", grpc.ssl_server_credentials([(key, chain)]))
    if _ipv6():
        started.ports["health6"] = health_server.add_insecure_port("[::1]:0")
    await started.servicer.set("portal", health_pb2.HealthCheckResponse.SERVING)
    await started.servicer.set("down", health_pb2.HealthCheckResponse.NOT_SERVING)
    await started.servicer.set("limbo", health_pb2.HealthCheckResponse.UNKNOWN)
    bare = grpc.aio.server()  # no services at all
    started.ports["bare"] = bare.add_insecure_port("127.0.0.1:0")
    hanging = grpc.aio.server()
    hanger = _HangingHealth()
    health_pb2_grpc.add_HealthServicer_to_server(hanger, hanging)
    started.ports["hang"] = hanging.add_insecure_port("127.0.0.1:0")
    started.servers = [health_server, bare, hanging]
    for server in started.servers:
        await server.start()
    started.refused = socket.socket()
    started.refused.bind(("127.0.0.1", 0))
    yield started
    hanger.release.set()
    started.refused.close()
    for server in started.servers:
        await server.stop(None)


@pytest.fixture
def resolver() -> ZooResolver:
    # Names never leave the machine: NAME is 127.0.0.1, anything else does not resolve.
    return ZooResolver({NAME: "127.0.0.1"})


@dataclass(frozen=True)
class Case:
    """``dozor``: the spec's fields besides the address; ``module``: blackbox's ``grpc:``."""

    id: str
    server: str
    dozor: Mapping[str, Any]
    module: Mapping[str, Any]
    reason: Reason | None  # Dozor's verdict: None is success
    blackbox: bool  # blackbox's probe_success
    detail: str = ""  # a regex Dozor's detail must match
    why: str = ""  # one line, required exactly when the verdicts differ
    timeout: float = DEFAULT_TIMEOUT

    @property
    def module_name(self) -> str:
        return "grpc_" + re.sub(r"[^a-z0-9]+", "_", self.id.lower()).strip("_")


TLS_ON = {"tls": True, "tls_config": {"ca_file": CA}}

CASES = [
    Case("server SERVING", "health", {}, {}, None, True, r"server health: SERVING"),
    Case("service SERVING", "health", {"service": "portal"}, {"service": "portal"}, None,
         True, r"service 'portal': SERVING"),
    Case("service NOT_SERVING", "health", {"service": "down"}, {"service": "down"},
         Reason.ASSERTION, False, r"NOT_SERVING, not SERVING"),
    Case("service UNKNOWN", "health", {"service": "limbo"}, {"service": "limbo"},
         Reason.ASSERTION, False, r"UNKNOWN, not SERVING"),
    Case("service unknown to the server", "health", {"service": "nope"}, {"service": "nope"},
         Reason.ASSERTION, False, r"SERVICE_UNKNOWN \(the server answered NOT_FOUND\)"),
    Case("no health service", "bare", {}, {}, Reason.ERROR, False,
         r"no grpc.health.v1.Health service \(UNIMPLEMENTED\)"),
    Case("connection refused", "refused", {}, {}, Reason.CONNECT, False, r"Connection refused"),
    Case("handler never answers", "hang", {}, {}, Reason.TIMEOUT, False, r"no result within",
         timeout=TIMEOUT),
    Case("TLS trusted via ca_file", "tls", TLS_ON, TLS_ON, None, True, r"SERVING"),
    Case("TLS with server_name", "tls",
         {"tls": True, "tls_config": {"ca_file": CA, "server_name": NAME}},
         {"tls": True, "tls_config": {"ca_file": CA, "server_name": NAME}}, None, True,
         r"server health: SERVING"),
    Case("TLS untrusted issuer (system store)", "tls", {"tls": True}, {"tls": True},
         Reason.TLS, False, r"certificate not accepted"),
    Case("TLS wrong server_name", "tls",
         {"tls": True, "tls_config": {"ca_file": CA, "server_name": OTHER}},
         {"tls": True, "tls_config": {"ca_file": CA, "server_name": OTHER}},
         Reason.TLS, False, r"Hostname mismatch"),
    Case("TLS spoken to a plaintext server", "health", TLS_ON, TLS_ON, Reason.TLS, False,
         r"TLS with \S+: handshake failed"),
    Case("plaintext spoken to a TLS server", "tls", {}, {}, Reason.CONNECT, False,
         r"gRPC connection to"),
]


def _fill(value: Any, ca_file: str) -> Any:
    if value == CA:
        return ca_file
    if isinstance(value, Mapping):
        return {k: _fill(v, ca_file) for k, v in value.items()}
    return value


def _spec(case: Case, world: World) -> GrpcSpec:
    return GrpcSpec.model_validate(
        {"address": world.address(case.server), **_fill(case.dozor, world.ca_file)})


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_verdicts(case: Case, world: World, ctx: ProbeContext) -> None:
    result, took = await run_probe(probe_grpc, _spec(case, world), ctx, case.timeout)
    assert (result.success, result.reason) == (case.reason is None, case.reason), result.detail
    assert re.search(case.detail, result.detail), result.detail
    if case.reason is not Reason.TIMEOUT:
        assert took < case.timeout
    else:
        assert case.timeout <= took < case.timeout + 5  # cut by the caller, never early
        assert result.phases.get(Phase.PROCESSING, 0) > 0  # the call was under way
    if case.reason is not Reason.CONNECT or case.server != "refused":
        assert result.phases.get(Phase.CONNECT, 0) > 0, result.phases
    if case.server == "tls" and case.reason is None:
        assert result.phases.get(Phase.TLS, 0) > 0, result.phases
        assert result.cert_expiry == world.not_after  # the served leaf's notAfter
    if result.success:
        assert result.phases.get(Phase.PROCESSING, 0) > 0
        assert sum(result.phases.values()) <= took, (result.phases, took)


@pytest.mark.skipif(not _ipv6(), reason="no ::1 on this machine")
async def test_ipv6_literal(world: World, ctx: ProbeContext) -> None:
    spec = GrpcSpec.model_validate({"address": world.address("health6", "::1")})
    result, _ = await run_probe(probe_grpc, spec, ctx, DEFAULT_TIMEOUT)
    assert result.success, result.detail


def test_target_is_the_peer_the_stream_leg_reached() -> None:
    """grpcio is given the stream leg's peer; a missing peer is a bug, not 127.0.0.1."""
    assert grpc_probe._target(("10.0.0.7", 50051)) == "ipv4:10.0.0.7:50051"
    assert grpc_probe._target(("::1", 50051, 0, 0)) == "ipv6:[::1]:50051"
    with pytest.raises(RuntimeError, match="no peer address"):
        grpc_probe._target(None)


async def test_names_resolve_through_the_shared_resolver(
        world: World, ctx: ProbeContext, resolver: ZooResolver) -> None:
    spec = GrpcSpec.model_validate({"address": f"{NAME}:{world.ports['tls']}", "tls": True,
                                    "tls_config": {"ca_file": world.ca_file}})
    result, _ = await run_probe(probe_grpc, spec, ctx, DEFAULT_TIMEOUT)
    assert result.success, result.detail  # NAME verified on the certificate, too
    assert resolver.lookups == [NAME]  # once, by Dozor: grpcio is given the IP
    missing = GrpcSpec.model_validate({"address": f"nowhere.dozor.test:{world.ports['health']}"})
    result, _ = await run_probe(probe_grpc, missing, ctx, DEFAULT_TIMEOUT)
    assert result.reason is Reason.DNS, result.detail


async def test_unreadable_ca_file_is_an_error(
        world: World, ctx: ProbeContext, tmp_path: Path) -> None:
    spec = GrpcSpec.model_validate({"address": world.address("tls"), "tls": True,
                                    "tls_config": {"ca_file": str(tmp_path / "none.pem")}})
    result, _ = await run_probe(probe_grpc, spec, ctx, DEFAULT_TIMEOUT)
    assert result.reason is Reason.ERROR
    assert "cannot load tls_config.ca_file" in result.detail


async def test_metadata_is_sent_and_never_logged(world: World, ctx: ProbeContext) -> None:
    spec = GrpcSpec.model_validate({"address": world.address("health"),
                                    "metadata": {"authorization": f"Bearer {SECRET}"}})
    with structlog.testing.capture_logs() as logs:
        result, _ = await run_probe(probe_grpc, spec, ctx, DEFAULT_TIMEOUT)
    assert result.success, result.detail
    assert world.servicer.seen[-1]["authorization"] == f"Bearer {SECRET}"
    assert logs and SECRET not in repr(logs)
    assert SECRET not in result.detail


async def test_no_grpc_thread_is_left_behind(world: World, ctx: ProbeContext) -> None:
    """Channels are closed every run: after many runs (successes, failures, timeouts) the
    process has no more threads than after the first."""
    specs = [_spec(case, world) for case in CASES if case.reason is not Reason.TIMEOUT]
    hang = _spec(CASES[[c.id for c in CASES].index("handler never answers")], world)
    await run_probe(probe_grpc, specs[0], ctx, DEFAULT_TIMEOUT)
    baseline = threading.active_count()
    for _ in range(3):
        for spec in specs:
            await run_probe(probe_grpc, spec, ctx, DEFAULT_TIMEOUT)
        result, _ = await run_probe(probe_grpc, hang, ctx, 0.1)
        assert result.reason is Reason.TIMEOUT
    assert threading.active_count() <= baseline, [t.name for t in threading.enumerate()]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"address": "127.0.0.1:50051"}, None),
        ({"address": "[::1]:50051", "service": "portal", "tls": True,
          "tls_config": {"ca_file": "/ca.pem", "server_name": NAME}}, None),
        ({"address": "grpc://127.0.0.1:50051"}, "is not host:port"),
        ({"address": "127.0.0.1"}, "is not host:port"),
        ({"address": "127.0.0.1:70000"}, "outside 1-65535"),
        ({"address": "a:1", "tls_config": {"ca_file": "/ca.pem"}}, "without tls: true"),
        ({"address": "a:1", "tls": True, "tls_config": {"insecure_skip_verify": True}},
         "insecure_skip_verify is not supported"),
        ({"address": "a:1", "metadata": {"Authorization": "x"}}, "metadata key"),
        ({"address": "a:1", "metadata": {"grpc-timeout": "1S"}}, "metadata key"),
        ({"address": "a:1", "metadata": {"trace-bin": "x"}}, "metadata key"),
        ({"address": "a:1", "deadline": "1s"}, "Extra inputs"),
    ],
)
def test_spec_validation(fields: dict[str, Any], error: str | None) -> None:
    if error is None:
        GrpcSpec.model_validate(fields)
    else:
        with pytest.raises(ValueError, match=error):
            GrpcSpec.model_validate(fields)


# --- side by side with blackbox_exporter's grpc prober ------------------------------------


def test_every_difference_is_explained() -> None:
    for case in CASES:
        agree = (case.reason is None) == case.blackbox
        assert agree != bool(case.why), f"{case.id}: `why` exactly when verdicts differ"
    assert len({case.module_name for case in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def blackbox(tmp_path_factory: pytest.TempPathFactory,
             tls: tuple[str, bytes, bytes, float]) -> Iterator[Blackbox]:
    workdir = tmp_path_factory.mktemp("grpc-blackbox")
    modules = {
        case.module_name: {
            "prober": "grpc", "timeout": f"{round(case.timeout * 1000)}ms",
            "grpc": {"preferred_ip_protocol": "ip4", **_fill(case.module, tls[0])},
        }
        for case in CASES
    }
    with Blackbox(modules, workdir) as running:
        yield running


@pytest.mark.e2e
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_verdicts_match_blackbox(
        case: Case, world: World, ctx: ProbeContext, blackbox: Blackbox) -> None:
    address = world.address(case.server)
    result, _ = await run_probe(probe_grpc, _spec(case, world), ctx, case.timeout)
    assert (result.success, result.reason) == (case.reason is None, case.reason), result.detail
    if case.reason is Reason.TIMEOUT:
        # blackbox 0.23's grpc prober calls Check with context.Background(): the module's
        # timeout does not reach the call, so /probe does not answer while the handler hangs
        # (Prometheus sees a failed scrape, up == 0: a failure too, but a later one).
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(case.timeout + 1.5):
                await blackbox.probe(address, case.module_name)
        return
    series = await blackbox.probe(address, case.module_name)
    assert series["probe_success"] == float(case.blackbox), await blackbox.debug(
        address, case.module_name)
    expiry = series.get("probe_ssl_earliest_cert_expiry")
    if case.server == "tls" and result.success and case.blackbox:  # both read the certificate
        assert expiry is not None and result.cert_expiry is not None, (expiry, result)
    if expiry is not None and result.cert_expiry is not None:
        assert result.cert_expiry == expiry  # the same certificate, read the same way
