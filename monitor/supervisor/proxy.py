"""Kinds' routes (a heartbeat's ``/ping/<token>``) under a supervisor: forwarded to the
workers in turn until one knows the path.

The supervisor does not know which worker a request belongs to (that is the kind's
knowledge: a token's probe), so it asks each; a worker that does not know the path answers
404 and does nothing else, so asking several is safe. The first answer that is not 404 is
the answer; if every worker says 404, so does the supervisor. The client's address goes
along in a header only workers read (monitor.serving.app), so a kind's per-address limits
see the client, not the supervisor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

import aiohttp
from aiohttp import web
from yarl import URL

from monitor.serving.app import CLIENT_HEADER
from monitor.supervisor.process import UNREACHABLE, WorkerProcess

MAX_BODY = 64 * 1024  # a kind caps its own bodies lower (a ping: 10 KiB); this caps the copy
TIMEOUT = aiohttp.ClientTimeout(total=30)
# Hop-by-hop and framing headers: aiohttp sets its own on each leg.
_NOT_FORWARDED = frozenset(h.lower() for h in (
    "Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "Host", "TE", "Trailer",
    "Upgrade", "Proxy-Authorization", "Proxy-Connection", CLIENT_HEADER, "Date", "Server"))


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _NOT_FORWARDED}


def forwarder(workers: Callable[[], Sequence[WorkerProcess]]
              ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def forward(request: web.Request) -> web.StreamResponse:
        try:  # aiohttp's cap: reads on to the end, however many segments the body comes in
            body = await request.clone(client_max_size=MAX_BODY).read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="request body too large\n")
        headers = _headers(request.headers)
        headers[CLIENT_HEADER] = request.remote or ""
        url = URL("http://worker" + request.raw_path, encoded=True)
        for worker in workers():
            http = worker.http  # kept: a worker dropped meanwhile sets it to None
            if http is None:
                continue
            try:
                async with http.request(request.method, url, data=body, headers=headers,
                                               timeout=TIMEOUT, allow_redirects=False) as got:
                    if got.status == 404:
                        continue
                    return web.Response(status=got.status, body=await got.read(),
                                        headers=_headers(got.headers))
            except UNREACHABLE:
                continue  # a worker restarting: the others may know the path
        return web.Response(status=404, text="not found\n")

    return forward
