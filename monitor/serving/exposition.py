"""Compact metric families for per-probe and per-service series, and their fast exposition.

prometheus_client keeps one object graph per labelled child (a lock and a value object per
sample) and formats every sample through ``Sample`` tuples: at 10,000 services that is
~35 MB per 1,000 services and ~5 s per /metrics render. Here:

- per-probe families (``ProbeTable``): every probe has one flat list of values, one column
  per series of every family (counts, gauges, histogram buckets), and one label string;
  the probe's ``ProbeSeries`` updates its list in place by column index;
- other labelled families (``Family``, per service): one ``[label text, value]`` per series.

Both render the text format by joining precomputed label text with the values.

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


def _header(name: str, help_text: str, kind: str) -> str:
    escaped = help_text.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {escaped}\n# TYPE {name} {kind}\n"


def _fmt(value: float) -> str:
    # repr is what Go's ParseFloat reads back exactly; only +Inf/-Inf/NaN need Go's spelling.
    return repr(float(value)) if math.isfinite(value) else _go_float(value)


def _family_name(name: str, kind: str) -> str:
    """As prometheus_client's Metric names it: a counter without ``_total``. A counter may be
    declared by its exported name (``monitor.metric_names``), as prometheus_client's Counter
    allows too."""
    return name.removesuffix("_total") if kind == "counter" else name


class Family:
    """A counter or gauge family. ``cell(*labels)`` is the series' mutable ``[text, value]``."""

    __slots__ = ("help", "kind", "labelnames", "name", "rows", "sample")

    def __init__(self, name: str, help_text: str, kind: str, labelnames: Sequence[str]) -> None:
        self.name = _family_name(name, kind)
        self.sample = f"{self.name}_total" if kind == "counter" else name
        self.help = help_text
        self.kind = kind
        self.labelnames = tuple(labelnames)
        self.rows: dict[tuple[str, ...], list[Any]] = {}

    def cell(self, *labels: str) -> list[Any]:
        row = self.rows.get(labels)
        if row is None:
            row = self.rows[labels] = [label_text(self.labelnames, labels), 0.0]
        return row

    def put(self, labels: tuple[str, ...], text: str, value: float) -> None:
        """A row with its label tuple and text given: shared with other families' rows of the
        same labels, such as a service's objectives."""
        self.rows[labels] = [text, value]

    def remove(self, *labels: str) -> None:
        self.rows.pop(labels, None)

    def clear(self) -> None:
        self.rows = {}

    def header(self) -> str:
        return _header(self.sample, self.help, self.kind)

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


class ProbeTable:
    """Per-probe families as columns of one value list per probe (``None``: series absent).

    Columns are allocated as families are declared; the duration histogram's come last so
    new bucket edges (``swap_histogram``) only resize the tail of every row."""

    def __init__(self, labelnames: Sequence[str]) -> None:
        self.labelnames = tuple(labelnames)
        self.rows: dict[tuple[str, ...], tuple[str, list[Any]]] = {}
        self.defaults: list[Any] = []

    def columns(self, name: str, help_text: str, kind: str, extra: Sequence[str] = (),
                values: Sequence[tuple[str, ...]] = ((),), absent: bool = False) -> Columns:
        """A counter or gauge family with one series per probe and per ``values`` of the
        ``extra`` labels; ``absent``: series appear only once set."""
        family = Columns(self, name, help_text, kind, tuple(extra), tuple(values),
                         len(self.defaults))
        self.defaults += [None if absent else 0.0] * len(family.tails)
        return family

    def histogram(self, name: str, help_text: str, buckets: Iterable[float]
                  ) -> HistogramColumns:
        family = HistogramColumns(self, name, help_text, buckets, len(self.defaults))
        self.defaults += [0] * len(family.buckets) + [0.0]
        return family

    def swap_histogram(self, old: HistogramColumns, buckets: Iterable[float]
                       ) -> HistogramColumns:
        """New bucket edges: counts restart (a counter reset to Prometheus)."""
        del self.defaults[old.first:]
        new = self.histogram(old.name, old.help, buckets)
        fresh = self.defaults[old.first:]
        for _, values in list(self.rows.values()):
            values[old.first:] = fresh
        old.successor = new  # a render still holding ``old`` renders the rows with ``new``
        return new

    def row(self, labels: tuple[str, ...]) -> list[Any]:
        found = self.rows.get(labels)
        if found is None:
            found = self.rows[labels] = (label_text(self.labelnames, labels), list(self.defaults))
        return found[1]

    def remove(self, labels: tuple[str, ...]) -> None:
        self.rows.pop(labels, None)


