"""The shape of a journey: ordered steps, each one HTTP request with expectations, variables
extracted from its response, and optionally a poll until a result is ready.

Rules checked here (each error points at the step and field at fault): at least one step,
unique step names, ``${var}`` only after a step that extracts it, at most one ``submit``
step and a poll step after it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from probes._kind import RunVariables, SpecBase
from probes._spec import Duration, StrictModel, check_http_url, format_duration
from probes._tls import TlsOptions
from probes.http import DEFAULT_MAX_BODY, HttpExpect
from probes.journey.extract import VAR_NAME_PATTERN, Extract, PollUntil, references

__all__ = ["JourneySpec", "JourneyStep", "Poll", "StepRequest"]

StepName = Annotated[
    str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$", description="lower-case: a-z 0-9 . _ -")
]
VarName = Annotated[str, Field(pattern=VAR_NAME_PATTERN)]


class StepRequest(StrictModel):
    """What a step sends. ``${var}`` in url, header values and the body are filled from
    variables extracted by earlier steps. At most one of body, json, form."""

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    url: str = Field(description="http(s) URL; may use ${var}")
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    json_body: JsonValue = Field(None, alias="json", description="sent as application/json")
    form: dict[str, str] | None = Field(None, description="sent urlencoded")

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str) -> str:
        # A URL taken whole from a variable (e.g. a Location header) is checked at run time.
        return value if value.startswith("${") else check_http_url(value)

    @model_validator(mode="after")
    def _one_body(self) -> StepRequest:
        given = [k for k in ("body", "json", "form") if self._body_of(k) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of body, json, form; found {', '.join(given)}")
        return self

    def _body_of(self, key: str) -> object:
        return {"body": self.body, "json": self.json_body, "form": self.form}[key]

    def texts(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every string that may hold ``${var}``, with its location in the request."""
        found: list[tuple[tuple[str | int, ...], str]] = [(("url",), self.url)]
        found += [(("headers", k), v) for k, v in self.headers.items()]
        if self.body is not None:
            found.append((("body",), self.body))
        if self.form is not None:
            found += [(("form", k), v) for k, v in self.form.items()]
        found += _json_texts(self.json_body, ("json",))
        return found


def _json_texts(value: Any, at: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        return [(at, value)]
    if isinstance(value, list):
        return [t for i, item in enumerate(value) for t in _json_texts(item, (*at, i))]
    if isinstance(value, dict):
        return [(at, k) for k in value] + [
            t for k, item in value.items() for t in _json_texts(item, (*at, k))
        ]
    return []


class Poll(StrictModel):
    """Repeat the request every ``every`` until ``until`` holds; fail at ``deadline``
    (counted from the step's start). A response that fails ``expect`` fails at once."""

    every: Duration = 1.0
    deadline: Duration
    until: PollUntil

    @model_validator(mode="after")
    def _every_below_deadline(self) -> Poll:
        if self.every >= self.deadline:
            raise ValueError("poll.every must be shorter than poll.deadline")
        return self


class JourneyStep(StrictModel):
    name: StepName
    request: StepRequest
    expect: HttpExpect = HttpExpect()
    extract: dict[VarName, Extract] = Field(
        default_factory=dict,
        description="variable name (lower-case) -> where to take it from the response",
    )
    poll: Poll | None = None
    submit: bool = Field(
        False, description="time to result is counted from this step's start to the poll's end"
    )


class JourneySpec(SpecBase):
    """Ordered HTTP steps sharing one cookie jar per run."""

    steps: tuple[JourneyStep, ...] = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict, description="sent with every step")
    follow_redirects: bool = True
    max_redirects: int = Field(10, ge=0, le=30)
    max_body_bytes: int = Field(DEFAULT_MAX_BODY, gt=0, le=256 * 1024 * 1024)
    tls: TlsOptions = TlsOptions()

    @field_validator("steps")
    @classmethod
    def _steps_fit_together(cls, steps: tuple[JourneyStep, ...]) -> tuple[JourneyStep, ...]:
        errors: list[InitErrorDetails] = []

        def error(at: tuple[str | int, ...], message: str, value: object) -> None:
            kind = PydanticCustomError("value_error", "{message}", {"message": message})
            errors.append(InitErrorDetails(type=kind, loc=at, input=value))

        first_named: dict[str, int] = {}
        extracted_by: dict[str, str] = {}  # variable -> first step extracting it
        for index, step in enumerate(steps):
            if step.name in first_named:
                error((index, "name"), f"duplicate step name {step.name!r} (also step "
                      f"{first_named[step.name] + 1}); step names must be unique", step.name)
            first_named.setdefault(step.name, index)
            for where, text in step.request.texts():
                for name in dict.fromkeys(references(text)):
                    if name in extracted_by:
                        continue
                    later = next((s.name for s in steps[index:] if name in s.extract), None)
                    why = ("no step extracts it" if later is None
                           else "it is extracted from this step's own response"
                           if later == step.name
                           else f"it is extracted only later, by step {later!r}")
                    error((index, "request", *where), f"step {step.name!r} uses ${{{name}}} "
                          f"but {why}; a variable can be used only after the step that "
                          "extracts it", text)
            for name in step.extract:
                extracted_by.setdefault(name, step.name)

        submits = [i for i, s in enumerate(steps) if s.submit]
        for extra in submits[1:]:
            error((extra, "submit"), "only one step may be marked submit: true", True)
        if submits and not any(s.poll for s in steps[submits[0]:]):
            error((submits[0], "submit"), "submit: true needs a step with poll at or after it; "
                  "time to result runs from the submit to the poll's result", True)
        if errors:
            raise ValidationError.from_exception_data("steps", errors)
        return steps

    def latency_objective(self) -> float | None:
        """None: a step's ``expect.max_latency`` bounds that step, not the whole journey's
        duration, and the journey has no objective of its own."""
        return None

    def time_budget(self) -> float | None:
        """The poll deadlines added up (0 without polls): the timeout must exceed them."""
        return sum(s.poll.deadline for s in self.steps if s.poll)

    def time_budget_problem(self, budget: float, timeout: float) -> str:
        return (f"the journey's poll deadlines add up to {format_duration(budget)}, not below "
                f"the probe timeout {format_duration(timeout)}; the timeout would cut the "
                "poll short and report 'timeout' instead of 'result not ready'")

    @classmethod
    def run_variables(cls, raw: Any) -> RunVariables | None:
        """Inside a ``journey:`` mapping, ``${name}`` of a variable that one of its steps
        extracts is filled at run time (see extract.py); so is a lower-case ``${name}`` set
        neither way, which the steps' validation reports. ``raw`` may be malformed."""
        steps = raw.get("steps") if isinstance(raw, dict) else None
        names = frozenset(
            name
            for step in (steps if isinstance(steps, list) else ())
            if isinstance(step, dict) and isinstance(step.get("extract"), dict)
            for name in step["extract"]
            if isinstance(name, str)
        )
        return RunVariables(names, VAR_NAME_PATTERN)
