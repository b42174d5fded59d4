"""TLS probe: handshake, served chain, expiry, hostname, minimum version."""

from __future__ import annotations

from probes.context import ProbeContext
from probes.result import ProbeResult
from probes.spec import StrictModel


class TlsSpec(StrictModel):
    address: str  # host:port


async def probe_tls(spec: TlsSpec, ctx: ProbeContext) -> ProbeResult:
    raise NotImplementedError  # being written
