"""The running daemon: catalog -> scheduler -> metrics, served over HTTP, reloadable.

Lifecycle: ``start()`` loads the catalog (an invalid one raises ``CatalogError``; nothing
starts), ``reload()`` applies a new catalog as a diff or keeps the running one, ``stop()``
stops scheduling and lets in-flight probes finish within the grace period.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import gc
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import structlog
from aiohttp import web

from monitor.catalog import Catalog, CatalogError, load_catalog
from monitor.listener import ConnectionLimits
from monitor.localtime.hours import BUSINESS, hours_label
from monitor.localtime.maintenance import maintenance_now
from monitor.runtime.plan import JobSpec, plan_jobs
from monitor.runtime.scheduler import ProbeScheduler
from monitor.runtime.shard import Shard
from monitor.runtime.state import StateFileError, load_kinds, load_state, save_state
from monitor.serving.app import make_app
from monitor.serving.metrics import Metrics, duration_buckets
from monitor.serving.ports import Ports
from monitor.serving.security import WebSecurity
from probes import KINDS, KindRuntime, RuntimeJob, RuntimeSettings, new_http_session

MAINTENANCE_REFRESH = 15.0  # seconds; windows are minutes long, probes run every ~minute
STATE_SAVE_INTERVAL = 10.0  # seconds of confirmation state a crash can lose at most


def _is_business_time(at: dt.datetime, timezone: str) -> bool:
    return hours_label(at, timezone) == BUSINESS


def dozor_version() -> str:
    try:
        return version("dozor")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    config: Path
    host: str = "127.0.0.1"
    port: int = 9247
    location: str = "local"
    env: Mapping[str, str] | None = None  # for ${VAR} in the catalog; None means os.environ
    grace: float = 10.0  # how long in-flight probes may finish on shutdown
    max_concurrency: int = 1000
    shard: Shard = Shard(0, 1)  # noqa: RUF009 - frozen, safe to share
    state_file: Path | None = None  # last successes and confirmation state across restarts
    security: WebSecurity = WebSecurity()  # noqa: RUF009 - frozen; TLS/basic auth/reload token
    # Every TCP listener's timeouts and connection caps (monitor.listener).
    limits: ConnectionLimits = ConnectionLimits()  # noqa: RUF009 - frozen
    # Kinds' runtimes (the browser): failure artifacts and the kinds' own flags.
    runtime: RuntimeSettings = RuntimeSettings()  # noqa: RUF009 - frozen
    # A worker under ``dozor run --workers`` (monitor.supervisor): its name labels its
    # daemon-wide series, it listens on a private Unix socket instead of host:port, trusts
    # the supervisor's client-address header, and restores from every worker's state file.
    worker: str = ""
    unix_socket: Path | None = None
    restore_from: tuple[Path, ...] = ()  # default: the state file alone


class Daemon:
    def __init__(self, options: DaemonOptions) -> None:
        self.options = options
        self.catalog: Catalog | None = None
        self._log = structlog.get_logger("dozor")
        self._reload_lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self.port = options.port
        self.ports = Ports(options.limits, options.security.ssl_context)
        self._in_maintenance: set[str] = set()
        self.user_agent = f"Dozor/{dozor_version()} (+24/7 e-service monitor)"
        self.metrics = Metrics(options.location, dozor_version(), shard=str(options.shard),
                               worker=options.worker)
        if options.unix_socket is None:  # a worker owns no port: its supervisor does
            self.metrics.add_ports(self.ports)
        # --deny-networks: the session's connector and every run's context get the one list.
        deny = options.runtime.deny
        self._http = new_http_session(user_agent=self.user_agent, deny=deny)
        # One runtime per kind that has one; each launches nothing until a run needs it.
        # Besides the flags, a runtime gets the business calendar (probes/ may not import
        # monitor/) and a way to open a listener of its own, guarded as the daemon's port is.
        settings = dataclasses.replace(options.runtime, is_business_time=_is_business_time,
                                       listen=self.listen)
        self._runtimes: dict[type, KindRuntime] = {}
        self._runtime_kinds: dict[str, KindRuntime] = {}
        for kind in KINDS:
            if kind.runtime is not None:
                runtime = self._runtimes[kind.spec] = kind.runtime(settings)
                self._runtime_kinds[kind.name] = runtime
                self.metrics.add_runtime(kind.name, runtime)
        self.scheduler = ProbeScheduler(self.metrics, self._http, self.user_agent,
                                        options.location, options.max_concurrency,
                                        self._runtimes, deny)

    @property
    def secrets(self) -> frozenset[str]:
        """Values from ${ENV}/${file:...} in the running catalog, for log redaction."""
        return self.catalog.secrets if self.catalog is not None else frozenset()

    @property
    def url(self) -> str:
        if self.options.unix_socket is not None:
            return f"unix:{self.options.unix_socket}"
        scheme = "https" if self.options.security.ssl_context else "http"
        return f"{scheme}://{self.options.host}:{self.port}"

    async def start(self, catalog: Catalog | None = None) -> None:
        """Start with ``catalog``, or the one loaded from the options' path."""
        if catalog is None:
            catalog = load_catalog(self.options.config, env=self.options.env)
        self._apply(catalog)
        self.metrics.reload_result(True)
        self._restore_state()
        self._restore_kinds()
        self.scheduler.every(MAINTENANCE_REFRESH, self._refresh_maintenance, "maintenance")
        if self.options.state_file is not None:
            self.scheduler.every(STATE_SAVE_INTERVAL, self._save_state, "save-state")
        self.scheduler.start()
        for runtime in self._runtimes.values():
            await runtime.start()
        routes = [route for runtime in self._runtimes.values() for route in runtime.routes()]
        app = make_app(self.metrics.stream, self.reload, self.options.security, routes,
                       behind_supervisor=bool(self.options.worker))
        if self.options.unix_socket is not None:  # a worker's: only its supervisor connects
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.UnixSite(self._runner, str(self.options.unix_socket)).start()
        else:
            self._runner, self.port = await self.listen(app, self.options.host,
                                                        self.options.port)
        self._log.info("dozor started", url=self.url, location=self.options.location,
                       services=len(catalog.services), probes=len(self.scheduler.jobs),
                       denied_networks=[str(n) for n in self.options.runtime.deny.networks])

    async def listen(self, app: web.Application, host: str, port: int
                     ) -> tuple[web.AppRunner, int]:
        """Serve ``app`` on host:port with the daemon's TLS and connection limits."""
        runner, site = await self.ports.open(app, host, port)
        return runner, site.port

    def _apply(self, catalog: Catalog, event: str = "catalog applied") -> None:
        catalog = self.options.shard.select(catalog)
        if self.metrics.use_buckets(duration_buckets(catalog)):
            self._log.info("duration buckets changed for new latency objectives")
        self.metrics.describe_catalog(catalog)
        plan = plan_jobs(catalog)
        diff = self.scheduler.apply(plan)
        self._bind_runtimes(plan)
        self.catalog = catalog
        self._refresh_maintenance()
        # The catalog, jobs and metric children live as long as the process: move them out of
        # the collector's sight so full collections do not pause probes at 10,000 services.
        gc.collect()
        gc.freeze()
        self._log.info(event, added=len(diff.added), removed=len(diff.removed),
                       rescheduled=len(diff.rescheduled), updated=len(diff.updated),
                       unchanged=diff.unchanged)

    def _bind_runtimes(self, plan: Mapping[str, JobSpec]) -> None:
        """Tell each runtime the running catalog's probes of its kind (a heartbeat's tokens),
        before any of their runs."""
        for spec_type, runtime in self._runtimes.items():
            runtime.bind([RuntimeJob(job.service, job.probe, job.spec, job.timezone)
                          for job in plan.values() if type(job.spec) is spec_type])

    def _refresh_maintenance(self) -> None:
        """Export which services are in *announced* maintenance now (the only kind the policy
        may excuse; DESIGN's dozor_maintenance_active); log every window's start and end."""
        if self.catalog is None:
            return
        now = dt.datetime.now(dt.UTC)
        active = maintenance_now(self.catalog, now)
        for service in self.catalog.services:
            on = service.id in active
            self.metrics.set_maintenance(service.id, on and active[service.id].announced)
            if on != (service.id in self._in_maintenance):
                window = active.get(service.id)
                self._log.info("maintenance started" if on else "maintenance ended",
                               service=service.id,
                               reason=window.reason if window else "",
                               announced=window.announced if window else None)
        self._in_maintenance = set(active)

    async def reload(self) -> bool:
        """Re-read the catalog; on any error keep the running one. Returns success and never
        raises: SIGHUP and ``POST /-/reload`` both come here."""
        async with self._reload_lock:
            try:
                catalog = await self.load()
            except CatalogError as exc:
                self.reload_rejected(exc)
                return False
            except Exception as exc:  # a bug: still a failed reload
                return self._reload_failed(exc)
            return self.commit(catalog)

    async def load(self) -> Catalog:
        """The catalog as its files say now; raises ``CatalogError``. Nothing is applied."""
        # Loading reads files and globs: keep that off the event loop.
        return await asyncio.to_thread(load_catalog, self.options.config, self.options.env)

    def reload_rejected(self, exc: CatalogError) -> None:
        self.metrics.reload_result(False)
        self._log.error("reload rejected; running catalog kept",
                        errors=[str(i) for i in exc.issues])

    def commit(self, catalog: Catalog, event: str = "catalog applied") -> bool:
        """Apply a loaded catalog as a diff; if that fails part way, the running one is
        re-applied. Returns success."""
        running = self.catalog
        try:
            self._apply(catalog, event)
        except Exception as exc:  # a bug: still a failed reload
            self._roll_back(running)
            return self._reload_failed(exc)
        self.metrics.reload_result(True)
        return True

    def _reload_failed(self, exc: Exception) -> bool:
        self.metrics.reload_result(False)
        self._log.error("reload failed; running catalog kept",
                        error=f"{type(exc).__name__}: {exc}", exc_info=exc)
        return False

    def _roll_back(self, running: Catalog | None) -> None:
        """Re-apply the running catalog after applying a new one failed part way: the jobs,
        buckets and info metrics it may have changed match the running catalog again."""
        if running is None:
            return
        try:
            self._apply(running, "running catalog restored")
        except Exception as exc:  # nothing more to fall back to
            self._log.error("rolling back to the running catalog failed",
                            error=f"{type(exc).__name__}: {exc}", exc_info=exc)

    def _state_files(self) -> list[Path]:
        """The files to restore from, oldest first, so the newest saved value of a probe
        wins (workers: every worker's file, so a changed worker count loses nothing)."""
        if self.options.restore_from:
            found = [p for p in self.options.restore_from if p.exists()]
            return sorted(found, key=lambda p: p.stat().st_mtime)
        return [] if self.options.state_file is None else [self.options.state_file]

    def _restore_state(self) -> None:
        for path in self._state_files():
            try:
                saved = load_state(path)
            except StateFileError as exc:
                self._log.warning("state file unusable; starting fresh", error=str(exc))
                continue
            restored = self.scheduler.restore(saved)
            self._log.info("state restored", probes=restored, path=str(path))

    def _restore_kinds(self) -> None:
        for path in self._state_files():
            self._restore_kinds_from(path)

    def _restore_kinds_from(self, path: Path) -> None:
        """Each runtime's own saved part; one it cannot use starts that kind fresh."""
        try:
            saved = load_kinds(path)
        except StateFileError as exc:
            self._log.warning("state file unusable; kinds start fresh", error=str(exc))
            return
        for name, runtime in self._runtime_kinds.items():
            if saved.get(name) is None:
                continue
            try:
                runtime.restore(saved[name])
            except ValueError as exc:
                self._log.warning("saved kind state unusable; starting it fresh", kind=name,
                                  error=str(exc))

    async def _save_state(self) -> None:
        path = self.options.state_file
        if path is None:
            return
        snapshot = self.scheduler.snapshot()  # on the loop: consistent, cheap
        kinds = {name: runtime.snapshot() for name, runtime in self._runtime_kinds.items()}
        kinds = {name: saved for name, saved in kinds.items() if saved is not None}
        try:
            await asyncio.to_thread(save_state, path, snapshot, time.time(), kinds)
        except OSError as exc:
            self._log.error("cannot save state", path=str(path), error=str(exc))

    async def stop(self) -> None:
        cancelled = await self.scheduler.stop(self.options.grace)
        if self._runner is not None:
            await self._runner.cleanup()
        await self._http.close()
        for runtime in self._runtimes.values():
            await runtime.close()
        # Last, once nothing is listening: a ping answered "OK" is in the saved state.
        await self._save_state()
        self._log.info("dozor stopped", cancelled_probes=cancelled)

    async def serve_until_signalled(self) -> None:
        """SIGHUP reloads; SIGTERM/SIGINT stop gracefully."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        background: set[asyncio.Task[bool]] = set()

        def hup() -> None:
            task = loop.create_task(self.reload())
            background.add(task)
            task.add_done_callback(background.discard)

        loop.add_signal_handler(signal.SIGHUP, hup)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        try:
            await stop.wait()
            self._log.info("stopping", grace=self.options.grace)
        finally:
            for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        await self.stop()
