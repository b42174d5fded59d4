"""Probe kinds, behind this one public surface: ``monitor`` imports from here only.

Each kind is one module (or package) exporting its spec type and ``probe_<kind>``; the map
below is the only place a kind is registered (keyed by spec type, not by name strings).
Modules whose names start with ``_`` are private helpers shared by the kinds: ``_tls`` (every
TLS option, context and certificate question), ``_http_client`` (the timed HTTP session),
``_stream`` and ``_address`` (TCP/TLS streams), ``_spec`` (durations, regexes, strict models),
``_context``/``_result``/``_run`` (the contract between a probe and its caller).
"""

from collections.abc import Mapping

from probes._context import ProbeContext
from probes._http_client import new_http_session
from probes._result import Phase, ProbeResult, Reason
from probes._run import ProbeFn, run_probe
from probes._spec import (
    DURATION_PATTERN,
    PERCENT_PATTERN,
    Duration,
    Percent,
    StrictModel,
    format_duration,
    format_percent,
)
from probes.dns import DnsSpec, probe_dns
from probes.http import HttpSpec, probe_http
from probes.journey import JourneySpec, probe_journey
from probes.tcp import TcpSpec, probe_tcp
from probes.tls import TlsSpec, probe_tls

PROBES: Mapping[type, ProbeFn] = {
    HttpSpec: probe_http,
    TcpSpec: probe_tcp,
    TlsSpec: probe_tls,
    DnsSpec: probe_dns,
    JourneySpec: probe_journey,
}

__all__ = [
    "DURATION_PATTERN",
    "PERCENT_PATTERN",
    "PROBES",
    "DnsSpec",
    "Duration",
    "HttpSpec",
    "JourneySpec",
    "Percent",
    "Phase",
    "ProbeContext",
    "ProbeFn",
    "ProbeResult",
    "Reason",
    "StrictModel",
    "TcpSpec",
    "TlsSpec",
    "format_duration",
    "format_percent",
    "new_http_session",
    "run_probe",
]
