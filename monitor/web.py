"""The daemon's HTTP surface: /metrics, /healthz and POST /-/reload."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def make_app(registry: CollectorRegistry, reload: Callable[[], Awaitable[bool]]) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        # Rendering is CPU work that grows with the catalog; a thread lets the event loop keep
        # firing probes between GIL switches instead of stalling for the whole render.
        body = await asyncio.get_running_loop().run_in_executor(None, generate_latest, registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def do_reload(_: web.Request) -> web.Response:
        ok = await reload()
        if ok:
            return web.Response(text="reloaded\n")
        return web.Response(status=400, text="reload failed; running catalog kept (see log)\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/-/reload", do_reload)
    return app
