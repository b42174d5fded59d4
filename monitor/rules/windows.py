"""The windows the rules use (their Prometheus duration strings: ``monitor.promql.duration``)."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.catalog import Catalog
from monitor.promql import DAY, HOUR, MINUTE

# Burn-rate windows of the SRE workbook (page: 1h/5m, 6h/30m; ticket: 1d/2h, 3d/6h).
BURN_WINDOWS = (5 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 6 * HOUR, DAY, 3 * DAY)
# Only 5m windows read raw probe series; every longer window averages the largest of these
# recordings that fits four times into it, so no rule scans days of raw samples.
BASES = (5 * MINUTE, HOUR, DAY)
# The off-hours SLI only needs what its compliance and alert read.
OFFHOURS_WINDOWS = (5 * MINUTE, HOUR, DAY)



def base_for(window: int) -> int:
    """The recording a longer window is averaged from (see BASES)."""
    return max([b for b in BASES if window >= 4 * b] or [BASES[0]])


def chain(windows: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """(window, base) pairs beyond the 5m recording, shortest first, so each base is
    recorded before the window built from it."""
    return tuple((w, base_for(w)) for w in sorted(set(windows)) if w > BASES[0])


@dataclass(frozen=True, slots=True)
class Windows:
    """What the catalog decides: the standard's window (national) and how long a probe may
    go without a run before it counts as stalled."""

    standard: int
    stall: int
    # The longest a probe still down stays excused after its platform recovers: its own
    # recovery needs its next runs (success_threshold of them) to be seen.
    platform_hold: int = 5 * MINUTE

    @property
    def availability(self) -> tuple[int, ...]:
        """Every window recorded for the availability SLI, shortest first."""
        return tuple(sorted({*BURN_WINDOWS, self.standard}))

    @property
    def offhours(self) -> tuple[int, ...]:
        return tuple(sorted({*OFFHOURS_WINDOWS, self.standard}))

    @classmethod
    def of(cls, catalog: Catalog) -> Windows:
        intervals = [catalog.interval(p) for s in catalog.services for p in s.probes]
        longest = max(intervals, default=catalog.defaults.interval)
        # 3 missed runs of the slowest probe, but never less than 10m (scrape gaps happen).
        stall = max(10 * MINUTE, 3 * round(longest))
        stall = -(-stall // MINUTE) * MINUTE  # whole minutes read better in alerts
        recovery = [(p.success_threshold + 1) * catalog.interval(p)
                    for s in catalog.services for p in s.probes if catalog.dependencies(s, p)]
        hold = max(5 * MINUTE, round(max(recovery, default=0)))
        hold = -(-hold // MINUTE) * MINUTE
        return cls(standard=round(catalog.standard.window), stall=stall, platform_hold=hold)
