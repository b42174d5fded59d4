"""A small controllable HTTP target on 127.0.0.1 for daemon tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Target:
    status: int = 200
    fail_next: int = 0  # the next N requests answer 503 whatever `status` says
    delay: float = 0.0
    hits: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    paths: list[str] = field(default_factory=list)
    user_agents: set[str] = field(default_factory=set)
    runner: web.AppRunner | None = None
    url: str = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        self.paths.append(request.path)
        self.user_agents.add(request.headers.get("User-Agent", ""))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            status = self.status
            if self.fail_next > 0:
                self.fail_next -= 1
                status = 503
            return web.Response(status=status, text="Запись в детский сад открыта")
        finally:
            self.in_flight -= 1

    async def start(self) -> Target:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
