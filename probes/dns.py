"""DNS probe: one query against a configured resolver, rcode and answers checked."""

from __future__ import annotations

from probes.context import ProbeContext
from probes.result import ProbeResult
from probes.spec import StrictModel


class DnsSpec(StrictModel):
    query_name: str


async def probe_dns(spec: DnsSpec, ctx: ProbeContext) -> ProbeResult:
    raise NotImplementedError  # being written
