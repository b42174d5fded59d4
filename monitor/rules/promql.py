"""PromQL building blocks shared by the rule modules."""

from __future__ import annotations

from collections.abc import Sequence


def by(labels: Sequence[str]) -> str:
    return ", ".join(labels)


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


# Descriptive labels every service alert carries, joined from the catalog's info metric.
ALERT_LABELS = ("curator", "region", "level")
INFO_JOIN = f"* on (service) group_left ({by(ALERT_LABELS)}) dozor:service_info"
