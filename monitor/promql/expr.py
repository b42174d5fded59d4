"""PromQL building blocks: label lists, selectors, the location quorum, durations."""

from __future__ import annotations

from collections.abc import Sequence

MINUTE, HOUR, DAY = 60, 3600, 86400
_UNITS = (("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", 1))


def by(labels: Sequence[str]) -> str:
    return ", ".join(labels)


def braces(*matchers: str) -> str:
    """``{a="1",b="2"}`` from the non-empty matchers; nothing at all when there are none."""
    present = [m for m in matchers if m]
    return "{" + ",".join(present) + "}" if present else ""


def quorum(series: str, labels: Sequence[str]) -> str:
    """The value a strict majority of locations agree on: the lower median of ``series``
    across locations, per ``labels``.

    ``quantile(0.5)`` is exact for an odd number of locations but interpolates for an even
    one (two locations would give their mean, so one failing vantage point would count half).
    The largest value not above the median is the ceil(n/2)-th smallest, which at least
    floor(n/2)+1 locations reach: n=1 itself, n=2 the minimum, n=3 the median, n=4 the 2nd.
    """
    keys = by(labels)
    return (f"max by ({keys}) (\n  {series}\n    <= on ({keys}) group_left ()\n"
            f"  quantile by ({keys}) (0.5, {series})\n)")


def duration(seconds: float) -> str:
    """``1h``, ``30d``, ``90s``: the largest unit that divides exactly, as Prometheus writes."""
    whole = round(seconds)
    if whole <= 0:
        raise ValueError(f"not a positive duration: {seconds}")
    for unit, size in _UNITS:
        if whole % size == 0:
            return f"{whole // size}{unit}"
    raise AssertionError(whole)
