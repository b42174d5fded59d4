"""gRPC probe: the standard ``grpc.health.v1.Health/Check``, with grpcio's asyncio client
(``grpc.aio``) and the stubs of ``grpcio-health-checking``.

A run has two legs:

1. the stream leg (``probes/_stream.py``, as the TCP and TLS kinds): resolve the host through
   the shared resolver, connect, and with ``tls: true`` handshake with Python's ``ssl``
   (``tls_config`` applies, ALPN ``h2`` offered). This measures ``resolve``, ``connect`` and
   ``tls``, reads the earliest expiry of the served chain (grpcio does not expose the
   server's certificates to a client) and words connect/TLS failures as the other kinds do.
   The connection is then dropped.
2. the gRPC leg: a fresh ``grpc.aio`` channel to the address the stream leg reached (an IP
   literal, so grpcio resolves nothing itself), one ``Check`` call, the channel closed
   always. Its wall time is ``processing``: it includes grpcio's own connect, handshake and
   HTTP/2 set-up, which grpc.aio does not report separately.

So a run opens two connections (one more TLS handshake with ``tls: true``): cheap next to
the information it buys, and what the caller's timeout covers. No deadline of the probe's
own cuts the call short: the caller's timeout does (``_SAFETY_DEADLINE`` is only a net).

How a run can end (first match wins):

- ``dns`` / ``connect``: the name did not resolve; the connection was refused or unreachable
  (either leg: a plain client at a TLS-only server fails the gRPC leg with ``connect``);
- ``denied``: every address the host resolved to is in a denied network
  (``--deny-networks``): the stream leg connects to none, and the gRPC leg never starts (it
  only ever connects to the address the stream leg reached, which passed the check);
- ``error``: ``tls_config.ca_file`` cannot be loaded; the server has no health service
  (``UNIMPLEMENTED``); any other gRPC status but those below;
- ``tls``: the handshake failed or the certificate was not accepted;
- ``assertion``: the server answered, but not ``SERVING``: ``NOT_SERVING``, ``UNKNOWN``,
  ``SERVICE_UNKNOWN``, or ``NOT_FOUND`` (how the reference servers answer ``Check`` for a
  service they do not know); the detail names it.

``metadata`` is sent with the call; its values (secrets via ``${ENV}``) are never logged or
quoted in a detail.
"""

from __future__ import annotations

import os
import re
import ssl
import time
from functools import lru_cache
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import Field, field_validator, model_validator

from probes._address import HostPort
from probes._context import ProbeContext
from probes._kind import SpecBase
from probes._result import Phase, ProbeResult, Reason
from probes._run import phase_record
from probes._stream import Failure, open_stream, session_resolver, stream_result
from probes._tls import SYSTEM_TRUST, TlsOptions, ca_file_problem, tls_context

__all__ = ["GrpcSpec", "probe_grpc"]

# Only a safety net under the caller's timeout, never the verdict's deadline.
_SAFETY_DEADLINE = 300.0
# Lower-case ASCII, as HTTP/2 requires; "-bin" (binary values) and "grpc-" (reserved) excluded.
_METADATA_KEY = re.compile(r"^(?!grpc-)[0-9a-z_.-]+$")
_SERVING = health_pb2.HealthCheckResponse.SERVING


class GrpcSpec(SpecBase):
    address: HostPort = Field(description="host:port; IPv6 literals in brackets, [::1]:50051")
    service: str = Field(
        "", description='the service whose health is asked; "" (default): the whole server'
    )
    tls: bool = Field(False, description="TLS (h2 over TLS); plaintext HTTP/2 otherwise")
    tls_config: TlsOptions | None = Field(
        None, description="how the certificate is verified (with tls: true)"
    )
    metadata: dict[str, str] = Field(
        default_factory=dict,
        description="request metadata (headers), e.g. authorization: Bearer ${TOKEN}; "
        "values are never logged",
    )

    @field_validator("metadata")
    @classmethod
    def _metadata_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _METADATA_KEY.match(key) or key.endswith("-bin"):
                raise ValueError(
                    f"metadata key {key!r}: lower-case letters, digits, '-', '_', '.'; not "
                    "starting with 'grpc-' (reserved) nor ending in '-bin' (binary values)"
                )
        return value

    @model_validator(mode="after")
    def _tls_consistent(self) -> GrpcSpec:
        if self.tls_config is not None and not self.tls:
            raise ValueError("tls_config has no effect without tls: true; add it or remove "
                             "tls_config")
        if self.tls_config is not None and self.tls_config.insecure_skip_verify:
            raise ValueError("tls_config.insecure_skip_verify is not supported by the grpc "
                             "kind (grpcio always verifies); give ca_file instead")
        return self

    def latency_objective(self) -> float | None:
        """None: a gRPC probe has no latency objective of its own."""
        return None


