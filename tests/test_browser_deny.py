"""The browser kind under ``--deny-networks``, in a real Chromium: each run connects through
its gate (probes/browser/gate.py), which checks the address it connects to. A ``goto`` into a
denied network, or redirected into one, fails with ``denied``; a page's subresources, fetches
and WebSockets into one never reach it (counted as failed requests, as any failed resource
is); the gate relays everything else, TLS included, and still tells ``dns`` from ``connect``.
Real servers on 127.0.0.1 (allowed) and 127.0.0.2 ("denied"), no mocks."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web

from harness.http_zoo import UA, Pki, ZooResolver
from probes import (
    DeniedNetworks,
    ProbeContext,
    ProbeResult,
    Reason,
    RuntimeSettings,
    new_http_session,
    run_probe,
)
from probes.browser import BrowserRuntime, BrowserSpec, probe_browser

pytestmark = pytest.mark.e2e  # starts Chromium

DENIED_HOST = "127.0.0.2"
DENY = DeniedNetworks.parse("127.0.0.2/32")
ELSEWHERE = DeniedNetworks.parse("169.254.0.0/16,fe80::/10")
LOOPBACK = DeniedNetworks.parse("127.0.0.0/8,::1/128")


@dataclass
class Inner:
    """The server on 127.0.0.2: every request it got (paths; ``ws`` for a WebSocket)."""

    url: str = ""
    port: int = 0
    seen: list[str] = field(default_factory=list)


@dataclass
class Outer:
    url: str = ""
    seen: list[str] = field(default_factory=list)


def _page(inner: Inner) -> str:
    """An image, a fetch and a WebSocket, all to the inner server; the title says when each
    has loaded or failed."""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>loading</title></head>
<body><h1>Портал</h1><img id="img" src="{inner.url}/pixel.png" alt="pixel">
<script>
const done = {{}};
function mark(what, how) {{
  done[what] = how;
  if (Object.keys(done).length === 3)
    document.title = 'done ' + ['img', 'fetch', 'ws'].map(k => k + '=' + done[k]).join(' ');
}}
const img = document.getElementById('img');
img.onload = () => mark('img', 'ok'); img.onerror = () => mark('img', 'failed');
if (img.complete) mark('img', img.naturalWidth ? 'ok' : 'failed');
fetch('{inner.url}/api', {{mode: 'no-cors'}}).then(() => mark('fetch', 'ok'),
                                                    () => mark('fetch', 'failed'));
const ws = new WebSocket('ws://{DENIED_HOST}:{inner.port}/ws');
ws.onopen = () => {{ mark('ws', 'ok'); ws.close(); }};
ws.onerror = () => mark('ws', 'failed');
</script></body></html>"""


PIXEL = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                      "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


