"""The kind contract: what every probe kind registers, and what generic code may ask a spec.

A kind is a name (the catalog key), a spec model and a probe function, registered once in
``probes.KINDS``. Everything else that must know the kinds (the catalog's probe model, its
JSON Schema, the scheduler's lookup) is derived from that tuple. Facts about a kind that
generic code needs are asked of the spec through :class:`SpecBase`, so generic code never
names a kind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from aiohttp import web

from probes._deny import DeniedNetworks
from probes._run import ProbeFn
from probes._spec import StrictModel, format_duration

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class RunVariables:
    """``${name}`` references inside a kind's mapping that the kind fills at run time, so the
    catalog leaves them as written instead of reading the environment."""

    # Set by the spec itself: left as written even when the environment has them.
    names: frozenset[str]
    # Other names of this shape are left as written when the environment lacks them (and no
    # default is given): the kind's own validation reports them, once.
    pattern: str


class SpecBase(StrictModel):
    """What every kind's spec answers. The defaults fit a kind with no such facts."""

    def latency_objective(self) -> float | None:
        """The longest a run may take to count as a success, if the spec sets one."""
        raise NotImplementedError

    def time_budget(self) -> float | None:
        """Seconds a run may legitimately need that the probe timeout must exceed (e.g. a
        journey's poll deadlines), or None when the spec sets no such time of its own."""
        return None

    def time_budget_problem(self, budget: float, timeout: float) -> str:
        """The catalog error when ``budget`` (from :meth:`time_budget`) is not below
        ``timeout``."""
        return (f"the spec's own deadlines add up to {format_duration(budget)}, not below the "
                f"probe timeout {format_duration(timeout)}")

    def measures_latency(self) -> bool:
        """Whether a run's duration is the service's latency. A kind that only judges what
        it was told (a heartbeat evaluates pings it received) answers False, so its ~0 s runs
        do not flatter the latency percentile: its runs observe no duration histogram."""
        return True

    def unique_values(self) -> Iterable[tuple[str, str]]:
        """(field, value) pairs that must be unique across the whole catalog (a heartbeat's
        token: it alone says which job a ping is for). The catalog reports a repeat without
        quoting the value, which may be a secret."""
        return ()

    @classmethod
    def run_variables(cls, raw: Any) -> RunVariables | None:
        """In the raw (not yet validated, possibly malformed) mapping of this kind: the
        variables it fills at run time, or None when it fills none (the catalog interpolates
        every reference)."""
        return None


@dataclass(frozen=True)
class KindMetric:
    """A gauge a kind exports beside the common per-probe series: labelled by service, probe
    and location, then ``labels``; a run sets it through ``ProbeResult.samples``. With
    ``per_probe=False`` it is a daemon-wide series set from :meth:`KindRuntime.samples`
    (``counter`` names end in ``_total``)."""

    name: str
    help: str
    labels: tuple[str, ...] = ()
    per_probe: bool = True
    type: Literal["gauge", "counter"] = "gauge"


@dataclass(frozen=True)
class KindOption:
    """A ``dozor run`` flag a kind's runtime reads (``--<flag>``); the value reaches the
    runtime factory as ``RuntimeSettings.options[flag]`` (None when not given)."""

    flag: str
    help: str
    parse: Callable[[str], Any] = str
    # The value is a (host, port) the runtime serves its routes on instead of the daemon's
    # listener. Under ``--workers`` the supervisor listens there and forwards to the workers,
    # which serve the routes on their own listener (the option reaches them as None).
    listener: bool = False


Listen = Callable[[web.Application, str, int], Awaitable[tuple[web.AppRunner, int]]]


@dataclass(frozen=True)
class RuntimeSettings:
    """What the daemon hands a kind's runtime when it creates it."""

    # Where failed runs may leave evidence (screenshots, logs); None: nowhere.
    artifacts_dir: Path | None = None
    artifacts_keep: int = 20  # per probe
    artifacts_max_age: float = 7 * 86400.0
    options: Mapping[str, Any] = field(default_factory=dict)
    # Whether an aware instant is business time in an IANA zone (the project's calendar:
    # nights, weekends and public holidays are not). probes/ may not import monitor/, so the
    # daemon hands it over; None: every instant counts as business time.
    is_business_time: Callable[[dt.datetime, str], bool] | None = None
    # Opens a listener for a runtime's own routes with the daemon's TLS and connection limits
    # (timeouts, caps): returns its runner, to clean up, and the port it got. None: the
    # runtime may not listen (it serves through the daemon's port only).
    listen: Listen | None = None
    # Where no probe may connect (``dozor run --deny-networks``): the daemon gives the same
    # list to the HTTP session and every run's ProbeContext; a runtime that connects on its
    # own (the browser's) applies it too.
    deny: DeniedNetworks = DeniedNetworks()  # noqa: RUF009 - frozen


