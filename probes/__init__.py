"""Probe kinds. Each kind is one module exporting its spec type and ``probe_<kind>``; the map
below is the only place a kind is registered (keyed by spec type, not by name strings).

Public surface: ``PROBES``, ``ProbeResult``, ``Reason``, ``Phase``, ``ProbeContext``,
``run_probe``.
"""

from collections.abc import Mapping

from probes.context import ProbeContext
from probes.http import HttpSpec, probe_http
from probes.result import Phase, ProbeResult, Reason
from probes.run import ProbeFn, run_probe

PROBES: Mapping[type, ProbeFn] = {
    HttpSpec: probe_http,
}

__all__ = ["PROBES", "Phase", "ProbeContext", "ProbeFn", "ProbeResult", "Reason", "run_probe"]
