import datetime as dt

import pytest

from monitor.localtime.hours import BUSINESS, OFFHOURS, hours_label, hours_label_at

UTC = dt.UTC


@pytest.mark.parametrize(
    ("utc", "tz", "expected"),
    [
        # Tuesday 2026-11-24 12:00 Moscow (09:00 UTC): a working day, daytime.
        (dt.datetime(2026, 11, 24, 9, 0, tzinfo=UTC), "Europe/Moscow", BUSINESS),
        # Same instant is 19:00 in Vladivostok: still business hours there.
        (dt.datetime(2026, 11, 24, 9, 0, tzinfo=UTC), "Asia/Vladivostok", BUSINESS),
        # 13:00 UTC is 23:00 in Vladivostok: night there, day in Moscow.
        (dt.datetime(2026, 11, 24, 13, 0, tzinfo=UTC), "Asia/Vladivostok", OFFHOURS),
        (dt.datetime(2026, 11, 24, 13, 0, tzinfo=UTC), "Europe/Moscow", BUSINESS),
        # Night edges in Moscow (UTC+3): 21:59 business, 22:00 off, 05:59 off, 06:00 business.
        (dt.datetime(2026, 11, 24, 18, 59, tzinfo=UTC), "Europe/Moscow", BUSINESS),
        (dt.datetime(2026, 11, 24, 19, 0, tzinfo=UTC), "Europe/Moscow", OFFHOURS),
        (dt.datetime(2026, 11, 25, 2, 59, tzinfo=UTC), "Europe/Moscow", OFFHOURS),
        (dt.datetime(2026, 11, 25, 3, 0, tzinfo=UTC), "Europe/Moscow", BUSINESS),
        # Saturday noon: weekend.
        (dt.datetime(2026, 11, 28, 9, 0, tzinfo=UTC), "Europe/Moscow", OFFHOURS),
        # Unity Day, Wednesday 2026-11-04: public holiday.
        (dt.datetime(2026, 11, 4, 9, 0, tzinfo=UTC), "Europe/Moscow", OFFHOURS),
        # Saturday 2025-11-01 was made a working day (transfer for Unity Day).
        (dt.datetime(2025, 11, 1, 9, 0, tzinfo=UTC), "Europe/Moscow", BUSINESS),
        # Kamchatka (UTC+12) reaches Unity Day while Moscow is still on 3 November: 10:00
        # local on the holiday is off-hours, 10:00 local the day before is business.
        (dt.datetime(2026, 11, 3, 22, 0, tzinfo=UTC), "Asia/Kamchatka", OFFHOURS),
        (dt.datetime(2026, 11, 2, 22, 0, tzinfo=UTC), "Asia/Kamchatka", BUSINESS),
    ],
)
def test_hours_label_in_local_time(utc: dt.datetime, tz: str, expected: str) -> None:
    assert hours_label(utc, tz) == expected


@pytest.mark.parametrize(
    ("tz", "start"),
    [
        # A DST zone across its autumn switch, and zones a half- and a quarter-hour off UTC.
        ("Europe/Berlin", dt.datetime(2026, 10, 24, 0, 0, tzinfo=UTC)),
        ("Asia/Kolkata", dt.datetime(2026, 11, 1, 0, 0, tzinfo=UTC)),
        ("Asia/Kathmandu", dt.datetime(2026, 11, 1, 0, 0, tzinfo=UTC)),
        # Across a Russian holiday and a weekend.
        ("Asia/Kamchatka", dt.datetime(2026, 11, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_hours_label_at_agrees_with_hours_label_minute_by_minute(
    tz: str, start: dt.datetime
) -> None:
    for minute in range(0, 4 * 24 * 60):
        at = start + dt.timedelta(minutes=minute, seconds=59.5)
        for instant in (at - dt.timedelta(seconds=59.5), at):  # a quarter's first and last minute
            assert hours_label_at(instant.timestamp(), tz) == hours_label(instant, tz), instant
