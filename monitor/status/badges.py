"""SVG badges for embedding: a service's state now and its availability over the window."""

from __future__ import annotations

from typing import Any

from monitor.report import fmt

COLOURS = {"up": "#1e7b34", "down": "#b3261e", "maintenance": "#7a5200", "unknown": "#595959"}


def state_badge(brief: dict[str, Any]) -> dict[str, str]:
    return {"label": "сейчас", "value": brief["state_text"].lower(),
            "colour": COLOURS[brief["state"]]}


def availability_badge(brief: dict[str, Any]) -> dict[str, str]:
    value, objective = brief["availability"], brief["availability_objective"]
    if value is None:
        colour = COLOURS["unknown"]
    elif objective is None or value >= objective:
        colour = COLOURS["up"]
    else:
        colour = COLOURS["down"]
    return {"label": "доступность", "value": fmt.percent(value), "colour": colour}
