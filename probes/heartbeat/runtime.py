"""The heartbeat kind's runtime: the pings received, the endpoint receiving them and the
verdict of each run. By default the daemon serves the endpoint on its own listener (its TLS,
not its basic auth: the token is the credential); ``--heartbeat-listen HOST:PORT`` serves it
on a listener of its own instead."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import structlog
from aiohttp import web

from probes._kind import RuntimeBase, RuntimeJob, RuntimeSettings
from probes._result import ProbeResult
from probes.heartbeat.endpoint import PingEndpoint
from probes.heartbeat.expectation import always_business, evaluate
from probes.heartbeat.store import JobStore

LISTEN_OPTION = "heartbeat-listen"


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, e.g. 0.0.0.0:9249, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class HeartbeatRuntime(RuntimeBase):
    def __init__(self, settings: RuntimeSettings) -> None:
        self.store = JobStore()
        self.endpoint = PingEndpoint(self.store)
        self._is_business = settings.is_business_time or always_business
        self._listen: tuple[str, int] | None = settings.options.get(LISTEN_OPTION)
        self._serve = settings.listen
        self._runner: web.AppRunner | None = None
        self.port: int | None = None  # of the own listener, once open
        self._log = structlog.get_logger("dozor.heartbeat")

    def bind(self, jobs: Sequence[RuntimeJob]) -> None:
        self.store.bind(jobs, time.time())
        self.endpoint.forget_removed()

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return () if self._listen is not None else self.endpoint.routes()

    async def start(self) -> None:
        if self._listen is None:
            return
        if self._serve is None:
            raise RuntimeError(f"--{LISTEN_OPTION} needs the daemon's listener factory")
        app = web.Application(client_max_size=1024)
        app.router.add_routes(self.endpoint.routes())
        host, port = self._listen
        self._runner, self.port = await self._serve(app, host, port)
        self._log.info("heartbeat listener started", host=host, port=self.port)

    def judge(self, service: str, probe: str, now: float) -> ProbeResult:
        key = (service, probe)
        bound, record = self.store.bound(key), self.store.records.get(key)
        if bound is None or record is None:  # not in the running catalog: cannot happen
            raise LookupError(f"heartbeat {service}/{probe} is not bound")
        verdict = evaluate(bound.spec, record, now, bound.timezone, self._is_business)
        samples: list[tuple[str, tuple[str, ...], float]] = [
            ("dozor_heartbeat_runs_open", (), float(len(record.open_runs)))]
        if record.last_ping is not None:
            samples.append(("dozor_heartbeat_last_ping_timestamp_seconds", (), record.last_ping))
        if record.duration is not None:
            samples.append(("dozor_heartbeat_job_duration_seconds", (), record.duration))
        if record.exit_code is not None:
            samples.append(("dozor_heartbeat_last_exit_code", (), float(record.exit_code)))
        return ProbeResult(verdict.success, verdict.reason, verdict.detail,
                           samples=tuple(samples))

    def samples(self) -> Iterable[tuple[str, tuple[str, ...], float]]:
        for outcome, count in self.endpoint.outcomes.items():
            yield "dozor_heartbeat_pings_total", (outcome,), float(count)

    def snapshot(self) -> Any:
        return self.store.snapshot()

    def restore(self, saved: Any) -> None:
        restored = self.store.restore(saved, time.time() + 60.0)  # a little clock slack
        self._log.info("heartbeat state restored", jobs=restored)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
