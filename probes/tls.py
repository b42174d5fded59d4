"""TLS probe: connect, handshake, check the negotiated version; report the earliest expiry in
the served chain.

How a run can end (first match wins):

- ``dns`` / ``connect``: the name did not resolve; the connection was refused or unreachable;
- ``denied``: every address the host resolved to is in a denied network (``--deny-networks``);
- ``error``: ``ca_file`` cannot be loaded;
- ``tls``: the handshake failed (the detail carries OpenSSL's reason, e.g. a protocol-version
  alert), the certificate was not accepted (expired, untrusted issuer, self-signed, wrong
  host: the detail carries the verify message), or the negotiated version is older than
  ``min_version``.

On success the detail names the negotiated version and cipher, e.g. ``TLS1.3
TLS_AES_256_GCM_SHA384``. Hostname verification is on unless ``insecure_skip_verify``.
"""

from __future__ import annotations

from pydantic import Field

from probes._address import HostPort
from probes._context import ProbeContext
from probes._kind import SpecBase
from probes._result import ProbeResult, Reason
from probes._run import phase_record
from probes._stream import Failure, open_stream, session_resolver, stream_result
from probes._tls import TlsVersionName, below, ca_file_problem, stream_ssl_context

__all__ = ["TlsSpec", "probe_tls"]


class TlsSpec(SpecBase):
    address: HostPort = Field(description="host:port; IPv6 literals in brackets, [::1]:443")
    server_name: str | None = Field(
        None, description="SNI and hostname to verify, if not the address's host"
    )
    ca_file: str | None = Field(None, description="PEM bundle to trust instead of the system store")
    insecure_skip_verify: bool = Field(False, description="accept any certificate (not advised)")
    min_version: TlsVersionName | None = Field(
        None,
        description="oldest acceptable negotiated version; unset: what Python/OpenSSL allow "
        "(TLS1.2 and newer). TLS1.0/TLS1.1 also let the client speak them",
    )

    def latency_objective(self) -> float | None:
        """None: a TLS probe has no latency objective of its own."""
        return None


async def probe_tls(spec: TlsSpec, ctx: ProbeContext) -> ProbeResult:
    """One handshake with ``spec.address``, judged by certificate and version."""
    try:
        context = stream_ssl_context(spec.ca_file, spec.insecure_skip_verify, spec.min_version)
    except OSError as exc:  # ssl.SSLError included
        return ProbeResult.fail(Reason.ERROR, ca_file_problem("", spec.ca_file, exc))
    phases = phase_record().phases  # the caller's record: kept if the run is cut off
    opened = await open_stream(spec.address, session_resolver(ctx.http), phases,
                              ctx.deny)
    if isinstance(opened, tuple):
        return stream_result(ctx, "tls", opened, phases, None)
    stream = opened
    try:
        failure: Failure | None = await stream.start_tls(context, spec.server_name)
    finally:
        await stream.close()
    version = stream.tls_version
    minimum = spec.min_version
    if failure is None and version is not None and minimum is not None and below(version, minimum):
        failure = Reason.TLS, (
            f"negotiated {version} with {spec.address}, older than min_version {minimum}"
        )
    if failure is None:
        detail = f"{version} {stream.cipher}"
        return stream_result(ctx, "tls", None, phases, stream.cert_expiry, detail)
    return stream_result(ctx, "tls", failure, phases, stream.cert_expiry)

