"""Probe kinds. Each kind is one module exporting its spec type and ``probe_<kind>``; the map
below is the only place a kind is registered (keyed by spec type, not by name strings).

Public surface: ``PROBES``, ``ProbeResult``, ``Reason``, ``Phase``, ``ProbeContext``,
``run_probe``.
"""

from collections.abc import Mapping

from probes.context import ProbeContext
from probes.dns import DnsSpec, probe_dns
from probes.http import HttpSpec, probe_http
from probes.journey import JourneySpec, probe_journey
from probes.result import Phase, ProbeResult, Reason
from probes.run import ProbeFn, run_probe
from probes.tcp import TcpSpec, probe_tcp
from probes.tls import TlsSpec, probe_tls

PROBES: Mapping[type, ProbeFn] = {
    HttpSpec: probe_http,
    TcpSpec: probe_tcp,
    TlsSpec: probe_tls,
    DnsSpec: probe_dns,
    JourneySpec: probe_journey,
}

__all__ = ["PROBES", "Phase", "ProbeContext", "ProbeFn", "ProbeResult", "Reason", "run_probe"]
