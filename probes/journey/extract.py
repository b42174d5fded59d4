"""What a journey takes from a response and puts into later requests.

- ``${name}`` references (lower-case names: ``${UPPER}`` stays the catalog's environment
  syntax) are filled from variables extracted by earlier steps;
- a variable is taken from the JSON body by a path, from the body by a regex, or from a
  response header;
- poll conditions (``until``) are checked against a response.

JSON paths are a deliberately tiny subset of JSONPath, implemented here: ``$``, then any of
``.name``, ``['any key']`` and ``[index]`` (negative counts from the end). One path names one
value, which is what a variable needs; wildcards, filters and ``..`` (jsonpath-ng's grammar,
and its ply dependency) would name many, and give no better error messages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from pydantic import Field, field_validator, model_validator

from probes._spec import OneOrMany, Regex, StrictModel
from probes.http import HttpReply

__all__ = [
    "VAR_NAME_PATTERN",
    "Extract",
    "JsonScalar",
    "PollUntil",
    "extract_value",
    "fill",
    "fill_json",
    "parse_json_path",
    "references",
    "until_misses",
]

VAR_NAME_PATTERN = r"^[a-z_][a-z0-9_]*$"
_REFERENCE_RE = re.compile(r"\$\{([a-z_][a-z0-9_]*)\}")
_SEGMENT_RE = re.compile(r"""\.([A-Za-z_][\w-]*)|\[(-?\d+)\]|\[(?:'([^']*)'|"([^"]*)")\]""")

JsonPath = tuple[str | int, ...]
JsonScalar = str | int | float | bool | None
_MISSING = object()


def references(text: str) -> Iterator[str]:
    """The variable names ``text`` refers to, in order."""
    return (match.group(1) for match in _REFERENCE_RE.finditer(text))


def fill(text: str, variables: dict[str, str]) -> str:
    """``text`` with every ``${name}`` of a known variable replaced by its value."""
    return _REFERENCE_RE.sub(lambda m: variables.get(m.group(1), m.group(0)), text)


def fill_json(value: Any, variables: dict[str, str]) -> Any:
    """A JSON body with variables filled in its strings (keys included)."""
    if isinstance(value, str):
        return fill(value, variables)
    if isinstance(value, list):
        return [fill_json(item, variables) for item in value]
    if isinstance(value, dict):
        return {fill(k, variables): fill_json(v, variables) for k, v in value.items()}
    return value


def parse_json_path(path: str) -> JsonPath:
    if not path.startswith("$"):
        raise ValueError(f"JSON path {path!r} must start with '$', e.g. '$.application.id'")
    parts: list[str | int] = []
    pos = 1
    while pos < len(path):
        match = _SEGMENT_RE.match(path, pos)
        if match is None:
            raise ValueError(
                f"JSON path {path!r} is not supported at {path[pos:]!r}; write $.key, "
                "$['any key'] or $.list[0] (no wildcards, filters or '..')"
            )
        name, index, quoted1, quoted2 = match.groups()
        if index is not None:
            parts.append(int(index))
        else:
            parts.append(next(p for p in (name, quoted1, quoted2) if p is not None))
        pos = match.end()
    return tuple(parts)


def _lookup(document: Any, path: JsonPath) -> Any:
    node = document
    for part in path:
        if isinstance(part, int):
            if not isinstance(node, list) or not -len(node) <= part < len(node):
                return _MISSING
            node = node[part]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


class Extract(StrictModel):
    """Where a variable's value comes from; exactly one of json, regex, header."""

    json_path: str | None = Field(
        None, alias="json", description="JSON path into the response body, e.g. $.data.id"
    )
    regex: Regex | None = Field(
        None, description="regex over the body: its first group (or the whole match)"
    )
    header: str | None = Field(None, description="response header name")

    @field_validator("json_path")
    @classmethod
    def _path_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_json_path(value)
        return value

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Extract:
        given = [v for v in (self.json_path, self.regex, self.header) if v is not None]
        if len(given) != 1:
            raise ValueError("extract a variable from exactly one of: json, regex, header")
        return self


class PollUntil(StrictModel):
    """When a polled result is ready. All given conditions must hold."""

    status: tuple[int, ...] = Field((), description="status codes meaning ready")
    body_contains: OneOrMany = ()
    body_regex: Regex | None = None
    json_equals: dict[str, JsonScalar] = Field(
        default_factory=dict, alias="json", description="JSON path -> value it must equal"
    )

    @field_validator("json_equals")
    @classmethod
    def _paths_parse(cls, value: dict[str, JsonScalar]) -> dict[str, JsonScalar]:
        for path in value:
            parse_json_path(path)
        return value

    @model_validator(mode="after")
    def _some_condition(self) -> PollUntil:
        if not (self.status or self.body_contains or self.body_regex or self.json_equals):
            raise ValueError("until needs a condition: status, body_contains, body_regex or json")
        return self


class _Body:
    """A response body parsed as JSON at most once, on first need."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._parsed: Any = _MISSING
        self.valid = True

    def json(self) -> Any:
        if self._parsed is _MISSING and self.valid:
            try:
                self._parsed = json.loads(self.text)
            except ValueError:
                self.valid = False
        return self._parsed


def extract_value(spec: Extract, reply: HttpReply) -> tuple[str | None, str]:
    """(value, "") or (None, why not). The why never quotes response content."""
    if spec.header is not None:
        value = reply.headers.get(spec.header) if reply.headers is not None else None
        if value is None:
            return None, f"response header {spec.header!r} is missing"
        return value, ""
    text = reply.text or ""
    if spec.regex is not None:
        match = re.search(spec.regex, text)
        if match is None:
            return None, f"body does not match regex {spec.regex!r}"
        group = match.group(1) if match.re.groups else match.group(0)
        if group is None:
            return None, f"regex {spec.regex!r} matched without its first group"
        return group, ""
    assert spec.json_path is not None  # the model guarantees exactly one source
    body = _Body(text)
    document = body.json()
    if not body.valid:
        return None, "response body is not JSON"
    found = _lookup(document, parse_json_path(spec.json_path))
    if found is _MISSING:
        return None, f"{spec.json_path} is not in the response JSON"
    if found is None or isinstance(found, dict | list):
        kind = "null" if found is None else type(found).__name__.replace("dict", "an object")
        return None, f"{spec.json_path} is {kind.replace('list', 'a list')}, not a single value"
    return (found if isinstance(found, str) else json.dumps(found)), ""


def until_misses(until: PollUntil, reply: HttpReply) -> str | None:
    """None when the result is ready; else which condition is not met yet (conditions are
    catalog text; response content is never quoted)."""
    if until.status and reply.status not in until.status:
        return f"status {reply.status}, not one of {list(until.status)}"
    text = reply.text or ""
    for needle in until.body_contains:
        if needle not in text:
            return f"body does not contain {needle!r}"
    if until.body_regex is not None and not re.search(until.body_regex, text):
        return f"body does not match {until.body_regex!r}"
    body = _Body(text)
    for path, expected in until.json_equals.items():
        document = body.json()
        if not body.valid:
            return "response body is not JSON"
        found = _lookup(document, parse_json_path(path))
        # bool is an int in Python: true must not equal 1 here.
        same = found == expected and isinstance(found, bool) == isinstance(expected, bool)
        if found is _MISSING or not same:
            return f"{path} is not {json.dumps(expected, ensure_ascii=False)}"
    return None