@dataclass(frozen=True)
class RuntimeJob:
    """One scheduled probe of a runtime's kind, as :meth:`KindRuntime.bind` gets it."""

    service: str
    probe: str
    spec: Any
    timezone: str  # the service region's IANA zone


class KindRuntime(Protocol):
    """A long-lived resource shared by every run of one kind (one browser per daemon). It
    is created at start, costs nothing until a run needs it, and is closed at shutdown."""

    def slot(self, spec: Any) -> AbstractAsyncContextManager[None]:
        """Entered by ``run_probe`` before the run's clock and timeout start: waiting for
        capacity, or for the runtime to get ready for ``spec`` (a browser launch), is not the
        service's latency. Never raises for the run's sake: a runtime that cannot get ready
        lets the run fail with its own reason."""
        ...

    def samples(self) -> Iterable[tuple[str, tuple[str, ...], float]]:
        """Current values of the kind's daemon-wide metrics: (name, label values, value)."""
        ...

    def bind(self, jobs: Sequence[RuntimeJob]) -> None:
        """The running catalog's probes of this kind, before any run and again after every
        applied catalog (a rejected reload changes nothing, so it calls nothing)."""
        ...

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        """HTTP routes the daemon serves for the kind on its own listener (TLS included, its
        basic auth not: a route authenticates its callers itself)."""
        ...

    async def start(self) -> None:
        """Called once when the daemon starts serving: a runtime with a listener of its own
        opens it here (a failure to open it stops the start)."""
        ...

    def snapshot(self) -> Any:
        """What the kind keeps across a restart, as JSON data (None: nothing)."""
        ...

    def restore(self, saved: Any) -> None:
        """Resume from a :meth:`snapshot` of an earlier process, after the first :meth:`bind`.
        Raises ValueError on data it cannot use; the daemon then warns and the kind starts
        fresh."""
        ...

    async def close(self) -> None: ...


class RuntimeBase:
    """The hooks a runtime does not need, as no-ops: a runtime subclasses this and overrides
    what its kind uses."""

    def slot(self, spec: Any) -> AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()

    def samples(self) -> Iterable[tuple[str, tuple[str, ...], float]]:
        return ()

    def bind(self, jobs: Sequence[RuntimeJob]) -> None:
        return None

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return ()

    async def start(self) -> None:
        return None

    def snapshot(self) -> Any:
        return None

    def restore(self, saved: Any) -> None:
        return None

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class Kind:
    """One probe kind: its catalog key, its spec model and the function that runs it;
    optionally the extra series it exports, and a runtime shared by its runs (with the
    ``dozor run`` flags that tune it)."""

    name: str
    spec: type[SpecBase]
    probe: ProbeFn
    metrics: tuple[KindMetric, ...] = ()
    runtime: Callable[[RuntimeSettings], KindRuntime] | None = None
    options: tuple[KindOption, ...] = ()


def check_kinds(kinds: Iterable[Kind]) -> tuple[Kind, ...]:
    """The registry, or TypeError naming what is wrong with it: a broken registration must
    fail when the catalog model is built, not when a probe first runs."""
    kinds = tuple(kinds)
    names: set[str] = set()
    specs: set[type] = set()
    for kind in kinds:
        if not isinstance(kind, Kind):
            raise TypeError(f"{kind!r} is not a probes.Kind")
        if not _NAME_RE.match(kind.name):
            raise TypeError(f"kind name {kind.name!r} is not a lower-case identifier")
        if kind.name in names:
            raise TypeError(f"kind {kind.name!r} is registered twice")
        if not (isinstance(kind.spec, type) and issubclass(kind.spec, SpecBase)):
            raise TypeError(f"kind {kind.name!r}: spec {kind.spec!r} is not a SpecBase model")
        if kind.spec in specs:
            raise TypeError(f"kind {kind.name!r}: spec {kind.spec.__name__} is registered twice")
        if kind.spec.latency_objective is SpecBase.latency_objective:
            raise TypeError(f"kind {kind.name!r}: {kind.spec.__name__} does not implement "
                            "latency_objective()")
        if not inspect.iscoroutinefunction(kind.probe):
            raise TypeError(f"kind {kind.name!r}: probe {kind.probe!r} is not an async function")
        for metric in kind.metrics:
            if not metric.name.startswith(f"dozor_{kind.name}_"):
                raise TypeError(f"kind {kind.name!r}: metric {metric.name!r} does not start "
                                f"with dozor_{kind.name}_")
        if kind.options and kind.runtime is None:
            raise TypeError(f"kind {kind.name!r} has options but no runtime to read them")
        names.add(kind.name)
        specs.add(kind.spec)
    if not kinds:
        raise TypeError("no probe kinds registered")
    return kinds
