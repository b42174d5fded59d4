"""The reporting month: a calendar month in Moscow time.

Moscow time because the standard is national and the report goes to federal superiors, whose
documents are dated in it; per-region views (the hour-of-week heatmaps) use each region's
own zone. Boundaries fall on whole hours, hence on every 5-minute evaluation step.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

MOSCOW = ZoneInfo("Europe/Moscow")
STEP = 300  # the 5m evaluation step of the SLI recordings


@dataclass(frozen=True, slots=True)
class Period:
    label: str          # "2026-09"
    start: float        # Unix seconds, inclusive
    end: float          # Unix seconds, exclusive; clamped to "now" for the running month
    complete: bool      # False while the month is still running

    @property
    def seconds(self) -> int:
        return round(self.end - self.start)

    def moscow(self, at: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(at, MOSCOW)


def parse_period(text: str, now: float) -> Period:
    """``YYYY-MM`` to the month in Moscow time; a month not started yet is an error."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if match is None or not 1 <= int(match[2]) <= 12:
        raise ValueError(f"expected a month as YYYY-MM, e.g. 2026-09, got {text!r}")
    year, month = int(match[1]), int(match[2])
    start = dt.datetime(year, month, 1, tzinfo=MOSCOW).timestamp()
    nxt = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=MOSCOW).timestamp()
    # The running month is reported up to the last whole 5 minutes.
    clamped = min(nxt, (now // STEP) * STEP)
    if clamped <= start:
        raise ValueError(f"month {text} has not started yet")
    return Period(label=text, start=start, end=clamped, complete=clamped == nxt)
