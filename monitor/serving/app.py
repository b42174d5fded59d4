"""The daemon's HTTP surface: /metrics, /healthz and POST /-/reload (see security.py for
TLS, basic auth and the reload token), and the routes kinds' runtimes serve (a heartbeat's
/ping/<token>: they authenticate their callers themselves, so basic auth is not theirs)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from monitor.serving.passwords import PasswordCheck, Verdict
from monitor.serving.security import WebSecurity


def make_app(
    render: Callable[[], AsyncIterator[bytes]],
    reload: Callable[[], Awaitable[bool]],
    security: WebSecurity | None = None,
    routes: Sequence[web.AbstractRouteDef] = (),
    behind_supervisor: bool = False,
) -> web.Application:
    sec = security or WebSecurity()
    passwords = sec.password_check()

    async def metrics(request: web.Request) -> web.StreamResponse:
        refused = await _refused(passwords, request)
        if refused is not None:
            return refused
        # Rendering is CPU work that grows with the catalog: it comes in ~1 ms slices on the
        # loop, so probes keep firing and reading in between (a render thread would hold the
        # GIL in 5 ms turns and delay every probe's reads for the whole render), and each
        # slice is sent at once instead of building the whole body (45 MB at 10k services).
        # The first slice comes before the status line: what fails before any output (a
        # supervisor gathering its workers' bodies) is a 500, not a 200 cut short.
        chunks = render()
        first = await anext(chunks, b"")
        response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE_LATEST})
        await response.prepare(request)
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
        return response

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def do_reload(request: web.Request) -> web.Response:
        if sec.reload_token is None:
            return web.Response(status=403, text="the reload endpoint is off; send SIGHUP, or "
                                                 "start with --reload-token-file\n")
        if not sec.check_token(request.headers.get("Authorization")):
            return web.Response(status=401, text="a valid 'Authorization: Bearer' token is "
                                                 "required\n")
        ok = await reload()
        if ok:
            return web.Response(text="reloaded\n")
        return web.Response(status=400, text="reload failed; running catalog kept (see log)\n")

    # Nothing the daemon itself serves takes a body; a kind's route reads its own, capped.
    app = web.Application(client_max_size=1024,
                          middlewares=[_client_from_supervisor] if behind_supervisor else [])
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/-/reload", do_reload)
    app.router.add_routes(routes)

    async def close_passwords(_: web.Application) -> None:
        passwords.close()

    app.on_cleanup.append(close_passwords)
    app[PASSWORDS] = passwords
    return app


# The app's basic-auth checker, for the port's series (monitor.serving.ports).
PASSWORDS = web.AppKey("passwords", PasswordCheck)


async def _refused(passwords: PasswordCheck, request: web.Request) -> web.Response | None:
    """None when the request may go on; else the answer (401, 429 or 503)."""
    verdict = await passwords.check(request.headers.get("Authorization"), request.remote)
    if verdict is Verdict.ALLOWED:
        return None
    if verdict is Verdict.LIMITED:
        return web.Response(status=429, text="too many failed logins from this address\n",
                            headers={"Retry-After": str(passwords.retry_after(request.remote))})
    if verdict is Verdict.BUSY:
        return web.Response(status=503, text="too many logins being checked; try again\n",
                            headers={"Retry-After": "1"})
    return web.Response(status=401, text="unauthorized\n",
                        headers={"WWW-Authenticate": 'Basic realm="dozor"'})


CLIENT_HEADER = "X-Dozor-Client"  # the client's address, set by the supervisor's proxy


@web.middleware
async def _client_from_supervisor(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """A worker's listener is a Unix socket only its supervisor can reach: the address a
    kind's route limits by (a heartbeat's guessing bucket) is the one the supervisor saw."""
    client = request.headers.get(CLIENT_HEADER)
    if client is not None:
        request = request.clone(remote=client)
    return await handler(request)


def cannot_listen(host: str, port: int, exc: OSError) -> str:
    """One line for a listener that could not open (the port taken, an address that is not
    this machine's), without asyncio's restatement of the address."""
    reason = (exc.strerror or str(exc)).rsplit(": ", 1)[-1]
    return f"dozor run: cannot listen on {host}:{port}: {reason}"
