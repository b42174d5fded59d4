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
    # A browser probe's accessibility audit found more violations than the probe allows.
    ACCESSIBILITY = "accessibility"
    # A heartbeat's job did not report success by its due time plus grace.
    MISSED = "missed"
    # Every address the target resolved to is in a network the operator denies
    # (``dozor run --deny-networks``): no connection was attempted.
    DENIED = "denied"


class Phase(enum.StrEnum):
    """blackbox_exporter's phases: resolve, connect, tls, processing (request sent until the
    first response byte) and transfer (first byte until the body is read)."""

    RESOLVE = "resolve"
    CONNECT = "connect"
    TLS = "tls"
    PROCESSING = "processing"
    TRANSFER = "transfer"


@dataclass(eq=False, slots=True)
class PhaseRecord:
    """A run's phases as they are measured, readable by the caller even when the run is cut
    off by its timeout (see ``probes._run``). A probe adds each phase as it completes; a phase
    whose end is also the run's end (the transfer of a body) may be left open with
    :meth:`begin`, so a cut-off run reports it up to the cut, as blackbox_exporter does."""

    phases: dict[Phase, float] = field(default_factory=dict)
    _open: tuple[Phase, float] | None = None

    def add(self, phase: Phase, seconds: float) -> None:
        self.phases[phase] = self.phases.get(phase, 0.0) + seconds

    def begin(self, phase: Phase, at: float) -> None:
        """``phase`` runs from ``at`` until :meth:`end` (or the cut)."""
        self._open = (phase, at)

    def end(self, at: float) -> None:
        if self._open is not None:
            phase, since = self._open
            self.add(phase, at - since)
            self._open = None

    def drop(self) -> None:
        """Forget the open phase without counting it."""
        self._open = None

    def cut(self, at: float) -> dict[Phase, float]:
        """The phases of a run cut off at ``at``: the open phase counts until then."""
        phases = dict(self.phases)
        if self._open is not None:
            phase, since = self._open
            phases[phase] = phases.get(phase, 0.0) + max(0.0, at - since)
        return phases


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
    # Values of the kind's own metrics (see ``KindMetric``): (name, extra label values, value).
    samples: tuple[tuple[str, tuple[str, ...], float], ...] = ()

    @classmethod
    def ok(cls, phases: dict[Phase, float] | None = None, cert_expiry: float | None = None
           ) -> ProbeResult:
        return cls(True, None, "", phases or {}, cert_expiry)

    @classmethod
    def fail(cls, reason: Reason, detail: str, phases: dict[Phase, float] | None = None,
             cert_expiry: float | None = None) -> ProbeResult:
        return cls(False, reason, detail, phases or {}, cert_expiry)
