"""A real alerting stack for tests: Prometheus and Alertmanager from the Debian packages on
free 127.0.0.1 ports with temporary storage, and a webhook sink that records deliveries.

Every process is started in an async context manager that kills it on exit, whatever
happened; readiness waits and polls are bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import yaml
from aiohttp import web

from harness.tools import require

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Delivery:
    at: float  # time.monotonic() on arrival
    path: str
    payload: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.payload.get("status"))

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self.payload.get("alerts", [])
        return alerts


@dataclass
class WebhookSink:
    """Records every Alertmanager webhook POST; any path is accepted."""

    deliveries: list[Delivery] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        payload = json.loads(await request.read())
        self.deliveries.append(Delivery(time.monotonic(), request.path, payload))
        return web.Response(text="ok")

    def at(self, path: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.path == path]


@contextlib.asynccontextmanager
async def webhook_sink() -> AsyncIterator[WebhookSink]:
    sink = WebhookSink()
    app = web.Application()
    app.router.add_post("/{tail:.*}", sink._handle)
    sink._runner = web.AppRunner(app, access_log=None)
    await sink._runner.setup()
    await web.TCPSite(sink._runner, "127.0.0.1", 0).start()
    sink.url = f"http://127.0.0.1:{sink._runner.addresses[0][1]}"
    try:
        yield sink
    finally:
        await sink._runner.cleanup()


@contextlib.asynccontextmanager
async def recording_target() -> AsyncIterator[tuple[str, dict[str, list[float]]]]:
    """A 127.0.0.1 target answering every GET 200 and recording when each path was requested
    (tests name the path after the probing service): who probed, when, how often."""
    seen: dict[str, list[float]] = defaultdict(list)  # an unprobed path reads as no runs

    async def handle(request: web.Request) -> web.Response:
        seen[request.path.lstrip("/")].append(time.time())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    async with serving(app, backlog=2048) as url:
        yield url, seen


@contextlib.asynccontextmanager
async def serving(app: web.Application, backlog: int = 128) -> AsyncIterator[str]:
    """``app`` on a free 127.0.0.1 port for the block; its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, backlog=backlog).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def poll(check: Callable[[], Awaitable[T | None]], timeout: float, what: str,
               every: float = 0.2) -> T:
    """Call ``check`` until it returns something other than None; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(every)


async def until(cond: Callable[[], bool], timeout: float = 8.0, what: str = "condition") -> None:
    """``poll`` for a plain condition on in-process state (a daemon's, a target's)."""
    async def check() -> bool | None:
        return True if cond() else None

    await poll(check, timeout, what, every=0.05)


@dataclass
class Process:
    name: str
    url: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


async def answers_200(url: str) -> bool | None:
    """True if ``GET url`` answers 200 within 2 s; None otherwise, refused included (a
    ``poll`` check for a process coming up)."""
    try:
        async with aiohttp.ClientSession() as s, s.get(
                url, timeout=aiohttp.ClientTimeout(total=2)) as r:
            return True if r.status == 200 else None
    except aiohttp.ClientError:
        return None


async def _ready(proc: Process, timeout: float = 20.0) -> None:
    async def check() -> bool | None:
        if proc.popen.poll() is not None:
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}:\n"
                                 f"{proc.output()}")
        return await answers_200(f"{proc.url}/-/ready")

    await poll(check, timeout, f"{proc.name} at {proc.url} to be ready")


def spawn(argv: list[str], log: Path,
          env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``argv`` in the background, its stdout and stderr to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)


def stop_process(popen: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    popen.terminate()
    try:
        popen.wait(timeout=10)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(timeout=10)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def _running(name: str, argv: list[str], url: str, log: Path) -> AsyncIterator[Process]:
    popen = spawn(argv, log)
    proc = Process(name, url, popen, log)
    try:
        await _ready(proc)
        yield proc
    finally:
        stop_process(popen)


@contextlib.asynccontextmanager
async def alertmanager(workdir: Path, config: str) -> AsyncIterator[Process]:
    """Alertmanager with clustering off (empty --cluster.listen-address)."""
    config_file = _write(workdir / "alertmanager.yml", config)
    port = free_port()
    argv = [require("prometheus-alertmanager"),
            f"--config.file={config_file}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=debug"]
    async with _running("alertmanager", argv, f"http://127.0.0.1:{port}",
                        workdir / "alertmanager.log") as proc:
        yield proc


@contextlib.asynccontextmanager
async def prometheus(workdir: Path, *, scrape: str | Sequence[str], rule_files: list[Path],
                     alertmanager_url: str | None, interval: str = "1s") -> AsyncIterator[Process]:
    """Prometheus scraping ``scrape`` (HOST:PORT, or several: one job, one target each) and
    evaluating ``rule_files`` every ``interval``, sending alerts to ``alertmanager_url``."""
    targets = [scrape] if isinstance(scrape, str) else list(scrape)
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval,
                   "scrape_timeout": interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": "dozor", "static_configs": [{"targets": targets}]}],
    }
    if alertmanager_url is not None:
        config["alerting"] = {"alertmanagers": [{"static_configs": [
            {"targets": [alertmanager_url.removeprefix("http://")]}]}]}
    config_file = _write(workdir / "prometheus.yml", yaml.safe_dump(config))
    port = free_port()
    argv = [require("prometheus"),
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}"]
    async with _running("prometheus", argv, f"http://127.0.0.1:{port}",
                        workdir / "prometheus.log") as proc:
        yield proc


def shortened_rules(rules: str, interval: float, for_: float | None = None) -> str:
    """A generated rule file with every group evaluated each ``interval`` seconds and, if
    ``for_`` is given, every alerting rule's ``for:`` set to it, so a test takes seconds, not
    minutes; expressions, labels and routing stay the generated ones."""
    doc = yaml.safe_load(rules)
    for group in doc["groups"]:
        group["interval"] = f"{interval:g}s"
        for rule in group["rules"]:
            if for_ is not None and "alert" in rule and "for" in rule:
                rule["for"] = f"{for_:g}s"
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as s, s.get(
            url, timeout=aiohttp.ClientTimeout(total=5)) as r:
        r.raise_for_status()
        return await r.json()


async def query(prom_url: str, expr: str) -> list[dict[str, Any]]:
    """The result of the instant query ``expr`` at Prometheus ``prom_url``, which must
    succeed: ``value`` per series, or ``values`` (raw samples) for a range selector."""
    found = await get_json(f"{prom_url}/api/v1/query?" + urlencode({"query": expr}))
    assert found["status"] == "success", (expr, found)
    result: list[dict[str, Any]] = found["data"]["result"]
    return result


async def post_json(url: str, body: Any) -> None:
    async with aiohttp.ClientSession() as s, s.post(
            url, json=body, timeout=aiohttp.ClientTimeout(total=5)) as r:
        r.raise_for_status()
