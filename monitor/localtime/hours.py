"""Business hours versus off-hours, in a region's local time.

Off-hours are what the 24/7 standard is really about: nights 22:00–06:00, weekends and
Russian public holidays (the ``holidays`` package, which also knows the Saturdays that the
government turns into working days).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

BUSINESS = "business"
OFFHOURS = "offhours"
NIGHT_START = dt.time(22, 0)
NIGHT_END = dt.time(6, 0)
# Every UTC offset in use, and every DST switch, is a whole number of quarter-hours, and so is
# every edge above: the label is the same throughout a quarter-hour of UTC, in any zone.
_QUARTER = 900


@lru_cache(maxsize=16)
def _calendar(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("RU", years=year)


@lru_cache(maxsize=4096)
def _is_day_off(day: dt.date) -> bool:
    cal = _calendar(day.year)
    if day in cal:
        return True
    if day in getattr(cal, "weekend_workdays", ()):
        return False
    return day.weekday() >= 5


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def hours_label(at: dt.datetime, timezone: str) -> str:
    """``business`` or ``offhours`` for an aware instant, seen in ``timezone``."""
    local = at.astimezone(_zone(timezone))
    t = local.time()
    if t >= NIGHT_START or t < NIGHT_END or _is_day_off(local.date()):
        return OFFHOURS
    return BUSINESS


def hours_label_at(timestamp: float, timezone: str) -> str:
    """``hours_label`` for a unix time: worked out once per quarter-hour and zone, since
    every probe run asks (a zone conversion costs ~10 µs; this is a cache hit)."""
    return _quarter_label(int(timestamp // _QUARTER), timezone)


@lru_cache(maxsize=1024)
def _quarter_label(quarter: int, timezone: str) -> str:
    return hours_label(dt.datetime.fromtimestamp(quarter * _QUARTER, dt.UTC), timezone)
