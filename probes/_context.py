"""What the daemon hands every probe run: shared clients and a logger already bound to
service/probe/location. Probes own no long-lived resources of their own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True, slots=True)
class ProbeContext:
    # One session for all HTTP probes; its connector closes every connection after use
    # (force_close) and caches no DNS, so each probe pays and measures resolve/connect/TLS.
    http: aiohttp.ClientSession
    log: Any  # structlog BoundLogger; Any because structlog's proxies are not precisely typed
    user_agent: str
