"""The journey kind: ordered HTTP steps sharing one cookie jar, with extraction and polling."""

from probes.journey.probe import probe_journey
from probes.journey.spec import JourneySpec

__all__ = ["JourneySpec", "probe_journey"]
