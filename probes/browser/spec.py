"""The shape of a browser probe: ordered steps a citizen would take in a real browser, the
browser's settings (viewport, locale, trusted CA) and an optional accessibility audit.

Each step is a mapping with exactly one action key (``goto``, ``click``, ``fill``, ``press``,
``select``, ``wait_for``, ``expect``, ``screenshot``) plus an optional ``name`` and
``timeout``. The first step must be a ``goto``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, field_validator, model_validator

from probes._kind import SpecBase
from probes._spec import Duration, Regex, StrictModel, check_http_url, format_duration

__all__ = [
    "ACTIONS",
    "Accessibility",
    "BrowserSpec",
    "BrowserStep",
    "Expect",
    "Fill",
    "Goto",
    "Press",
    "Select",
    "Viewport",
    "WaitFor",
]

IMPACTS = ("critical", "serious", "moderate", "minor")
Selector = Annotated[str, Field(min_length=1, description="a Playwright selector (CSS, text=…)")]


_M = TypeVar("_M", bound=StrictModel)


def _exactly_one(model: _M, *fields: str) -> _M:
    if sum(getattr(model, name) is not None for name in fields) != 1:
        raise ValueError(f"give exactly one of {', '.join(fields)}")
    return model


class Goto(StrictModel):
    url: str = Field(description="http(s) URL to open")
    wait_until: Literal["load", "domcontentloaded", "networkidle", "commit"] = "load"

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        return check_http_url(value)


class Fill(StrictModel):
    selector: Selector
    value: str = Field(description="typed into the field; may be a ${secret}")


class Press(StrictModel):
    key: str = Field(min_length=1, description="a key name such as Enter, Tab, Control+A")
    selector: Selector | None = Field(None, description="focus this first; else the page")


class Select(StrictModel):
    selector: Selector
    value: str | None = Field(None, description="the option's value")
    label: str | None = Field(None, description="the option's visible text")

    @model_validator(mode="after")
    def _one(self) -> Self:
        return _exactly_one(self, "value", "label")


class WaitFor(StrictModel):
    selector: Selector | None = None
    text: str | None = Field(None, min_length=1, description="visible text on the page")
    state: Literal["visible", "hidden", "attached", "detached"] = "visible"

    @model_validator(mode="after")
    def _one(self) -> Self:
        return _exactly_one(self, "selector", "text")


class Expect(StrictModel):
    """What must hold, waiting up to the step's timeout for it to hold (as Playwright's
    web-first assertions do): at least one of these, all checked."""

    text: str | None = Field(None, min_length=1, description="visible text on the page")
    visible: Selector | None = Field(None, description="a selector that must be visible")
    url: Regex | None = Field(None, description="regular expression the page URL must match")
    title: Regex | None = Field(None, description="regular expression the title must match")

    @model_validator(mode="after")
    def _some(self) -> Self:
        if self.text is None and self.visible is None and self.url is None and self.title is None:
            raise ValueError("give at least one of text, visible, url, title")
        return self


# The action keys, in the order the README lists them.
ACTIONS = ("goto", "click", "fill", "press", "select", "wait_for", "expect", "screenshot")


# Shorthands: ``goto: URL``, ``press: Key``, ``wait_for: selector`` stand for the mapping
# with that one field. Expanded before validation, so a shorthand is checked as the full
# form is (a goto's URL included) and an error names the field, not a union branch.
SHORTHANDS = {"goto": "url", "press": "key", "wait_for": "selector"}


def _schema_shorthands(schema: dict[str, Any]) -> None:
    """The JSON Schema accepts the shorthand strings too."""
    for action, field in SHORTHANDS.items():
        full = schema["properties"][action]
        schema["properties"][action] = {"anyOf": [
            {"type": "string", "description": f"shorthand for {{{field}: ...}}"}, full]}


class BrowserStep(StrictModel):
    """One action (exactly one of the action fields), with an optional name and timeout."""

    model_config = ConfigDict(**StrictModel.model_config, json_schema_extra=_schema_shorthands)

    name: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$",
                             description="lower-case: a-z 0-9 . _ - (default: <n>-<action>)")
    timeout: Duration | None = Field(None, description="default: the probe's step_timeout")
    goto: Goto | None = None
    click: Selector | None = None
    fill: Fill | None = None
    press: Press | None = None
    select: Select | None = None
    wait_for: WaitFor | None = None
    expect: Expect | None = None
    screenshot: str | None = Field(None, description="a label; kept only if the run fails")

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {key: {SHORTHANDS[key]: value}
                    if key in SHORTHANDS and isinstance(value, str) else value
                    for key, value in data.items()}
        return data

    @model_validator(mode="after")
    def _one_action(self) -> Self:
        given = [a for a in ACTIONS if getattr(self, a) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"give exactly one action of {', '.join(ACTIONS)}; found {found}")
        return self

    @property
    def action(self) -> str:
        return next(a for a in ACTIONS if getattr(self, a) is not None)

    def target(self) -> Any:
        """The action's value."""
        return getattr(self, self.action)


