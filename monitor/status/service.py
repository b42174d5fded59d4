"""The status site as a running thing: refresher task plus HTTP listener."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from monitor.catalog import load_catalog
from monitor.listener import ConnectionLimits, serve
from monitor.status.refresher import DEFAULT_WINDOW, Refresher, RefreshSettings
from monitor.status.server import Site, SiteSettings


@dataclass(frozen=True, slots=True)
class StatusOptions:
    prometheus: str
    host: str = "127.0.0.1"
    port: int = 9248
    config: Path | None = None
    public_url: str | None = None      # default: http://host:port
    refresh: float = 30.0
    window_refresh: float = 300.0
    rate: float = 20.0
    burst: float = 60.0
    query_timeout: float = 60.0
    limits: ConnectionLimits = ConnectionLimits()  # noqa: RUF009 - frozen


class StatusServer:
    def __init__(self, site: Site, runner: web.AppRunner, task: asyncio.Task[None],
                 url: str) -> None:
        self.site, self.url = site, url
        self._runner, self._task = runner, task

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._runner.cleanup()


async def start_status(options: StatusOptions) -> StatusServer:
    """Load the catalog (``CatalogError`` if it is invalid), listen, start refreshing."""
    catalog = load_catalog(options.config) if options.config is not None else None
    window = catalog.standard.window if catalog is not None else DEFAULT_WINDOW
    refresher = Refresher(RefreshSettings(
        prometheus=options.prometheus, interval=options.refresh,
        window_interval=options.window_refresh, window=window,
        query_timeout=options.query_timeout), catalog)
    url = options.public_url or f"http://{options.host}:{options.port}"
    site = Site(refresher, SiteSettings(public_url=url, rate=options.rate, burst=options.burst))
    runner, _ = await serve(site.app(), options.host, options.port, limits=options.limits)
    task = asyncio.create_task(refresher.run(), name="status-refresh")
    return StatusServer(site, runner, task, f"http://{options.host}:{options.port}/")
