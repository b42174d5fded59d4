"""A small e-service for journey tests, on 127.0.0.1 only: log in, submit an application,
poll its status until it is ready.

- ``POST /login`` (form ``user``, ``password``): the password must be the app's secret;
  sets a ``session`` cookie, answers an HTML page carrying a CSRF token
  (``<meta name="csrf" content="...">``) and an ``X-Session-Ref`` header. Wrong: 401.
- ``POST /applications`` (JSON): needs the session cookie and ``X-CSRF-Token``; answers 201
  ``{"application": {"id": ..., "status": "processing"}}``. ``submit_status`` other than 201
  makes it fail with that status instead (the failing variant).
- ``GET /applications/{id}``: needs the cookie and ``X-Session-Ref``; ``status`` is
  ``processing`` until ``ready_after`` seconds after submission, then ``ready``
  (``ready_after=inf``: never ready).

Every request is counted per path in ``hits``; the user names seen are kept in ``users``.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

PASSWORD = "correct horse battery"  # the default app secret the steps log in with


def steps(base: str, *, password: str = PASSWORD, ready_within: str = "3s",
          app_id_path: str = "$.application.id", csrf_regex: str = r'name="csrf" content="(\w+)"',
          ref_header: str = "X-Session-Ref") -> list[dict[str, Any]]:
    """The journey steps (spec fields) for a :class:`JourneyApp` at ``base``: log in, submit,
    poll; every extraction kind is needed for the next step to pass."""
    return [
        {"name": "login",
         "request": {"method": "POST", "url": base + "/login",
                     "form": {"user": "ivanov", "password": password}},
         "expect": {"status": [200], "body_contains": "Личный кабинет"},
         "extract": {"csrf": {"regex": csrf_regex}, "ref": {"header": ref_header}}},
        {"name": "submit", "submit": True,
         "request": {"method": "POST", "url": base + "/applications",
                     "headers": {"X-CSRF-Token": "${csrf}"}, "json": {"service": "kindergarten"}},
         "expect": {"status": [201]},
         "extract": {"app_id": {"json": app_id_path}}},
        {"name": "status",
         "request": {"url": base + "/applications/${app_id}",
                     "headers": {"X-Session-Ref": "${ref}"}},
         "expect": {"status": [200]},
         "poll": {"every": "100ms", "deadline": ready_within,
                  "until": {"json": {"$.status": "ready"}}}},
    ]


@dataclass
class JourneyApp:
    password: str
    ready_after: float = 0.5
    submit_status: int = 201
    hits: Counter[str] = field(default_factory=Counter)
    users: list[str] = field(default_factory=list)
    # session token -> (csrf token, session ref)
    sessions: dict[str, tuple[str, str]] = field(default_factory=dict)
    # application id -> (session token, submitted at)
    applications: dict[str, tuple[str, float]] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/login", self.login)
        app.router.add_post("/applications", self.submit)
        app.router.add_get("/applications/{id}", self.status)
        return app

    async def login(self, request: web.Request) -> web.Response:
        self.hits["/login"] += 1
        form = await request.post()
        self.users.append(str(form.get("user", "")))
        if form.get("password") != self.password:
            return web.Response(status=401, text="Неверный логин или пароль")
        token, csrf, ref = (secrets.token_hex(8) for _ in range(3))
        self.sessions[token] = (csrf, f"ref-{ref}")
        response = web.Response(
            content_type="text/html",
            text=f'<html><head><meta name="csrf" content="{csrf}"></head>'
                 "<body>Личный кабинет</body></html>",
            headers={"X-Session-Ref": f"ref-{ref}"},
        )
        response.set_cookie("session", token, httponly=True)
        return response

    def _session(self, request: web.Request) -> tuple[str, tuple[str, str]] | None:
        token = request.cookies.get("session", "")
        found = self.sessions.get(token)
        return None if found is None else (token, found)

    async def submit(self, request: web.Request) -> web.Response:
        self.hits["/applications"] += 1
        session = self._session(request)
        if session is None:
            return web.json_response({"error": "login required"}, status=401)
        token, (csrf, _ref) = session
        if request.headers.get("X-CSRF-Token") != csrf:
            return web.json_response({"error": "bad csrf token"}, status=403)
        if self.submit_status != 201:
            return web.json_response({"error": "internal"}, status=self.submit_status)
        body = await request.json()
        if not isinstance(body, dict) or body.get("service") != "kindergarten":
            return web.json_response({"error": "bad application"}, status=400)
        app_id = f"A-{len(self.applications) + 1:04d}"
        self.applications[app_id] = (token, time.monotonic())
        return web.json_response(
            {"application": {"id": app_id, "status": "processing"}}, status=201,
            headers={"Location": f"/applications/{app_id}"},
        )

    async def status(self, request: web.Request) -> web.Response:
        self.hits["/applications/{id}"] += 1
        session = self._session(request)
        if session is None:
            return web.json_response({"error": "login required"}, status=401)
        token, (_csrf, ref) = session
        if request.headers.get("X-Session-Ref") != ref:
            return web.json_response({"error": "bad session ref"}, status=403)
        found = self.applications.get(request.match_info["id"])
        if found is None or found[0] != token:
            return web.json_response({"error": "no such application"}, status=404)
        ready = time.monotonic() - found[1] >= self.ready_after
        return web.json_response({"status": "ready" if ready else "processing"})


async def start_journey_app(app: JourneyApp) -> TestServer:
    server = TestServer(app.app(), host="127.0.0.1")
    await server.start_server()
    return server
