"""The limits every listener applies, with the defaults the README documents."""

from __future__ import annotations

from dataclasses import dataclass

# aiohttp's request-line and per-header caps (its defaults, stated here so they are ours):
# at most MAX_HEADERS fields of MAX_FIELD_SIZE bytes, about 1 MiB of headers in all, as Go's
# net/http DefaultMaxHeaderBytes. Bodies are capped per app (client_max_size).
MAX_LINE_SIZE = 8190
MAX_FIELD_SIZE = 8190
MAX_HEADERS = 128


@dataclass(frozen=True)
class ConnectionLimits:
    # From accept until the first request's headers are complete (the TLS handshake
    # included): a client that connects and says nothing, or trickles, is closed.
    header_timeout: float = 10.0
    # A kept-alive connection idle between requests (a started next request included) is
    # closed after this; above Prometheus' usual scrape intervals so its connection is reused.
    idle_timeout: float = 75.0
    # Open connections in all; past this a new one is refused (below a 1,024-descriptor limit
    # with room for probes).
    max_connections: int = 256
    # Open connections from one client address (IPv6: one /64).
    max_per_address: int = 32

    def problems(self) -> list[str]:
        out = []
        if self.header_timeout <= 0 or self.idle_timeout <= 0:
            out.append("timeouts must be positive")
        if self.max_connections < 1 or self.max_per_address < 1:
            out.append("connection caps must be at least 1")
        return out
