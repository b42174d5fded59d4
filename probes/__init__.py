"""Probe kinds, behind this one public surface: ``monitor`` imports from here only.

Each kind is one module (or package) exporting its spec type (a :class:`SpecBase`) and
``probe_<kind>``; ``KINDS`` below is the only place a kind is registered, one line per kind.
The catalog's probe model, its JSON Schema and the scheduler's lookup are derived from it
(see ``_kind``).
Modules whose names start with ``_`` are private helpers shared by the kinds: ``_tls`` (every
TLS option, context and certificate question), ``_http_client`` (the timed HTTP session),
``_stream`` and ``_address`` (TCP/TLS streams), ``_deny`` (the operator's denied networks,
checked on resolved addresses before any connection), ``_spec`` (durations, regexes, strict models),
``_context``/``_result``/``_run`` (the contract between a probe and its caller).
"""

from collections.abc import Mapping

from probes import browser, heartbeat
from probes._context import ProbeContext
from probes._deny import DeniedNetworks
from probes._http_client import new_http_session
from probes._kind import (
    Kind,
    KindMetric,
    KindOption,
    KindRuntime,
    RuntimeBase,
    RuntimeJob,
    RuntimeSettings,
    RunVariables,
    SpecBase,
    check_kinds,
)
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
from probes.browser import BrowserSpec, probe_browser
from probes.dns import DnsSpec, probe_dns
from probes.grpc import GrpcSpec, probe_grpc
from probes.heartbeat import HeartbeatSpec, probe_heartbeat
from probes.http import HttpSpec, probe_http
from probes.icmp import IcmpSpec, probe_icmp
from probes.journey import JourneySpec, probe_journey
from probes.tcp import TcpSpec, probe_tcp
from probes.tls import TlsSpec, probe_tls

KINDS: tuple[Kind, ...] = check_kinds((
    Kind("http", HttpSpec, probe_http),
    Kind("tcp", TcpSpec, probe_tcp),
    Kind("tls", TlsSpec, probe_tls),
    Kind("dns", DnsSpec, probe_dns),
    Kind("journey", JourneySpec, probe_journey),
    Kind("icmp", IcmpSpec, probe_icmp),
    Kind("grpc", GrpcSpec, probe_grpc),
    Kind("browser", BrowserSpec, probe_browser, browser.METRICS, browser.BrowserRuntime,
         browser.OPTIONS),
    Kind("heartbeat", HeartbeatSpec, probe_heartbeat, heartbeat.METRICS,
         heartbeat.HeartbeatRuntime, heartbeat.OPTIONS),
))

# Derived: the probe function for a spec's type.
PROBES: Mapping[type, ProbeFn] = {kind.spec: kind.probe for kind in KINDS}

__all__ = [
    "DURATION_PATTERN",
    "KINDS",
    "PERCENT_PATTERN",
    "PROBES",
    "BrowserSpec",
    "DeniedNetworks",
    "DnsSpec",
    "Duration",
    "GrpcSpec",
    "HeartbeatSpec",
    "HttpSpec",
    "IcmpSpec",
    "JourneySpec",
    "Kind",
    "KindMetric",
    "KindOption",
    "KindRuntime",
    "Percent",
    "Phase",
    "ProbeContext",
    "ProbeFn",
    "ProbeResult",
    "Reason",
    "RunVariables",
    "RuntimeBase",
    "RuntimeJob",
    "RuntimeSettings",
    "SpecBase",
    "StrictModel",
    "TcpSpec",
    "TlsSpec",
    "check_kinds",
    "format_duration",
    "format_percent",
    "new_http_session",
    "run_probe",
]
