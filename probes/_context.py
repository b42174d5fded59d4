"""What the daemon hands every probe run: shared clients and a logger already bound to
service/probe/location. Probes own no long-lived resources of their own: a kind that needs
one (a browser) gets its runtime here, created and closed by the daemon."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from probes._deny import DeniedNetworks


@dataclass(frozen=True, slots=True)
class ProbeContext:
    # One session for all HTTP probes; its connector closes every connection after use
    # (force_close) and caches no DNS, so each probe pays and measures resolve/connect/TLS.
    http: aiohttp.ClientSession
    log: Any  # structlog BoundLogger; Any because structlog's proxies are not precisely typed
    user_agent: str
    runtime: Any = None  # the kind's KindRuntime, for kinds that register one
    # Whose run this is, for what a run leaves behind (failure artifacts).
    service: str = ""
    probe: str = ""
    # Where no connection may go (``--deny-networks``), checked on resolved addresses by
    # each kind right before it connects; the HTTP session's connector holds the same list.
    deny: DeniedNetworks = DeniedNetworks()  # noqa: RUF009 - frozen
