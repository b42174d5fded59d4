"""The supervisor's HTTP to its workers, over their real Unix sockets.

A worker that dies or is dropped while the supervisor talks to it costs its share of one
scrape, never the scrape: whatever aiohttp raises when the client closes under a request
becomes ``WorkerGone``, and a render that fails before its first slice is a 500, not a
200 cut short (the CI failure of a killed worker's scrape, stop 24). A forwarded ping's
body is copied whole, however many segments it arrives in."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from harness.stack import serving
from monitor.serving.app import make_app
from monitor.supervisor.process import WorkerGone, WorkerProcess
from monitor.supervisor.proxy import forwarder

TIMEOUT = aiohttp.ClientTimeout(total=10)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def _unix_worker(path: Path, handler: Handler) -> AsyncIterator[WorkerProcess]:
    """A worker as the supervisor sees it, its HTTP served by ``handler`` on a Unix socket."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.UnixSite(runner, str(path)).start()
    worker = WorkerProcess(0)
    worker.http = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(path)))
    try:
        yield worker
    finally:
        await worker.closed()
        await runner.cleanup()


def _proxy(workers: Sequence[WorkerProcess]) -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forwarder(lambda: workers))
    return app


@pytest.fixture
async def worker(tmp_path: Path) -> AsyncIterator[WorkerProcess]:
    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text="# HELP dozor_probes_configured Services.\n")

    async with _unix_worker(tmp_path / "w.sock", metrics) as worker:
        yield worker


async def test_a_worker_killed_mid_body_is_gone(tmp_path: Path) -> None:
    async def dies(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"# HELP dozor_probes_configured Services.\n")
        await asyncio.sleep(0.1)
        assert request.transport is not None
        request.transport.abort()  # as a kill -9 leaves it: the chunked body cut short
        return response

    async with _unix_worker(tmp_path / "w.sock", dies) as worker:
        with pytest.raises(WorkerGone, match="ClientPayloadError"):
            await worker.scrape(TIMEOUT)


async def test_a_scrape_while_the_client_closes_is_gone_not_a_runtime_error(
        worker: WorkerProcess) -> None:
    # closed() awaits the connector's close; a scrape starting in that window found a
    # closing session, and aiohttp's RuntimeError("Session is closed") cut the merged body.
    session = worker.http
    assert session is not None
    closing = asyncio.create_task(worker.closed())
    await asyncio.sleep(0)
    assert worker.http is None, "the client is dropped before it is closed"
    with pytest.raises(WorkerGone):
        await worker.scrape(TIMEOUT)
    # The same window, reached with the client in hand (a scrape that read it earlier).
    worker.http = session
    with pytest.raises(WorkerGone, match="RuntimeError"):
        await worker.scrape(TIMEOUT)
    worker.http = None
    await closing


async def test_a_proxied_request_skips_a_closing_worker(tmp_path: Path) -> None:
    async def knows(request: web.Request) -> web.Response:
        return web.Response(text="pong\n")

    async with _unix_worker(tmp_path / "a.sock", knows) as closing, \
            _unix_worker(tmp_path / "b.sock", knows) as answering:
        session = closing.http
        assert session is not None
        await session.close()
        closing.http = session  # closed under a request that already read it
        async with serving(_proxy((closing, answering))) as url, \
                aiohttp.ClientSession() as client, \
                client.get(f"{url}/ping/x", timeout=TIMEOUT) as got:
            assert got.status == 200
            assert await got.text() == "pong\n"
        closing.http = None


async def test_a_render_failing_before_its_first_slice_is_a_500() -> None:
    async def failing() -> AsyncIterator[bytes]:
        raise RuntimeError("the workers' bodies could not be gathered")
        yield b""  # an async generator, as the real renders are

    async def reload() -> bool:
        return True

    async with serving(make_app(failing, reload)) as url, aiohttp.ClientSession() as client, \
            client.get(f"{url}/metrics", timeout=TIMEOUT) as got:
        assert got.status == 500
        await got.read()  # whole: a complete error answer, not a cut 200


async def test_a_forwarded_body_arriving_in_segments_is_copied_whole(tmp_path: Path) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    async with _unix_worker(tmp_path / "w.sock", echo) as worker, \
            serving(_proxy((worker,))) as url:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(b"POST /ping/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                         b"Content-Length: 20\r\n\r\nfirst part,")
            await writer.drain()
            await asyncio.sleep(0.3)  # read(n) returned the first part alone: it was cut
            writer.write(b" second!!")
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(b"\r\n\r\nfirst part, second!!"), answer
