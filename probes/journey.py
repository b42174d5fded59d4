"""Journey probe: ordered HTTP steps sharing cookies, with extraction, asserts and polling."""

from __future__ import annotations

from probes.context import ProbeContext
from probes.result import ProbeResult
from probes.spec import StrictModel


class JourneySpec(StrictModel):
    steps: tuple[dict[str, str], ...]


async def probe_journey(spec: JourneySpec, ctx: ProbeContext) -> ProbeResult:
    raise NotImplementedError  # being written
