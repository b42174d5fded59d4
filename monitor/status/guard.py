"""What every answer of the public site carries, and the per-client rate limit.

Security headers: a Content-Security-Policy that allows no script at all (the site needs
none) and styles only from itself; images from itself and, for curators' photos, https;
no referrer leaves the site; no framing; no MIME sniffing.

Rate limit: a token bucket per client address (``rate`` answers a second, bursts of
``burst``), refused with 429 and Retry-After. The table of clients is bounded: the least
recently seen are forgotten first, so a flood of addresses cannot grow memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from aiohttp import web

HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self' https:; "
                                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "interest-cohort=()",
}
MAX_CLIENTS = 10_000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RateLimit:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = MAX_CLIENTS) -> None:
        self.rate, self.burst = rate, burst
        self._clock = clock
        self._max = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.refused = 0

    def allow(self, client: str) -> bool:
        now = self._clock()
        tokens, seen = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - seen) * self.rate)
        allowed = tokens >= 1
        self._buckets[client] = (tokens - 1 if allowed else tokens, now)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        if not allowed:
            self.refused += 1
        return allowed


def middleware(limit: RateLimit | None, refused: Callable[[web.Request], web.Response],
               error: Callable[[web.Request, int], web.Response]) -> object:
    """Rate limit first, then the handler; the router's own 404/405 become the site's error
    page; the security headers go on every answer, refusals and errors included."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if limit is not None and not limit.allow(request.remote or "?"):
            response: web.StreamResponse = refused(request)
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = error(request, exc.status)
        response.headers.update(HEADERS)
        return response

    return guard
