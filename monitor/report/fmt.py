"""Russian formatting of figures for the HTML report (decimal comma, ч/мин, Moscow time)."""

from __future__ import annotations

import datetime as dt

from monitor.report.period import MOSCOW

MONTHS = ("январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август",
          "сентябрь", "октябрь", "ноябрь", "декабрь")
WEEKDAYS = ("Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Вс")
NONE = "нет данных"


def percent(ratio: float | None, digits: int = 2) -> str:
    if ratio is None:
        return NONE
    return f"{ratio * 100:.{digits}f}".replace(".", ",") + " %"


def count(value: float | None) -> str:
    """A whole count (Prometheus answers in floats)."""
    return NONE if value is None else str(round(value))


def seconds(value: float | None) -> str:
    """``2,35 с`` below a minute, ``6 ч 04 мин`` above."""
    if value is None:
        return NONE
    if value < 60:
        return f"{value:.2f}".replace(".", ",") + " с"
    minutes = round(value / 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} д {hours} ч {mins:02d} мин"
    return f"{hours} ч {mins:02d} мин" if hours else f"{mins} мин"


def moscow(at: float) -> str:
    return dt.datetime.fromtimestamp(at, MOSCOW).strftime("%d.%m.%Y %H:%M")


def iso(at: float) -> str:
    """Machine-readable time for the CSV: ISO 8601 in Moscow time with its offset."""
    return dt.datetime.fromtimestamp(at, MOSCOW).isoformat(timespec="seconds")


def month_title(label: str) -> str:
    year, month = label.split("-")
    return f"{MONTHS[int(month) - 1]} {year}"
