"""Maintenance windows: when one is active for a service, in its region's local time.

Three forms (the catalog model enforces exactly one): a one-off ``start``/``end``, a weekly
``weekdays`` + ``from``/``to`` (a window may cross midnight), or a ``cron`` expression (five
fields, APScheduler's crontab syntax) with a ``duration``.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from monitor.catalog.model import WEEKDAYS, Catalog, Maintenance


def is_active(window: Maintenance, at: dt.datetime, timezone: str) -> bool:
    """Whether ``window`` covers the aware instant ``at`` in ``timezone``'s local time."""
    zone = ZoneInfo(timezone)
    local = at.astimezone(zone)
    if window.start is not None and window.end is not None:
        start = window.start.replace(tzinfo=zone)
        end = window.end.replace(tzinfo=zone)
        return start <= local < end
    if window.cron is not None and window.duration is not None:
        trigger = CronTrigger.from_crontab(window.cron, timezone=zone)
        since = local - dt.timedelta(seconds=window.duration)
        fire = trigger.get_next_fire_time(None, since)
        return fire is not None and fire <= local
    if window.from_ is not None and window.to is not None:
        days = window.weekdays or WEEKDAYS
        t = local.time().replace(tzinfo=None)
        today = WEEKDAYS[local.weekday()]
        if window.from_ < window.to:
            return today in days and window.from_ <= t < window.to
        # Crosses midnight: the part after midnight belongs to the previous day's window.
        yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
        return (today in days and t >= window.from_) or (yesterday in days and t < window.to)
    return False


def active_windows(
    windows: tuple[Maintenance, ...], at: dt.datetime, timezone: str
) -> list[Maintenance]:
    return [w for w in windows if is_active(w, at, timezone)]


def maintenance_now(catalog: Catalog, at: dt.datetime) -> dict[str, Maintenance]:
    """Services in a maintenance window at ``at``, with the first active window of each."""
    zones = catalog.timezones()
    out: dict[str, Maintenance] = {}
    for service in catalog.services:
        if not service.maintenance:
            continue
        active = active_windows(service.maintenance, at, zones[service.region])
        if active:
            # An announced window wins: it is the one the 24/7 policy may excuse.
            out[service.id] = next((w for w in active if w.announced), active[0])
    return out


def occurrences(window: Maintenance, start: dt.datetime, end: dt.datetime,
                timezone: str) -> list[tuple[dt.datetime, dt.datetime]]:
    """The spans of ``window`` that overlap [``start``, ``end``) (aware instants), as aware
    local datetimes, first first; an ongoing one is included with its true start."""
    zone = ZoneInfo(timezone)
    first, last = start.astimezone(zone), end.astimezone(zone)
    spans: list[tuple[dt.datetime, dt.datetime]] = []
    if window.start is not None and window.end is not None:
        spans.append((window.start.replace(tzinfo=zone), window.end.replace(tzinfo=zone)))
    elif window.cron is not None and window.duration is not None:
        trigger = CronTrigger.from_crontab(window.cron, timezone=zone)
        length = dt.timedelta(seconds=window.duration)
        fire = trigger.get_next_fire_time(None, first - length)
        while fire is not None and fire < last and len(spans) < 1000:
            spans.append((fire, fire + length))
            fire = trigger.get_next_fire_time(fire, fire + dt.timedelta(seconds=1))
    elif window.from_ is not None and window.to is not None:
        days = window.weekdays or WEEKDAYS
        day = (first - dt.timedelta(days=1)).date()
        while day <= last.date():
            if WEEKDAYS[day.weekday()] in days:
                begin = dt.datetime.combine(day, window.from_, zone)
                finish_day = day if window.from_ < window.to else day + dt.timedelta(days=1)
                spans.append((begin, dt.datetime.combine(finish_day, window.to, zone)))
            day += dt.timedelta(days=1)
    return [(a, b) for a, b in spans if a < last and b > first]
