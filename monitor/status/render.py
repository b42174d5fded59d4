"""Templates (Jinja2, autoescaped: every catalog string reaching a page, feed or badge is
escaped by the library, never by hand) and the Russian formatting filters they use."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from monitor.report import fmt
from monitor.report.period import MOSCOW


def _when(text: str | None) -> str:
    if not text:
        return fmt.NONE
    return dt.datetime.fromisoformat(text).astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return fmt.NONE
    return "меньше минуты" if seconds < 60 else fmt.seconds(seconds)


def _duration(seconds: float | None) -> str:
    """An outage's length: whole seconds below a minute (latencies keep their decimals)."""
    if seconds is not None and seconds < 60:
        return f"{round(seconds)} с"
    return fmt.seconds(seconds)


def _part_value(part: dict[str, Any]) -> str:
    value = part["value"]
    return fmt.percent(value) if part["unit"] == "ratio" else fmt.seconds(value)


def _part_objective(part: dict[str, Any]) -> str:
    objective = part["objective"]
    if objective is None:
        return fmt.NONE
    if part["unit"] == "ratio":
        return "не ниже " + fmt.percent(objective, 1)
    return "не больше " + fmt.seconds(objective)


def _day_text(day: dict[str, Any]) -> str:
    date = dt.date.fromisoformat(day["date"]).strftime("%d.%m.%Y")
    if day["met"] is None:
        return f"{date}: нет данных"
    verdict = "цель выполнена" if day["met"] else "ниже цели"
    return f"{date}: {fmt.percent(day['availability'])}, {verdict}"


def _change(row: dict[str, Any]) -> str:
    """A region's movement since the previous month, in words as well as arrows."""
    if row.get("previous_position") is None or row.get("position") is None:
        return "нет данных за прошлый месяц"
    moved = row["previous_position"] - row["position"]
    points = (row["change"] or 0.0) * 100
    share = f"{points:+.1f}".replace(".", ",") + " п. п."
    if moved > 0:
        return f"▲ поднялся на {moved} ({share})"
    if moved < 0:
        return f"▼ опустился на {-moved} ({share})"
    return f"= без изменений ({share})"


def environment() -> Environment:
    env = Environment(loader=PackageLoader("monitor.status"),
                      autoescape=select_autoescape(["html", "xml", "svg"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=_when, age=_age, pct=fmt.percent, dur=_duration,
                       partvalue=_part_value, partobjective=_part_objective,
                       daytext=_day_text, change=_change, month=fmt.month_title)
    return env
