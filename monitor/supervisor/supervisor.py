"""``dozor run --workers N``: N worker processes, one supervisor.

Each worker is a whole daemon over its rendezvous-hash share of the services (``--shard``'s
logic), so one catalog uses every core. The supervisor owns the listening port (its TLS,
basic auth and reload token), serves one merged ``/metrics`` (monitor.supervisor.merge) and
forwards the kinds' routes (monitor.supervisor.proxy); it never probes.

- **Reload** (SIGHUP, ``POST /-/reload``) is all or none: every worker loads the files and
  holds the result (*prepare*); only if every one loaded the same catalog (same fingerprint)
  are they told to apply it (*commit*), otherwise to drop it (*abort*); a worker whose apply
  fails makes the ones that applied roll back. A worker that does not answer within
  ``--worker-timeout`` fails the reload.
- **A crashed worker** is started again (``dozor_worker_restarts_total{worker}``; backoff
  from 0.5 s to 30 s while it keeps failing); its share is unprobed and absent from
  ``/metrics`` meanwhile, never reported twice. It loads the files as they are: if they have
  changed since the last reload, every worker is reloaded so they run one catalog again.
- **State**: each worker saves its share to ``STATE.worker-I`` and restores from every
  ``STATE*`` file, newest last, so a changed worker count loses no probe's state.
- **Stop** (SIGTERM, SIGINT): the listener closes, then each worker stops as a daemon does
  (in-flight probes get the grace period, state is saved). A killed supervisor's workers
  stop by themselves (their channel closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from prometheus_client import generate_latest

from monitor.runtime.daemon import DaemonOptions
from monitor.runtime.shard import Shard
from monitor.serving.app import cannot_listen, make_app
from monitor.serving.ports import Ports
from monitor.serving.security import WebSecurity
from monitor.supervisor.channel import (
    Abort,
    Commit,
    Done,
    Failed,
    Prepare,
    Prepared,
    Ready,
    RollBack,
)
from monitor.supervisor.merge import merge
from monitor.supervisor.metrics import SupervisorMetrics
from monitor.supervisor.process import Launch, WorkerGone, WorkerProcess
from monitor.supervisor.proxy import forwarder
from probes import KINDS

FIRST_BACKOFF = 0.5  # seconds before restarting a crashed worker; doubles while it fails
MAX_BACKOFF = 30.0
STABLE = 60.0  # a worker that ran this long starts again from the first backoff
SCRAPE_TIMEOUT = aiohttp.ClientTimeout(total=60)  # a worker's 45 MB at 10,000 services


class WorkersFailed(Exception):
    """The workers could not start: the catalog's errors, or why a worker died."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = tuple(errors)


@dataclass(frozen=True, slots=True)
class SupervisorOptions:
    daemon: DaemonOptions  # the daemon's options as given; each worker's are derived
    workers: int
    log_level: str = "info"
    log_json: bool | None = None
    worker_timeout: float = 60.0  # for a worker's answer to a reload
    start_timeout: float = 300.0  # for a worker to load the catalog and start


def listener_options() -> tuple[str, ...]:
    """Kind flags that name a listener of the kind's own (``KindOption.listener``)."""
    return tuple(o.flag for kind in KINDS for o in kind.options if o.listener)


