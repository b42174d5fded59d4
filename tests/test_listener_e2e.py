"""Every port the real processes open is guarded (issue 17): `dozor run`'s, the supervisor's
under --workers, the heartbeat's own listener (one process and behind a supervisor) and
`dozor status`'s. On each: a client address holding half-open connections hits its cap
and is refused at once, another client is served meanwhile, and the half-open connections
are closed by the header timeout. Loopback only; 127.0.0.2 plays the hostile client."""

from __future__ import annotations

import asyncio
import base64
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import bcrypt
import pytest
import yaml

from harness.catalog_factory import catalog_dict, write_catalog
from harness.dozor_process import DozorProcess
from harness.stack import free_port, poll, spawn, stop_process
from harness.tools import metrics_body, promtool_check_metrics, samples

pytestmark = pytest.mark.e2e

LIMITS = ("--header-timeout", "3", "--max-connections-per-address", "3",
          "--max-connections", "64")
HANG = 20.0  # far above the 3 s header timeout: reaching it means nothing closed them
PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@asynccontextmanager
async def _dozor_run(tmp_path: Path, extra: tuple[str, ...], own: bool
                     ) -> AsyncIterator[tuple[int, str, str | None]]:
    """The guarded port, a path that answers there, and the /metrics that tells of it."""
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(["http://127.0.0.1:1/"]))
    own_port = free_port()
    flags = extra + LIMITS
    if own:
        flags += ("--heartbeat-listen", f"127.0.0.1:{own_port}")
    proc = DozorProcess(cfg, "e2e", tmp_path / "dozor.log", extra=flags)
    await proc.start()
    try:
        metrics = proc.url
        yield ((own_port, "/ping/not-a-token-of-anyone-here", metrics) if own
               else (proc.port, "/healthz", metrics))
    finally:
        await proc.close()


@asynccontextmanager
async def _dozor_status(tmp_path: Path) -> AsyncIterator[tuple[int, str, str | None]]:
    port = free_port()
    popen = spawn([sys.executable, "-m", "monitor", "status", "--prometheus",
                   "http://127.0.0.1:1", "--listen", f"127.0.0.1:{port}", *LIMITS],
                  tmp_path / "status.log")
    try:
        await poll(lambda: _status(port, "/api/v1/", "127.0.0.1", quiet=True), HANG,
                   "dozor status to answer")
        yield port, "/api/v1/", None  # the status page exports no metrics
    finally:
        stop_process(popen)


async def _status(port: int, path: str, source: str, quiet: bool = False) -> int | None:
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    try:
        async with aiohttp.ClientSession(connector=connector) as s, \
                s.get(f"http://127.0.0.1:{port}{path}") as r:
            await r.read()
            return r.status
    except aiohttp.ClientError:
        if quiet:
            return None
        raise


async def _read_until_closed(reader: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(), HANG)
    except ConnectionResetError:
        return b""


LISTENERS = {
    "run": lambda tmp: _dozor_run(tmp, (), own=False),
    "workers": lambda tmp: _dozor_run(tmp, ("--workers", "2"), own=False),
    "heartbeat-listen": lambda tmp: _dozor_run(tmp, (), own=True),
    "workers-heartbeat-listen": lambda tmp: _dozor_run(tmp, ("--workers", "2"), own=True),
    "status": _dozor_status,
}


@pytest.mark.parametrize("listener", list(LISTENERS))
async def test_every_listener_caps_and_times_out_half_open_connections(
        tmp_path: Path, listener: str) -> None:
    async with LISTENERS[listener](tmp_path) as (port, path, metrics):
        served = await _status(port, path, "127.0.0.1")
        assert served is not None and served != 503
        hogs = []
        for _ in range(3):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=("127.0.0.2", 0))
            writer.write(PARTIAL)
            await writer.drain()
            hogs.append((reader, writer))
        # Past its cap the address is refused at once, with the reason...
        reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                       local_addr=("127.0.0.2", 0))
        assert (await _read_until_closed(reader)).startswith(b"HTTP/1.1 503")
        writer.close()
        # ... while another client is served as before.
        assert await _status(port, path, "127.0.0.1") == served
        # The half-open connections are closed by the server, having sent nothing.
        for reader, writer in hogs:
            assert await _read_until_closed(reader) == b""
            writer.close()
        assert await _status(port, path, "127.0.0.2") == served
        if metrics is not None:  # the process that owns the port tells what it refused
            body = await metrics_body(metrics)
            check = promtool_check_metrics(body)
            assert check.returncode == 0, check.stdout + check.stderr
            got = samples(body)
            listen = ("listen", f"127.0.0.1:{port}")
            assert got[("dozor_http_connections_refused_total",
                        frozenset({listen, ("reason", "max_per_address")}))] == 1.0
            assert got[("dozor_http_connections_timed_out_total", frozenset({listen}))] == 3.0


@pytest.mark.parametrize("workers", [(), ("--workers", "2")], ids=["one-process", "workers"])
async def test_a_password_flood_is_limited_by_the_running_daemon(
        tmp_path: Path, workers: tuple[str, ...]) -> None:
    web_config = tmp_path / "web.yml"
    web_config.write_text(yaml.safe_dump({"basic_auth_users": {
        "prom": bcrypt.hashpw(b"s3cret-pass", bcrypt.gensalt(4)).decode()}}))
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(["http://127.0.0.1:1/"]))
    proc = DozorProcess(cfg, "e2e", tmp_path / "dozor.log",
                        extra=("--web-config", str(web_config), *workers))
    await proc.start()
    try:
        url = proc.url + "/metrics"
        wrong = [await _auth_get(url, ("prom", f"guess{i}"), "127.0.0.2") for i in range(12)]
        assert wrong == [401] * 10 + [429] * 2
        assert await _auth_get(url, ("prom", "s3cret-pass"), "127.0.0.1") == 200
        async with aiohttp.ClientSession() as s, s.get(
                url, headers={"Authorization": _basic("prom", "s3cret-pass")}) as r:
            got = samples(await r.read())
        assert got[("dozor_http_logins_total", frozenset({("result", "limited")}))] == 2.0
        assert got[("dozor_http_logins_total", frozenset({("result", "denied")}))] == 10.0
    finally:
        await proc.close()


async def _auth_get(url: str, auth: tuple[str, str], source: str) -> int:
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as s, s.get(
            url, headers={"Authorization": _basic(*auth)}) as r:
        await r.read()
        return r.status


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
