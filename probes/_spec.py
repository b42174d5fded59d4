"""Building blocks shared by every probe spec and by the catalog.

Durations are written the Prometheus way (``500ms``, ``10s``, ``1h30m``, ``30d``) and held as
float seconds; percentages are written with a ``%`` sign and held as ratios (``99.5%`` ->
0.995), so nobody has to guess whether ``0.995`` meant a ratio or a percent.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    WithJsonSchema,
)

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_RE = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h|d|w))+$")
_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d|w))+$"
PERCENT_PATTERN = r"^[0-9]+(\.[0-9]+)?%$"


class StrictModel(BaseModel):
    """Frozen, and unknown keys are errors: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def model_post_init(self, context: Any, /) -> None:
        # Which fields were given is fixed once a frozen model is validated (pydantic copies
        # the set before changing it, in model_copy): models given the same fields share one
        # set. A set is 216-728 bytes, and 10,000 services are ~40,000 models.
        object.__setattr__(self, "__pydantic_fields_set__",
                           _fields_set(frozenset(self.__pydantic_fields_set__)))


@functools.cache
def _fields_set(fields: frozenset[str]) -> set[str]:
    return set(fields)


def parse_duration(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(
            "expected a duration string such as '500ms', '10s', '5m', '1h30m' or '30d'"
        )
    text = value.strip()
    if not _DURATION_RE.match(text):
        raise ValueError(
            f"{value!r} is not a duration; write a number and a unit (ms, s, m, h, d, w), "
            "e.g. '30s' or '1h30m'"
        )
    seconds = round(sum(float(n) * _UNITS[u] for n, u in _PART_RE.findall(text)), 9)
    if seconds <= 0:
        raise ValueError(f"{value!r}: a duration must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling, so a dumped catalog loads back equal."""
    ms = round(seconds * 1000)
    if ms % 1000:
        return f"{ms}ms"
    rest = ms // 1000
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out) or "0s"


def parse_percent(value: Any) -> float:
    if isinstance(value, str) and re.match(PERCENT_PATTERN, value.strip()):
        ratio = round(float(value.strip()[:-1]) / 100, 12)
        if 0 < ratio <= 1:
            return ratio
        raise ValueError(f"{value!r}: a percentage must be above 0% and at most 100%")
    raise ValueError(f"expected a percentage with a % sign, e.g. '99.5%', got {value!r}")


def format_percent(ratio: float) -> str:
    return f"{round(ratio * 100, 6):g}%"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["10s", "1h30m"]}),
]
Percent = Annotated[
    float,
    BeforeValidator(parse_percent),
    PlainSerializer(format_percent, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": PERCENT_PATTERN, "examples": ["99.5%"]}),
]


def check_http_url(value: str) -> str:
    """``value``, if it is an absolute http(s) URL with a host; else ValueError."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL; write e.g. "
                         "'https://host.example/path'")
    return value


def check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
    return pattern


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


# A regular expression, checked when the catalog loads rather than when a probe first runs.
Regex = Annotated[str, AfterValidator(check_regex), WithJsonSchema({"type": "string",
                                                                    "format": "regex"})]
# A string or a list of strings, held as a tuple.
OneOrMany = Annotated[
    tuple[str, ...],
    BeforeValidator(_one_or_many),
    WithJsonSchema({"anyOf": [{"type": "string"},
                              {"type": "array", "items": {"type": "string"}}]}),
]
