"""TCP probe: connect, optional TLS on the connection, optional send/expect exchange."""

from __future__ import annotations

from probes.context import ProbeContext
from probes.result import ProbeResult
from probes.spec import StrictModel


class TcpSpec(StrictModel):
    address: str  # host:port


async def probe_tcp(spec: TcpSpec, ctx: ProbeContext) -> ProbeResult:
    raise NotImplementedError  # being written