async def probe_grpc(spec: GrpcSpec, ctx: ProbeContext) -> ProbeResult:
    """One health check of ``spec.service`` at ``spec.address``."""
    options = spec.tls_config or SYSTEM_TRUST
    if spec.tls:
        # The stream leg offers ALPN h2, as a gRPC client does.
        loaded = tls_context(options, "tls_config", ("h2",))
        if isinstance(loaded, ProbeResult):
            return loaded
        context = loaded
        try:
            credentials = _credentials(options.ca_file)
        except OSError as exc:  # read just after the context loaded it: only a race
            return ProbeResult.fail(
                Reason.ERROR, ca_file_problem("tls_config", options.ca_file, exc))
    record = phase_record()  # the caller's record: kept if the run is cut off
    phases = record.phases
    opened = await open_stream(spec.address, session_resolver(ctx.http), phases,
                              ctx.deny)
    if isinstance(opened, tuple):
        return stream_result(ctx, "grpc", opened, phases, None)
    stream = opened
    try:
        target = _target(stream.writer.get_extra_info("peername"))
        failure: Failure | None = None
        if spec.tls:
            failure = await stream.start_tls(context, options.server_name)
    finally:
        await stream.close()
    if failure is not None:
        return stream_result(ctx, "grpc", failure, phases, stream.cert_expiry)

    host = stream.host
    channel_options: list[tuple[str, Any]] = [("grpc.enable_retries", 0)]
    if spec.tls:
        channel_options.append(("grpc.ssl_target_name_override", options.server_name or host))
        channel_options.append(("grpc.default_authority", options.server_name or host))
        channel = grpc.aio.secure_channel(target, credentials, options=channel_options)
    else:
        channel_options.append(("grpc.default_authority", spec.address))
        channel = grpc.aio.insecure_channel(target, options=channel_options)
    started = time.perf_counter()
    record.begin(Phase.PROCESSING, started)
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        response = await stub.Check(
            health_pb2.HealthCheckRequest(service=spec.service),
            timeout=_SAFETY_DEADLINE,
            metadata=tuple(spec.metadata.items()) or None,
        )
        failure = _judge(spec, response.status)
    except grpc.aio.AioRpcError as exc:
        failure = _rpc_failure(spec, exc)
    finally:
        record.end(time.perf_counter())
        await channel.close()
    detail = f"{spec.address} {_what(spec)}: SERVING" if failure is None else ""
    return stream_result(ctx, "grpc", failure, phases, stream.cert_expiry, detail)


@lru_cache(maxsize=64)
def _root_pem(ca_file: str | None) -> bytes | None:
    """grpcio's root PEMs for ``ca_file``, read once (a changed file is picked up on
    restart). Without ``ca_file`` both legs trust the system store: grpcio is given
    OpenSSL's default CA file, or its own bundled roots (None) if there is none. Raises
    OSError if ``ca_file`` cannot be read (not cached, so a fixed file is picked up on the
    next run)."""
    path = ca_file or ssl.get_default_verify_paths().cafile
    if path is None or (ca_file is None and not os.path.isfile(path)):
        return None
    with open(path, "rb") as pem:
        return pem.read()


@lru_cache(maxsize=64)
def _credentials(ca_file: str | None) -> grpc.ChannelCredentials:
    """The gRPC leg's credentials for ``ca_file``: reusable across channels, so built once."""
    return grpc.ssl_channel_credentials(root_certificates=_root_pem(ca_file))


def _target(peer: Any) -> str:
    """grpcio's target for the address the stream leg connected to (no resolving again)."""
    if not isinstance(peer, tuple) or len(peer) < 2:
        raise RuntimeError(f"the stream leg's connection has no peer address ({peer!r})")
    ip, port = peer[:2]
    return f"ipv6:[{ip}]:{port}" if ":" in ip else f"ipv4:{ip}:{port}"


def _what(spec: GrpcSpec) -> str:
    return f"service {spec.service!r}" if spec.service else "server health"


def _judge(spec: GrpcSpec, status: int) -> Failure | None:
    if status == _SERVING:
        return None
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
    return Reason.ASSERTION, f"{spec.address} {_what(spec)}: {name}, not SERVING"


def _rpc_failure(spec: GrpcSpec, exc: grpc.aio.AioRpcError) -> Failure:
    code = exc.code()
    text = (exc.details() or "").strip()
    if code is grpc.StatusCode.NOT_FOUND:
        return Reason.ASSERTION, (
            f"{spec.address} {_what(spec)}: SERVICE_UNKNOWN (the server answered NOT_FOUND)")
    if code is grpc.StatusCode.UNIMPLEMENTED:
        return Reason.ERROR, (
            f"{spec.address} has no grpc.health.v1.Health service (UNIMPLEMENTED)")
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return Reason.TIMEOUT, f"no answer within the safety deadline {_SAFETY_DEADLINE:g}s"
    if code is grpc.StatusCode.UNAVAILABLE:
        lowered = text.lower()
        if "ssl" in lowered or "handshake" in lowered or "certificate" in lowered:
            return Reason.TLS, f"gRPC TLS with {spec.address}: {text}"
        return Reason.CONNECT, f"gRPC connection to {spec.address}: {text}"
    return Reason.ERROR, f"health check of {spec.address} failed: {code.name}: {text}"
