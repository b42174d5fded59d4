"""Heartbeat pings over real HTTP into the real daemon (in this process, on a loopback port):
what each ping does to the common series and the kind's own, and token abuse: unknown
tokens, a token's prefix, another token's suffix, other methods, huge bodies, floods,
basic auth (not the pings'), a reload, and a listener of their own."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import pytest

from harness.catalog_factory import catalog_dict, write_catalog
from harness.stack import free_port, poll
from harness.tools import Samples, samples
from monitor.runtime.daemon import Daemon, DaemonOptions
from monitor.serving.security import WebSecurity
from probes import HeartbeatSpec, RuntimeSettings
from probes.heartbeat import HeartbeatRuntime

OK = "ok-job-token-0123456789"
FAILS = "fails-job-token-0123456789"
STUCK = "stuck-job-token-0123456789"
NEVER = "never-job-token-0123456789"
AUTH = "Basic " + base64.b64encode(b"prom:s3cret-pass").decode()
DEADLINE = 30.0  # bounds a wait for runs every 1 s on a shared two-core machine


def _catalog(path: Path, *, keep: tuple[str, ...] = ("ok", "fails", "stuck", "never")) -> Path:
    data = catalog_dict(["http://127.0.0.1:1/"], interval="1s", timeout="500ms")
    probes: dict[str, dict[str, Any]] = {
        "ok": {"token": OK, "period": "1d"},
        "fails": {"token": FAILS, "period": "1d"},
        "stuck": {"token": STUCK, "period": "1d", "max_duration": "1s"},
        "never": {"token": NEVER, "period": "1s", "grace": "1s"},
    }
    data["services"][0]["probes"] = [{"name": name, "heartbeat": probes[name]} for name in keep]
    return write_catalog(path, data)


async def _daemon(config: Path, **runtime: Any) -> Daemon:
    users = {"prom": bcrypt.hashpw(b"s3cret-pass", bcrypt.gensalt(4))}
    daemon = Daemon(DaemonOptions(config=config, port=0, security=WebSecurity(users=users),
                                  runtime=RuntimeSettings(options=runtime)))
    await daemon.start()
    return daemon


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    running = await _daemon(_catalog(tmp_path / "catalog.yaml"))
    try:
        yield running
    finally:
        await running.stop()


async def _ping(url: str, method: str = "GET", data: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.request(method, url, data=data,
                                                       headers=headers) as r:
        return r.status, await r.text()


async def _scrape(base: str) -> Samples:
    async with aiohttp.ClientSession() as s, s.get(f"{base}/metrics",
                                                   headers={"Authorization": AUTH}) as r:
        assert r.status == 200
        return samples(await r.read())


def _value(found: Samples, name: str, probe: str, **extra: str) -> float | None:
    wanted = {"probe": probe, **extra}
    values = [v for (n, labels), v in found.items()
              if n == name and wanted.items() <= dict(labels).items()]
    return sum(values) if values else None


async def test_pings_drive_the_common_series_and_the_kinds_own(daemon: Daemon) -> None:
    base = daemon.url
    assert await _ping(f"{base}/ping/{OK}") == (200, "OK\n")
    assert (await _ping(f"{base}/ping/{FAILS}/start?rid=r1"))[0] == 200
    status, _ = await _ping(f"{base}/ping/{FAILS}/3?rid=r1", "POST",
                            f"pg_dump: connection refused; token {OK}".encode())
    assert status == 200
    assert (await _ping(f"{base}/ping/{STUCK}/start", "POST"))[0] == 200

    async def judged() -> Samples | None:
        found = await _scrape(base)
        done = (
            (_value(found, "dozor_probe_failures_total", "fails", reason="assertion") or 0) >= 1
            and (_value(found, "dozor_probe_failures_total", "stuck", reason="timeout") or 0)
            >= 1
            and (_value(found, "dozor_probe_failures_total", "never", reason="missed") or 0)
            >= 1)
        return found if done else None

    found = await poll(judged, DEADLINE, "the failing heartbeats judged")
    assert _value(found, "dozor_probe_success", "ok") == 1
    assert (_value(found, "dozor_probes_total", "ok", result="success") or 0) >= 1
    assert _value(found, "dozor_probe_failures_total", "ok", reason="missed") == 0
    assert _value(found, "dozor_heartbeat_last_ping_timestamp_seconds", "ok") is not None
    assert _value(found, "dozor_heartbeat_last_exit_code", "ok") == 0
    assert _value(found, "dozor_heartbeat_last_exit_code", "fails") == 3
    duration = _value(found, "dozor_heartbeat_job_duration_seconds", "fails")
    assert duration is not None and duration >= 0
    assert _value(found, "dozor_heartbeat_runs_open", "stuck") == 1
    assert _value(found, "dozor_heartbeat_runs_open", "fails") == 0
    assert _value(found, "dozor_heartbeat_last_ping_timestamp_seconds", "never") is None
    # The runs judge memory: they take no service's time, so no latency is observed.
    assert _value(found, "dozor_probe_duration_seconds_count", "ok") in (None, 0)
    assert found["dozor_heartbeat_pings_total", frozenset({("outcome", "accepted")})] == 4

    # The failed job's detail carries its exit code and output, with any token blanked.
    runtime = daemon._runtimes[HeartbeatSpec]
    assert isinstance(runtime, HeartbeatRuntime)
    result = runtime.judge("svc-00000", "fails", 0.0)
    assert "exit code 3" in result.detail and "pg_dump: connection refused" in result.detail
    assert OK not in result.detail and "***" in result.detail

    # The job succeeds later: the next runs pass again.
    assert (await _ping(f"{base}/ping/{FAILS}/0", "POST"))[0] == 200

    async def recovered() -> bool | None:
        return True if _value(await _scrape(base), "dozor_probe_success", "fails") == 1 else None

    await poll(recovered, DEADLINE, "the failed job recovered after its success ping")


async def test_token_abuse_gets_one_answer(daemon: Daemon) -> None:
    base = daemon.url
    wrong = [f"{base}/ping/{OK[:-1]}", f"{base}/ping/{OK}x", f"{base}/ping/{FAILS[6:]}",
             f"{base}/ping/unknown-token-0123456789", f"{base}/ping/{OK}/bogus",
             f"{base}/ping/{OK}/256", f"{base}/ping/{OK}/start/more", f"{base}/ping/",
             f"{base}/ping", f"{base}/ping/{OK}?rid=" + "r" * 65]
    answers = {await _ping(url) for url in wrong}
    answers.add(await _ping(f"{base}/ping/{OK}", "PUT"))
    answers.add(await _ping(f"{base}/ping/{OK}", "DELETE"))
    assert answers == {(404, "not found\n")}, answers
    # Basic auth guards /metrics, not the pings: the token is their credential.
    assert (await _ping(f"{base}/metrics"))[0] == 401
    assert (await _ping(f"{base}/ping/{OK}", headers={"Authorization": "Basic eDp5"}))[0] == 200
    # A body over 10 KiB: 413, whether announced or streamed.
    assert (await _ping(f"{base}/ping/{OK}", "POST", b"x" * (10 * 1024 + 1)))[0] == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(11):
            yield b"y" * 1024

    async with aiohttp.ClientSession() as s, s.post(f"{base}/ping/{OK}", data=chunks()) as r:
        assert r.status == 413
    # A flood on one token is cut to its bucket; another token is not affected.
    statuses = [(await _ping(f"{base}/ping/{OK}"))[0] for _ in range(40)]
    assert 429 in statuses and set(statuses) <= {200, 429}, statuses
    assert (await _ping(f"{base}/ping/{FAILS}"))[0] == 200
    # Guessing tokens from one address is cut too.
    guesses = [(await _ping(f"{base}/ping/guess-{i:016d}"))[0] for i in range(40)]
    assert 429 in guesses and set(guesses) <= {404, 429}, guesses
    found = await _scrape(base)
    for outcome in ("not_found", "rate_limited", "too_large", "accepted"):
        assert found["dozor_heartbeat_pings_total", frozenset({("outcome", outcome)})] >= 1


async def _post_in_two_segments(base: str, path: str, first: bytes, second: bytes,
                                chunked: bool = False) -> int:
    """A POST whose body's second half comes 0.3 s after its first, as a slow job's output or
    TLS records may (announced, or chunked with no length); the status of the answer."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    framing = ("Transfer-Encoding: chunked" if chunked
               else f"Content-Length: {len(first) + len(second)}")
    parts = [b"%x\r\n%b\r\n" % (len(x), x) for x in (first, second)] if chunked \
        else [first, second]
    if chunked:
        parts[1] += b"0\r\n\r\n"
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
                     f"{framing}\r\n\r\n".encode() + parts[0])
        await writer.drain()
        await asyncio.sleep(0.3)
        writer.write(parts[1])
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        return int(status_line.split()[1])
    finally:
        writer.close()