class Supervisor:
    def __init__(self, options: SupervisorOptions) -> None:
        if options.daemon.shard.count != 1:
            raise ValueError("--workers splits one replica's services; it does not combine "
                             "with --shard")
        self.options = options
        self.port = options.daemon.port
        self._log = structlog.get_logger("dozor.supervisor")
        self._dir = Path(tempfile.mkdtemp(prefix="dozor-workers-"))  # 0700: sockets inside
        self._workers = [WorkerProcess(i) for i in range(options.workers)]
        self._metrics = SupervisorMetrics([w.name for w in self._workers])
        self._up, self._restarts = self._metrics.up, self._metrics.restarts
        self._committed: str | None = None  # fingerprint of the catalog the workers run
        self._reload_lock = asyncio.Lock()
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._runners: list[web.AppRunner] = []
        self.ports = Ports(options.daemon.limits, options.daemon.security.ssl_context)
        self._metrics.registry.register(self.ports)  # the workers own no port

    @property
    def workers(self) -> tuple[WorkerProcess, ...]:
        return tuple(self._workers)

    @property
    def url(self) -> str:
        scheme = "https" if self.options.daemon.security.ssl_context else "http"
        return f"{scheme}://{self.options.daemon.host}:{self.port}"

    def _launch(self, worker: WorkerProcess) -> Launch:
        base = self.options.daemon
        state = base.state_file
        restore: tuple[Path, ...] = ()
        if state is not None:
            restore = (state, *sorted(state.parent.glob(f"{state.name}.worker-*")))
        options = {flag: (None if flag in listener_options() else value)
                   for flag, value in base.runtime.options.items()}
        daemon = dataclasses.replace(
            base, shard=Shard(worker.index, self.options.workers), worker=worker.name,
            unix_socket=self._dir / f"worker-{worker.name}.sock", security=WebSecurity(),
            state_file=None if state is None else state.with_name(
                f"{state.name}.worker-{worker.name}"),
            restore_from=restore,
            runtime=dataclasses.replace(base.runtime, options=options))
        return Launch(daemon, self.options.log_level, self.options.log_json,
                      self.options.start_timeout)

    async def _spawn(self, worker: WorkerProcess) -> Ready | Failed:
        try:
            reply = await worker.spawn(self._launch(worker))
        except WorkerGone:
            await self._reap(worker)
            raise
        if isinstance(reply, Failed):
            await self._reap(worker)
        else:
            self._up.labels(worker.name).set(1)
            assert worker.process is not None
            self._log.info("worker ready", worker=worker.name, pid=worker.process.pid)
        return reply

    async def _reap(self, worker: WorkerProcess) -> None:
        """Make sure a worker that failed to start is gone, and forget it."""
        if worker.process is not None and worker.process.returncode is None:
            try:
                await asyncio.wait_for(worker.wait(), timeout=5.0)
            except TimeoutError:
                worker.signal(signal.SIGKILL)
                await worker.wait()
        await worker.closed()

    async def start(self) -> None:
        """Start every worker, then listen. Raises ``WorkersFailed`` if any cannot start."""
        replies = await asyncio.gather(*(self._spawn(w) for w in self._workers),
                                       return_exceptions=True)
        errors: list[str] = []
        for reply in replies:
            if isinstance(reply, Failed):
                errors = list(reply.errors)  # every worker read the same files: one list
                break
            if isinstance(reply, BaseException):
                errors.append(f"a worker could not start: {reply}")
        if errors:
            await self._stop_workers()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise WorkersFailed(errors)
        fingerprints = {w.fingerprint for w in self._workers}
        self._committed = self._workers[0].fingerprint
        for worker in self._workers:
            self._background(self._watch(worker))
        if len(fingerprints) > 1:  # the files changed while the workers read them
            self._background(self._reload_quietly())
        try:
            await self._listen()
        except OSError as exc:  # the port taken, an address not on this machine
            await self.stop()
            daemon = self.options.daemon
            raise WorkersFailed([cannot_listen(daemon.host, daemon.port, exc)]) from exc
        self._log.info("dozor started", url=self.url, workers=len(self._workers),
                       location=self.options.daemon.location,
                       denied_networks=[str(n) for n in self.options.daemon.runtime.deny.networks])

    async def _listen(self) -> None:
        security = self.options.daemon.security
        own = [flag for flag in listener_options()
               if self.options.daemon.runtime.options.get(flag) is not None]
        # With a kind's own listener, its routes are served there only, as by one process.
        # (Which routes are whose is the kinds' knowledge; with one routed kind, the heartbeat,
        # "any own listener" is exact.)
        forward = [] if own else [web.route("*", "/{tail:.*}", forwarder(lambda: self._workers))]
        app = make_app(self._stream, self.reload, security, forward)
        runner, site = await self.ports.open(app, self.options.daemon.host,
                                             self.options.daemon.port)
        self._runners.append(runner)
        self.port = site.port
        # A kind's own listener (--heartbeat-listen): here, forwarding its routes only.
        for flag in own:
            address = self.options.daemon.runtime.options[flag]
            app_own = web.Application(client_max_size=1024)
            app_own.router.add_route("*", "/{tail:.*}", forwarder(lambda: self._workers))
            host, port = address
            own_runner, _ = await self.ports.open(app_own, host, port)
            self._runners.append(own_runner)
            self._log.info("listener for a kind's routes started", option=flag, host=host,
                           port=port)

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self, worker: WorkerProcess) -> None:
        """Start the worker again whenever it exits on its own."""
        backoff = FIRST_BACKOFF
        while True:
            started = time.monotonic()
            code = await worker.wait()
            await worker.closed()
            self._up.labels(worker.name).set(0)
            if self._stopping:
                return
            if time.monotonic() - started > STABLE:
                backoff = FIRST_BACKOFF
            self._log.error("worker exited; starting it again", worker=worker.name,
                            exit_code=code, after=backoff)
            while not self._stopping:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                if self._stopping:
                    return
                self._restarts.labels(worker.name).inc()
                try:
                    reply = await self._spawn(worker)
                except WorkerGone as exc:
                    self._log.error("worker could not start again", worker=worker.name,
                                    error=str(exc))
                    continue
                if isinstance(reply, Failed):
                    self._log.error("worker cannot start: the catalog files have errors",
                                    worker=worker.name, errors=list(reply.errors))
                    continue
                if reply.fingerprint != self._committed:
                    self._log.warning("the catalog files changed since the last reload: "
                                      "reloading every worker", worker=worker.name)
                    self._background(self._reload_quietly())
                break

    async def _reload_quietly(self) -> None:
        await self.reload()

    async def reload(self) -> bool:
        """Every worker applies the catalog the files hold now, or none does. Never raises."""
        async with self._reload_lock:
            live = [w for w in self._workers if w.ready]
            if not live:  # all restarting: each loads the files as it starts
                self._log.error("reload rejected: no worker is running")
                return False
            timeout = self.options.worker_timeout
            answers = await asyncio.gather(*(w.ask(Prepare(), timeout) for w in live),
                                           return_exceptions=True)
            problem = self._refused(live, answers)
            if problem is not None:
                await self._tell_all(live, Abort())
                self._log.error("reload rejected; every worker keeps the running catalog",
                                errors=problem)
                return False
            done = await asyncio.gather(*(w.ask(Commit(), timeout) for w in live),
                                        return_exceptions=True)
            applied = [w for w, d in zip(live, done, strict=True)
                       if isinstance(d, Done) and d.ok]
            if len(applied) < len(live):
                await self._tell_all(applied, RollBack())
                self._log.error("reload failed in a worker; the others rolled back",
                                failed=[w.name for w in live if w not in applied])
                return False
            first = answers[0]
            if isinstance(first, Prepared):
                self._committed = first.fingerprint
            self._log.info("catalog reloaded by every worker", workers=len(live))
            return True

    @staticmethod
    def _refused(live: Sequence[WorkerProcess], answers: Sequence[object]
                 ) -> list[str] | None:
        """Why the prepared catalogs may not be applied, or None if they may."""
        fingerprints: set[str] = set()
        for worker, answer in zip(live, answers, strict=True):
            if isinstance(answer, BaseException):
                return [f"worker {worker.name}: {answer}"]
            if not isinstance(answer, Prepared) or answer.fingerprint is None:
                return list(answer.errors) if isinstance(answer, Prepared) else [
                    f"worker {worker.name} answered {type(answer).__name__}"]
            fingerprints.add(answer.fingerprint)
        if len(fingerprints) > 1:
            return ["the catalog files changed while the workers read them; try again"]
        return None

    async def _tell_all(self, workers: Sequence[WorkerProcess], message: object) -> None:
        """Best effort: a worker that cannot be told is dropping or restarting anyway."""
        await asyncio.gather(*(w.ask(message, self.options.worker_timeout) for w in workers),
                             return_exceptions=True)

    async def _body(self, worker: WorkerProcess) -> str:
        if worker.http is None:
            return ""  # down or starting: its share is absent, never stale or doubled
        try:
            return await worker.scrape(SCRAPE_TIMEOUT)
        except WorkerGone as exc:
            # Killed or dropped mid-answer: its share is missing from this scrape too.
            self._log.warning("worker's metrics unavailable", worker=worker.name,
                              error=str(exc))
            return ""

    async def _stream(self) -> AsyncIterator[bytes]:
        bodies = await asyncio.gather(*(self._body(w) for w in self._workers))
        yield generate_latest(self._metrics.registry)
        for family in merge(bodies):
            yield family.encode()
            await asyncio.sleep(0)

    async def _stop_workers(self) -> None:
        for worker in self._workers:
            worker.signal(signal.SIGTERM)
        deadline = self.options.daemon.grace + 10.0  # their in-flight probes, then saving
        for worker in self._workers:
            if worker.process is None:
                continue
            try:
                await asyncio.wait_for(worker.wait(), timeout=deadline)
            except TimeoutError:
                self._log.error("worker did not stop; killing it", worker=worker.name)
                worker.signal(signal.SIGKILL)
                await worker.wait()
            await worker.closed()

    async def stop(self) -> None:
        self._stopping = True
        for runner in self._runners:
            await runner.cleanup()
        await self._stop_workers()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        shutil.rmtree(self._dir, ignore_errors=True)
        self._log.info("dozor stopped", workers=len(self._workers))

    async def serve_until_signalled(self) -> None:
        """SIGHUP reloads every worker; SIGTERM/SIGINT stop them."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGHUP, lambda: self._background(self._reload_quietly()))
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        try:
            await stop.wait()
            self._log.info("stopping", grace=self.options.daemon.grace)
        finally:
            for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        await self.stop()
