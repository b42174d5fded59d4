"""Compact metric families for per-probe and per-service series, and their fast exposition.

prometheus_client keeps one object graph per labelled child (a lock and a value object per
sample) and formats every sample through ``Sample`` tuples: at 10,000 services that is
~35 MB per 1,000 services and ~5 s per /metrics render. A family here keeps each labelled
series as one small list, ``[label text, value]`` (a histogram: ``[label text, counts per
bucket, sum]``), that the owner updates in place, and renders the text format by joining
precomputed label text with the values.

The same families are a prometheus_client ``Collector`` too (``collect()``), so
``generate_latest(registry)`` and ``registry.get_sample_value`` see identical samples.

Rendering comes in chunks of about a millisecond (``chunks()``) so the daemon can render
on the event loop and let probes run and time their reads in between; a render thread would
hold the GIL in 5 ms slices and delay every probe's reads for the whole render. Each family
renders from a snapshot of its rows, so a reload adding or removing rows between chunks
cannot break the iteration. A histogram's count is the sum of its bucket counts, so +Inf and
_count always agree.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def label_text(names: Sequence[str], values: Sequence[str]) -> str:
    return ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))


def _go_float(value: float) -> str:
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def _fmt(value: float) -> str:
    # repr is what Go's ParseFloat reads back exactly; only +Inf/-Inf/NaN need Go's spelling.
    return repr(float(value)) if math.isfinite(value) else _go_float(value)


class Family:
    """A counter or gauge family. ``cell(*labels)`` is the series' mutable ``[text, value]``."""

    __slots__ = ("help", "kind", "labelnames", "name", "rows", "sample")

    def __init__(self, name: str, help_text: str, kind: str, labelnames: Sequence[str]) -> None:
        self.name = name  # as prometheus_client's Metric: counters without _total
        self.sample = f"{name}_total" if kind == "counter" else name
        self.help = help_text
        self.kind = kind
        self.labelnames = tuple(labelnames)
        self.rows: dict[tuple[str, ...], list[Any]] = {}

    def cell(self, *labels: str) -> list[Any]:
        row = self.rows.get(labels)
        if row is None:
            row = self.rows[labels] = [label_text(self.labelnames, labels), 0.0]
        return row

    def remove(self, *labels: str) -> None:
        self.rows.pop(labels, None)

    def clear(self) -> None:
        self.rows = {}

    def header(self) -> str:
        help_text = self.help.replace("\\", r"\\").replace("\n", r"\n")
        return f"# HELP {self.sample} {help_text}\n# TYPE {self.sample} {self.kind}\n"

    def chunks(self) -> Iterator[str]:
        rows = list(self.rows.values())
        name = self.sample
        yield self.header()
        for at in range(0, len(rows), _ROWS_PER_CHUNK):
            yield "".join([f"{name}{{{t}}} {_fmt(v)}\n" if t else f"{name} {_fmt(v)}\n"
                           for t, v in rows[at:at + _ROWS_PER_CHUNK]])

    def metric(self) -> Metric:
        m = Metric(self.name, self.help, self.kind)
        for labels, (_, value) in list(self.rows.items()):
            m.add_sample(self.sample, dict(zip(self.labelnames, labels, strict=True)), value)
        return m


class HistogramFamily:
    """A histogram family; ``cell(*labels)`` is ``[label text, counts per bucket, sum]`` where
    ``counts`` are per bucket (not cumulative), the last one for +Inf."""

    __slots__ = ("_le", "buckets", "help", "labelnames", "name", "rows")

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str],
                 buckets: Iterable[float]) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self.buckets = (*sorted(buckets), math.inf)
        self._le = [_go_float(b) for b in self.buckets]
        self.rows: dict[tuple[str, ...], list[Any]] = {}

    def cell(self, *labels: str) -> list[Any]:
        row = self.rows.get(labels)
        if row is None:
            row = self.rows[labels] = [label_text(self.labelnames, labels),
                                       [0] * len(self.buckets), 0.0]
        return row

    def observe(self, row: list[Any], value: float) -> None:
        row[1][bisect_left(self.buckets, value)] += 1  # the first edge >= value: le semantics
        row[2] += value

    def remove(self, *labels: str) -> None:
        self.rows.pop(labels, None)

    def chunks(self) -> Iterator[str]:
        name = self.name
        help_text = self.help.replace("\\", r"\\").replace("\n", r"\n")
        yield f"# HELP {name} {help_text}\n# TYPE {name} histogram\n"
        rows = list(self.rows.values())
        step = _ROWS_PER_CHUNK // len(self.buckets)  # a row is one line per bucket, plus two
        for at in range(0, len(rows), step):
            yield "".join([self._row(*row) for row in rows[at:at + step]])

    def _row(self, text: str, counts: list[int], total: float) -> str:
        name = self.name
        prefix = f"{name}_bucket{{{text},le=" if text else f"{name}_bucket{{le="
        cumulative = 0
        lines = []
        for le, count in zip(self._le, list(counts), strict=True):
            cumulative += count
            lines.append(f'{prefix}"{le}"}} {cumulative}.0\n')
        label = f"{{{text}}}" if text else ""
        lines.append(f"{name}_count{label} {cumulative}.0\n{name}_sum{label} {_fmt(total)}\n")
        return "".join(lines)

    def metric(self) -> Metric:
        m = Metric(self.name, self.help, "histogram")
        for labels, (_, counts, total) in list(self.rows.items()):
            base = dict(zip(self.labelnames, labels, strict=True))
            cumulative = 0
            for le, count in zip(self._le, list(counts), strict=True):
                cumulative += count
                m.add_sample(f"{self.name}_bucket", {**base, "le": le}, float(cumulative))
            m.add_sample(f"{self.name}_count", base, float(cumulative))
            m.add_sample(f"{self.name}_sum", base, total)
        return m


AnyFamily = Family | HistogramFamily
# Rows (histogram: lines) rendered per chunk: about a millisecond of formatting.
_ROWS_PER_CHUNK = 2000


class Families:
    """A set of families, registered once as one prometheus_client collector."""

    def __init__(self) -> None:
        self._families: list[AnyFamily] = []

    def add(self, family: AnyFamily) -> None:
        self._families.append(family)

    def replace(self, old: AnyFamily, new: AnyFamily) -> None:
        self._families[self._families.index(old)] = new

    def describe(self) -> list[Metric]:
        # Names only, for the registry's duplicate check; no samples needed.
        return [Metric(f.name, f.help, f.kind if isinstance(f, Family) else "histogram")
                for f in self._families]

    def collect(self) -> Iterator[Metric]:
        for family in list(self._families):
            yield family.metric()

    def chunks(self) -> Iterator[str]:
        for family in list(self._families):
            yield from family.chunks()