async def test_a_body_arriving_in_segments_is_read_whole(daemon: Daemon) -> None:
    # read(n) returns what has arrived: the job's output was cut at its first segment.
    status = await _post_in_two_segments(daemon.url, f"/ping/{FAILS}/4", b"pg_dump: error:",
                                         b" disk full on /backup")
    assert status == 200
    runtime = daemon._runtimes[HeartbeatSpec]
    assert isinstance(runtime, HeartbeatRuntime)
    detail = runtime.judge("svc-00000", "fails", 0.0).detail
    assert "pg_dump: error: disk full on /backup" in detail, detail
    assert await _post_in_two_segments(daemon.url, f"/ping/{FAILS}/5", b"chunked: ",
                                       b"read whole too", chunked=True) == 200
    assert "chunked: read whole too" in runtime.judge("svc-00000", "fails", 0.0).detail
    # And a chunked body over the cap is refused, though its first segment is under it.
    assert await _post_in_two_segments(daemon.url, f"/ping/{FAILS}/4", b"x" * 6000,
                                       b"y" * 6000, chunked=True) == 413


async def test_a_reload_forgets_removed_tokens_and_a_rejected_one_keeps_them(
        tmp_path: Path) -> None:
    config = _catalog(tmp_path / "catalog.yaml")
    running = await _daemon(config)
    try:
        base = running.url
        config.write_text("services: [oops", encoding="utf-8")
        assert not await running.reload()
        assert (await _ping(f"{base}/ping/{STUCK}"))[0] == 200  # the running catalog's
        _catalog(config, keep=("ok", "fails"))
        assert await running.reload()
        assert await _ping(f"{base}/ping/{STUCK}") == (404, "not found\n")
        assert (await _ping(f"{base}/ping/{OK}"))[0] == 200
    finally:
        await running.stop()


async def test_a_listener_of_their_own(tmp_path: Path) -> None:
    port = free_port()
    running = await _daemon(_catalog(tmp_path / "catalog.yaml"),
                            **{"heartbeat-listen": ("127.0.0.1", port)})
    try:
        assert (await _ping(f"http://127.0.0.1:{port}/ping/{OK}"))[0] == 200
        assert (await _ping(f"{running.url}/ping/{OK}"))[0] == 404  # not on the main port
        assert (await _ping(f"http://127.0.0.1:{port}/metrics"))[0] == 404
    finally:
        await running.stop()