@contextlib.asynccontextmanager
async def _serve(app: web.Application, host: str) -> AsyncIterator[int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@pytest.fixture
async def inner() -> AsyncIterator[Inner]:
    found = Inner()

    async def any_path(request: web.Request) -> web.StreamResponse:
        found.seen.append(request.path)
        if request.path == "/ws":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.close()
            return ws
        if request.path == "/pixel.png":
            return web.Response(body=PIXEL, content_type="image/png")
        return web.Response(text="<title>inner</title><h1>inner</h1>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", any_path)
    async with _serve(app, DENIED_HOST) as port:
        found.port = port
        found.url = f"http://{DENIED_HOST}:{port}"
        yield found


@pytest.fixture
async def outer(inner: Inner) -> AsyncIterator[Outer]:
    found = Outer()

    async def page(request: web.Request) -> web.Response:
        found.seen.append(request.path)
        return web.Response(text=_page(inner), content_type="text/html")

    async def moved(request: web.Request) -> web.Response:
        found.seen.append(request.path)
        raise web.HTTPFound(f"{inner.url}/landing")

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/moved", moved)
    async with _serve(app, "127.0.0.1") as port:
        found.url = f"http://127.0.0.1:{port}"
        yield found


@contextlib.asynccontextmanager
async def browsing(deny: DeniedNetworks, tmp_path: Path,
                   resolver: ZooResolver | None = None) -> AsyncIterator[ProbeContext]:
    """A run's context and browser runtime as the daemon makes them with ``--deny-networks``
    (the runtime gets the list through RuntimeSettings)."""
    runtime = BrowserRuntime(RuntimeSettings(artifacts_dir=tmp_path / "artifacts", deny=deny))
    session = new_http_session(user_agent=UA, resolver=resolver, deny=deny)
    try:
        yield ProbeContext(http=session, log=structlog.get_logger("test"), user_agent=UA,
                           runtime=runtime, service="svc", probe="page", deny=deny)
    finally:
        await session.close()
        await runtime.close()
        assert runtime.pids() == set()


async def _check(ctx: ProbeContext, spec: dict[str, Any], timeout: float = 15.0
                 ) -> ProbeResult:
    result, _ = await run_probe(probe_browser, BrowserSpec.model_validate(spec), ctx, timeout)
    return result


def _problems(result: ProbeResult) -> float:
    return next(v for name, labels, v in result.samples
                if name == "dozor_browser_page_problems" and labels == ("failed_request",))


async def test_goto_into_a_denied_network(inner: Inner, tmp_path: Path) -> None:
    async with browsing(DENY, tmp_path) as ctx:
        result = await _check(ctx, {"steps": [{"goto": {"url": f"{inner.url}/portal"}}]})
    assert result.reason is Reason.DENIED, result.detail
    assert result.detail.startswith(
        f"step 1-goto: {inner.url}/portal: not connecting to 127.0.0.2:{inner.port}: address "
        "127.0.0.2 is in denied network 127.0.0.2/32 (artifacts: ")
    assert inner.seen == []
    report = json.loads(next((tmp_path / "artifacts" / "svc" / "page").iterdir())
                        .joinpath("report.json").read_text())
    assert report["gate"] == [f"denied: not connecting to 127.0.0.2:{inner.port}: address "
                              "127.0.0.2 is in denied network 127.0.0.2/32"]


async def test_a_redirect_into_a_denied_network(outer: Outer, inner: Inner, tmp_path: Path
                                                ) -> None:
    async with browsing(DENY, tmp_path) as ctx:
        result = await _check(ctx, {"steps": [{"goto": {"url": f"{outer.url}/moved"}}]})
    assert result.reason is Reason.DENIED, result.detail
    assert f"{outer.url}/moved: not connecting to 127.0.0.2:{inner.port}: " in result.detail
    assert (outer.seen, inner.seen) == (["/moved"], [])


async def test_localhost_is_denied_with_loopback(outer: Outer, tmp_path: Path) -> None:
    """Chromium hands the gate the name; the system resolver's every address is loopback."""
    url = outer.url.replace("127.0.0.1", "localhost")
    async with browsing(LOOPBACK, tmp_path) as ctx:
        result = await _check(ctx, {"steps": [{"goto": {"url": f"{url}/page"}}]})
    assert result.reason is Reason.DENIED, result.detail
    assert "not connecting to localhost:" in result.detail
    assert outer.seen == []


async def test_subresources_fetches_and_websockets_never_reach_a_denied_network(
        outer: Outer, inner: Inner, tmp_path: Path) -> None:
    async with browsing(DENY, tmp_path) as ctx:
        result = await _check(ctx, {"steps": [
            {"goto": {"url": f"{outer.url}/page"}},
            {"expect": {"title": "^done img=failed fetch=failed ws=failed$"}},
        ]})
    # The page itself works: a refused resource is a failed request, not a failed run.
    assert result.success, result.detail
    assert _problems(result) >= 2  # the image and the fetch (a WebSocket is not a request)
    assert inner.seen == []


async def test_outside_the_list_the_gate_relays_everything(
        outer: Outer, inner: Inner, tmp_path: Path) -> None:
    async with browsing(ELSEWHERE, tmp_path) as ctx:
        result = await _check(ctx, {"steps": [
            {"goto": {"url": f"{outer.url}/page"}},
            {"expect": {"title": "^done img=ok fetch=ok ws=ok$"}},
            {"goto": {"url": f"{outer.url}/moved"}},
            {"expect": {"title": "^inner$"}},
        ]})
    assert result.success, result.detail
    assert sorted(inner.seen) == ["/api", "/landing", "/pixel.png", "/ws"]


async def test_tls_is_end_to_end_through_the_gate(tmp_path: Path) -> None:
    pki = Pki()

    async def secure(_: web.Request) -> web.Response:
        return web.Response(text="<title>secure</title>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", secure)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0,
                      ssl_context=pki.server_context("127.0.0.1")).start()
    url = f"https://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        async with browsing(ELSEWHERE, tmp_path) as ctx:
            trusted = await _check(ctx, {"ca_file": pki.ca_file(tmp_path), "steps": [
                {"goto": {"url": url}}, {"expect": {"title": "^secure$"}}]})
            untrusted = await _check(ctx, {"steps": [{"goto": {"url": url}}]})
    finally:
        await runner.cleanup()
    assert trusted.success, trusted.detail
    assert untrusted.reason is Reason.TLS, untrusted.detail  # Chromium's own verdict


async def test_the_gate_tells_dns_and_connect_apart(closed_port: int, tmp_path: Path) -> None:
    """Chromium reports every connection its proxy did not make alike; the gate knows why."""
    resolver = ZooResolver({"portal.test": "127.0.0.1"})
    async with browsing(ELSEWHERE, tmp_path, resolver) as ctx:
        unknown = await _check(ctx, {"steps": [{"goto": {"url": "http://nowhere.test/"}}]})
        refused = await _check(ctx, {"steps": [
            {"goto": {"url": f"http://portal.test:{closed_port}/"}}]})
    assert unknown.reason is Reason.DNS, unknown.detail
    assert "cannot resolve nowhere.test: Name or service not known" in unknown.detail
    assert refused.reason is Reason.CONNECT, refused.detail
    assert f"cannot connect to portal.test:{closed_port}: Connection refused" in refused.detail
    assert resolver.lookups == ["nowhere.test", "portal.test"]


async def test_no_list_no_gate(outer: Outer, inner: Inner, tmp_path: Path) -> None:
    """Without --deny-networks nothing changes: Chromium connects by itself."""
    async with browsing(DeniedNetworks(), tmp_path) as ctx:
        result = await _check(ctx, {"steps": [
            {"goto": {"url": f"{outer.url}/page"}},
            {"expect": {"title": "^done img=ok fetch=ok ws=ok$"}},
        ]})
        runtime = ctx.runtime
    assert result.success, result.detail
    assert isinstance(runtime, BrowserRuntime) and not runtime.deny
    assert sorted(inner.seen) == ["/api", "/pixel.png", "/ws"]


def test_the_runtime_takes_the_list_from_its_settings() -> None:
    runtime = BrowserRuntime(replace(RuntimeSettings(), deny=DENY))
    assert runtime.deny == DENY
