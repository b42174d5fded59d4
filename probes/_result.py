"""What a probe reports back. Expected failures are results with a reason; only bugs raise."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Reason(enum.StrEnum):
    """The fixed, small set of failure reasons (a label value, so cardinality stays bounded)."""

    TIMEOUT = "timeout"
    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    HTTP_STATUS = "http_status"
    ASSERTION = "assertion"
    BODY_TOO_LARGE = "body_too_large"
    ERROR = "error"


class Phase(enum.StrEnum):
    """blackbox_exporter's phases: resolve, connect, tls, processing (request sent until the
    first response byte) and transfer (first byte until the body is read)."""

    RESOLVE = "resolve"
    CONNECT = "connect"
    TLS = "tls"
    PROCESSING = "processing"
    TRANSFER = "transfer"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    success: bool
    reason: Reason | None = None
    detail: str = ""
    phases: dict[Phase, float] = field(default_factory=dict)
    # Earliest certificate expiry seen (unix seconds), for TLS-speaking probes.
    cert_expiry: float | None = None
    # Journeys: seconds per named step, and the time from submitting to the result being ready.
    steps: dict[str, float] = field(default_factory=dict)
    time_to_result: float | None = None

    @classmethod
    def ok(cls, phases: dict[Phase, float] | None = None, cert_expiry: float | None = None
           ) -> ProbeResult:
        return cls(True, None, "", phases or {}, cert_expiry)

    @classmethod
    def fail(cls, reason: Reason, detail: str, phases: dict[Phase, float] | None = None,
             cert_expiry: float | None = None) -> ProbeResult:
        return cls(False, reason, detail, phases or {}, cert_expiry)
