"""The public site: aiohttp routes over the refresher's snapshot.

A page is rendered once per snapshot (and per minute of its age while the data is stale) and
then served from a bounded cache, so a visitor costs a dictionary lookup, not a render, and
never a query.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

from aiohttp import web

from monitor.report import fmt
from monitor.status import badges, feed, views
from monitor.status.guard import RateLimit, middleware
from monitor.status.render import environment
from monitor.status.snapshot import Snapshot

CACHE_ENTRIES = 4096
HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
SVG = "image/svg+xml; charset=utf-8"
API_PATHS = {
    "summary": "/api/v1/summary",
    "services": "/api/v1/services",
    "service": "/api/v1/services/{id}",
    "life_situation": "/api/v1/life-situations/{id}",
    "region": "/api/v1/regions/{code}",
}

Body = tuple[bytes, str, int]
Build = Callable[[Snapshot, web.Request, float], Body]


@dataclass(frozen=True, slots=True)
class Entity:
    """A page about one thing of the directory, found by a path parameter, and its API twin."""

    page: str
    api: str
    param: str
    known: Callable[[Snapshot], Collection[str]]
    view: Callable[[Snapshot, str, float], dict[str, Any]]
    template: str
    missing: str        # the 404 page says
    error: str          # the API's 404 says


SERVICE = Entity("/services/{id}", API_PATHS["service"], "id", lambda s: s.directory.services,
                 views.service, "service.html", "Услуга не найдена.", "no such service")
ENTITIES = (
    SERVICE,
    Entity("/life-situations/{id}", API_PATHS["life_situation"], "id",
           lambda s: s.directory.life_situations, views.life_situation, "situation.html",
           "Жизненная ситуация не найдена.", "no such life situation"),
    Entity("/regions/{code}", API_PATHS["region"], "code", views.regions_known, views.region,
           "region.html", "Страница региона не найдена.", "no such region"),
)


class Source(Protocol):
    """Where the site's data comes from: the refresher (or, in the benchmark, a fixed
    snapshot)."""

    @property
    def snapshot(self) -> Snapshot: ...
    @property
    def refreshes(self) -> int: ...
    @property
    def queries(self) -> int: ...


@dataclass(frozen=True, slots=True)
class SiteSettings:
    public_url: str                 # absolute base for the feed's links and ids
    rate: float = 20.0              # answers per second per client
    burst: float = 60.0
    max_age: int = 30               # Cache-Control for browsers and proxies


class Site:
    def __init__(self, refresher: Source, settings: SiteSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self.refresher = refresher
        self.settings = settings
        self._clock = clock
        self._env = environment()
        self._cache: OrderedDict[tuple[str, int, int], Body] = OrderedDict()
        self.renders = 0
        self.limit = RateLimit(settings.rate, settings.burst) if settings.rate > 0 else None
        self._css = resources.files("monitor.status").joinpath("static/style.css").read_bytes()

    # --- the app ---------------------------------------------------------------------------

    def app(self) -> web.Application:
        # Every page is a GET: no body is needed, so none is accepted (beyond a small slack).
        app = web.Application(client_max_size=1024, middlewares=[middleware(  # type: ignore[list-item]
            self.limit, self._refused, self._error)])
        page = self._page
        app.router.add_get("/", page(lambda s, r, now: self._html("home.html",
                                                                  views.home(s, now))))
        app.router.add_get("/services", page(lambda s, r, now: self._html(
            "services.html", views.services(s, now))))
        for entity in ENTITIES:
            app.router.add_get(entity.page, page(self._entity(entity, as_json=False)))
            app.router.add_get(entity.api, page(self._entity(entity, as_json=True)))
        app.router.add_get("/services/{id}/feed.atom", page(self._service_feed))
        app.router.add_get("/feed.atom", page(lambda s, r, now: self._feed(s, now, None)))
        app.router.add_get("/badge/{id}/{kind}.svg", page(self._badge))
        app.router.add_get("/api/v1/", page(lambda s, r, now: self._json(self._api_index())))
        app.router.add_get(API_PATHS["summary"], page(lambda s, r, now: self._json(
            views.home(s, now))))
        app.router.add_get(API_PATHS["services"], page(lambda s, r, now: self._json(
            views.services(s, now))))
        app.router.add_get("/static/style.css", self._style)
        app.router.add_get("/healthz", self._health)
        return app

    def _page(self, build: Build) -> Any:
        async def handler(request: web.Request) -> web.Response:
            snap, now = self.refresher.snapshot, self._clock()
            fresh = views.freshness(snap, now)
            # While stale the page says the data's age, so it is re-rendered each minute.
            minute = int((fresh["age_seconds"] or 0) // 60) if fresh["source_unavailable"] else -1
            key = (request.path, snap.version, minute)
            found = self._cache.get(key)
            if found is None:
                found = build(snap, request, now)
                self.renders += 1
                self._cache[key] = found
                while len(self._cache) > CACHE_ENTRIES:
                    self._cache.popitem(last=False)
            body, content_type, status = found
            return web.Response(body=body, status=status, headers={
                "Content-Type": content_type,
                "Cache-Control": f"public, max-age={self.settings.max_age}"})
        return handler

    # --- pages -----------------------------------------------------------------------------

    def _html(self, template: str, data: dict[str, Any], status: int = 200) -> Body:
        html = self._env.get_template(template).render(d=data, freshness=data.get("freshness"))
        return html.encode(), HTML, status

    def _json(self, data: dict[str, Any], status: int = 200) -> Body:
        return json.dumps(data, ensure_ascii=False, indent=1).encode(), JSON, status

    def _entity(self, entity: Entity, as_json: bool) -> Build:
        def build(snap: Snapshot, request: web.Request, now: float) -> Body:
            key = request.match_info[entity.param]
            if key not in entity.known(snap):
                return (self._json({"error": entity.error}, 404) if as_json
                        else self._error_body(404, entity.missing))
            data = entity.view(snap, key, now)
            return self._json(data) if as_json else self._html(entity.template, data)
        return build

    def _service_feed(self, snap: Snapshot, request: web.Request, now: float) -> Body:
        sid = request.match_info["id"]
        if sid not in snap.directory.services:
            return self._error_body(404, SERVICE.missing)
        return self._feed(snap, now, sid)

    def _feed(self, snap: Snapshot, now: float, sid: str | None) -> Body:
        items = feed.entries(snap, now, sid)
        name = snap.directory.services[sid].name if sid else None
        data = {
            "title": f"{name}: сбои и плановые работы" if name
            else "Госуслуги 24/7: сбои и плановые работы",
            "base": self.settings.public_url.rstrip("/"),
            "path": f"/services/{sid}/feed.atom" if sid else "/feed.atom",
            "page": f"/services/{sid}" if sid else "/",
            "updated": fmt.iso(max((e.sort for e in items), default=snap.data_at or now)),
            "entries": items,
        }
        return self._env.get_template("feed.xml").render(**data).encode(), ATOM, 200

    def _badge(self, snap: Snapshot, request: web.Request, now: float) -> Body:
        sid, kind = request.match_info["id"], request.match_info["kind"]
        if sid not in snap.directory.services or kind not in ("state", "availability"):
            return b"", SVG, 404
        brief = views.service_brief(snap, sid)
        data = badges.state_badge(brief) if kind == "state" else badges.availability_badge(brief)
        return self._env.get_template("badge.svg").render(**data).encode(), SVG, 200

    def _api_index(self) -> dict[str, Any]:
        return {"api_version": views.API_VERSION, "endpoints": API_PATHS,
                "documentation": "README.md, section 'Status page'"}

    # --- the rest --------------------------------------------------------------------------

    async def _style(self, request: web.Request) -> web.Response:
        return web.Response(body=self._css, content_type="text/css", headers={
            "Cache-Control": "public, max-age=3600"})

    async def _health(self, request: web.Request) -> web.Response:
        snap = self.refresher.snapshot
        return web.json_response({
            "data_at": snap.data_at, "version": snap.version,
            "refreshes": self.refresher.refreshes, "queries": self.refresher.queries,
            "renders": self.renders, "source_unavailable": views.freshness(
                snap, self._clock())["source_unavailable"]})

    def _error_body(self, status: int, message: str) -> Body:
        titles = {404: "Страница не найдена", 405: "Метод не поддерживается",
                  429: "Слишком много запросов"}
        html = self._env.get_template("error.html").render(
            title=titles.get(status, "Ошибка"), message=message, freshness=None)
        return html.encode(), HTML, status

    def _error(self, request: web.Request, status: int) -> web.Response:
        body, content_type, status = self._error_body(
            status, "Такой страницы нет." if status == 404 else "Запрос не поддерживается.")
        return web.Response(body=body, status=status, content_type=content_type.split(";")[0],
                            charset="utf-8")

    def _refused(self, request: web.Request) -> web.Response:
        body, _, status = self._error_body(429, "Повторите запрос через секунду.")
        return web.Response(body=body, status=status, content_type="text/html",
                            charset="utf-8", headers={"Retry-After": "1"})