class Columns:
    """A counter or gauge family read from a ``ProbeTable``; ``col(*extra)`` is a series'
    index in every probe's value list."""

    __slots__ = ("extra", "first", "help", "kind", "name", "sample", "table", "tails", "values")

    def __init__(self, table: ProbeTable, name: str, help_text: str, kind: str,
                 extra: tuple[str, ...], values: tuple[tuple[str, ...], ...], first: int) -> None:
        self.table = table
        self.name = _family_name(name, kind)
        self.sample = f"{self.name}_total" if kind == "counter" else name
        self.help = help_text
        self.kind = kind
        self.extra = extra
        self.values = values
        self.first = first
        self.tails = [("," + label_text(extra, v) if extra else "", first + i)
                      for i, v in enumerate(values)]

    def col(self, *extra: str) -> int:
        return self.first + self.values.index(extra)

    def chunks(self) -> Iterator[str]:
        yield _header(self.sample, self.help, self.kind)
        rows = list(self.table.rows.values())
        name, tails = self.sample, self.tails
        step = max(1, _ROWS_PER_CHUNK // len(tails))
        for at in range(0, len(rows), step):
            yield "".join([f"{name}{{{head}{tail}}} {_fmt(v[col])}\n"
                           for head, v in rows[at:at + step] for tail, col in tails
                           if v[col] is not None])

    def metric(self) -> Metric:
        m = Metric(self.name, self.help, self.kind)
        names = self.table.labelnames + self.extra
        for labels, (_, values) in list(self.table.rows.items()):
            for extra, (_, col) in zip(self.values, self.tails, strict=True):
                if values[col] is not None:
                    m.add_sample(self.sample, dict(zip(names, labels + extra, strict=True)),
                                 values[col])
        return m


class HistogramColumns:
    """A histogram family read from a ``ProbeTable``: per probe, a count per bucket (not
    cumulative; the last for +Inf) then the sum. Its count is the sum of the bucket counts,
    so +Inf and _count always agree."""

    __slots__ = ("_le", "buckets", "first", "help", "kind", "name", "successor", "table")

    def __init__(self, table: ProbeTable, name: str, help_text: str, buckets: Iterable[float],
                 first: int) -> None:
        self.table = table
        self.name = name
        self.help = help_text
        self.kind = "histogram"
        self.buckets = (*sorted(buckets), math.inf)
        self._le = [_go_float(b) for b in self.buckets]
        self.first = first
        self.successor: HistogramColumns | None = None  # set when swapped for new buckets

    def observe(self, values: list[Any], value: float) -> None:
        # The first edge >= value: Prometheus' le semantics.
        values[self.first + bisect_left(self.buckets, value)] += 1
        values[self.first + len(self.buckets)] += value

    def _counts(self, values: list[Any]) -> tuple[list[int], float]:
        end = self.first + len(self.buckets)
        return values[self.first:end], values[end]

    def chunks(self) -> Iterator[str]:
        yield _header(self.name, self.help, "histogram")
        rows = list(self.table.rows.values())
        step = max(1, _ROWS_PER_CHUNK // (len(self.buckets) + 2))
        for at in range(0, len(rows), step):
            # A reload may swap the buckets between chunks, re-laying every row in place:
            # each chunk renders with the family the rows are laid out for now.
            family = self
            while family.successor is not None:
                family = family.successor
            yield "".join([family._row(head, *family._counts(v))
                           for head, v in rows[at:at + step]])

    def _row(self, text: str, counts: list[int], total: float) -> str:
        name = self.name
        prefix = f"{name}_bucket{{{text},le="
        cumulative = 0
        lines = []
        for le, count in zip(self._le, counts, strict=True):
            cumulative += count
            lines.append(f'{prefix}"{le}"}} {cumulative}.0\n')
        lines.append(f"{name}_count{{{text}}} {cumulative}.0\n{name}_sum{{{text}}} {_fmt(total)}\n")
        return "".join(lines)

    def metric(self) -> Metric:
        m = Metric(self.name, self.help, "histogram")
        names = self.table.labelnames
        for labels, (_, values) in list(self.table.rows.items()):
            base = dict(zip(names, labels, strict=True))
            counts, total = self._counts(values)
            cumulative = 0
            for le, count in zip(self._le, counts, strict=True):
                cumulative += count
                m.add_sample(f"{self.name}_bucket", {**base, "le": le}, float(cumulative))
            m.add_sample(f"{self.name}_count", base, float(cumulative))
            m.add_sample(f"{self.name}_sum", base, total)
        return m


AnyFamily = Family | Columns | HistogramColumns
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
        return [Metric(f.name, f.help, f.kind) for f in self._families]

    def collect(self) -> Iterator[Metric]:
        for family in list(self._families):
            yield family.metric()

    def chunks(self) -> Iterator[str]:
        for family in list(self._families):
            yield from family.chunks()