class Viewport(StrictModel):
    width: int = Field(1280, ge=200, le=4000)
    height: int = Field(800, ge=200, le=4000)


class ImpactLimits(StrictModel):
    """Violations allowed per impact; an impact left out is not limited."""

    critical: int | None = Field(None, ge=0)
    serious: int | None = Field(None, ge=0)
    moderate: int | None = Field(None, ge=0)
    minor: int | None = Field(None, ge=0)

    def over(self, counts: dict[str, int]) -> list[str]:
        """The impacts whose count exceeds the limit, as 'serious 3 > 0'."""
        return [f"{impact} {counts.get(impact, 0)} > {limit}"
                for impact in IMPACTS
                if (limit := getattr(self, impact)) is not None and counts.get(impact, 0) > limit]


class Accessibility(StrictModel):
    """An axe-core audit of the page as the run leaves it."""

    standard: Literal["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] = "wcag21aa"
    max: ImpactLimits = Field(default_factory=lambda: ImpactLimits(critical=0, serious=0))


class BrowserSpec(SpecBase):
    steps: list[BrowserStep] = Field(min_length=1)
    step_timeout: Duration | None = Field(
        None, description="default per step; unset: a step may use what is left of the run")
    viewport: Viewport = Field(default_factory=Viewport)
    locale: str = Field("ru-RU", pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")
    timezone: str | None = Field(None, description="IANA zone the page sees (default: UTC)")
    ca_file: str | None = Field(
        None, description="PEM CA certificates the browser trusts beside the system roots")
    accessibility: Accessibility | None = None
    max_latency: Duration | None = Field(None, description="whole run; slower fails")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        # Chromium refuses an unknown zone at every run; say so once, at load.
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"{value!r} is not an IANA time zone, e.g. "
                                 "'Asia/Vladivostok'") from None
        return value

    @field_validator("steps")
    @classmethod
    def _starts_with_goto(cls, steps: list[BrowserStep]) -> list[BrowserStep]:
        if steps and steps[0].action != "goto":
            raise ValueError(f"the first step must be a goto, not {steps[0].action}")
        names = [s.name for s in steps if s.name is not None]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"step names must be unique; repeated: {', '.join(duplicated)}")
        return steps

    def latency_objective(self) -> float | None:
        return self.max_latency

    def time_budget(self) -> float | None:
        # A step allowed as long as the whole run would be cut by the run's timeout instead,
        # and fail as a timeout, not as the step that never finished. (The steps together
        # may exceed the run's timeout, as in Playwright: a step's limit is for a step that
        # hangs, the run's for the whole.)
        limits = [s for s in map(self.step_seconds, self.steps) if s is not None]
        return max(limits) if limits else None

    def time_budget_problem(self, budget: float, timeout: float) -> str:
        return (f"a step may take {format_duration(budget)}, not below the probe timeout "
                f"{format_duration(timeout)}; lower step_timeout (or that step's timeout) or "
                "raise the probe timeout")

    def step_seconds(self, step: BrowserStep) -> float | None:
        return step.timeout if step.timeout is not None else self.step_timeout

    def step_names(self) -> list[str]:
        return [s.name or f"{i + 1}-{s.action.replace('_', '-')}"
                for i, s in enumerate(self.steps)]

    def secrets(self) -> list[str]:
        """Values typed into fields: never written to artifacts' text or details."""
        return [s.fill.value for s in self.steps if s.fill is not None and s.fill.value]
