"""Arithmetic on time spans ``(start, end)``, end exclusive, shared by the report's outages
and coverage."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Sequence

Span = tuple[float, float]


def union(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def intersect(sets: Sequence[Sequence[Span]]) -> list[Span]:
    """The stretches inside a span of every set (each set sorted and disjoint)."""
    if not sets:
        return []
    out = list(sets[0])
    for spans in sets[1:]:
        out = [(max(a, c), min(b, d)) for a, b in out for c, d in spans
               if max(a, c) < min(b, d)]
    return out


def majority(sets: Sequence[Sequence[Span]], need: Callable[[float], int],
             changes: Iterable[float] = ()) -> list[Span]:
    """The stretches during which at least ``need(t)`` of the sets have a span at once;
    ``need`` may change only at the times in ``changes``. Spans that only touch do not
    overlap."""
    bounds = sorted({t for spans in sets for a, b in spans for t in (a, b)} | set(changes))
    out: list[Span] = []
    for x, y in itertools.pairwise(bounds):
        level = sum(1 for spans in sets if any(a <= x < b for a, b in spans))
        if level and level >= need(x):
            if out and out[-1][1] == x:
                out[-1] = (out[-1][0], y)
            else:
                out.append((x, y))
    return out


def step_function(points: Sequence[tuple[float, float]], default: float
                  ) -> Callable[[float], float]:
    """The value of the latest point at or before t (the first point's before them all;
    ``default`` with no points). ``points`` sorted by time."""
    times = [t for t, _ in points]

    def at(t: float) -> float:
        if not points:
            return default
        i = bisect.bisect_right(times, t)
        return points[i - 1][1] if i else points[0][1]

    return at


def subtract(spans: Iterable[Span], holes: Iterable[Span]) -> list[Span]:
    """What of ``spans`` lies outside every hole."""
    out: list[Span] = []
    cuts = union(holes)
    for a, b in union(spans):
        for c, d in cuts:
            if d <= a or c >= b:
                continue
            if c > a:
                out.append((a, c))
            a = max(a, d)
            if a >= b:
                break
        if a < b:
            out.append((a, b))
    return out


def length(spans: Iterable[Span]) -> float:
    return sum(b - a for a, b in union(spans))


def overlap(a: Sequence[Span], b: Sequence[Span]) -> float:
    """How long ``a`` and ``b`` are both on."""
    return length(intersect([union(a), union(b)]))
