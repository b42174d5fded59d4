"""The kind contract: what every probe kind registers, and what generic code may ask a spec.

A kind is a name (the catalog key), a spec model and a probe function, registered once in
``probes.KINDS``. Everything else that must know the kinds (the catalog's probe model, its
JSON Schema, the scheduler's lookup) is derived from that tuple. Facts about a kind that
generic code needs are asked of the spec through :class:`SpecBase`, so generic code never
names a kind.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

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

    @classmethod
    def run_variables(cls, raw: Any) -> RunVariables | None:
        """In the raw (not yet validated, possibly malformed) mapping of this kind: the
        variables it fills at run time, or None when it fills none (the catalog interpolates
        every reference)."""
        return None


@dataclass(frozen=True)
class Kind:
    """One probe kind: its catalog key, its spec model and the function that runs it."""

    name: str
    spec: type[SpecBase]
    probe: ProbeFn


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
        names.add(kind.name)
        specs.add(kind.spec)
    if not kinds:
        raise TypeError("no probe kinds registered")
    return kinds
