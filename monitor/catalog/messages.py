"""Turn a pydantic error into what a config author needs: what is wrong and what to write.

The model class is walked along the error's ``loc`` to name the allowed keys of the mapping at
fault and to reuse field descriptions, so messages stay in step with the models.
"""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from monitor.catalog.errors import clip

Loc = tuple[int | str, ...]

_EXPECTED = {
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
}


def describe(error: ErrorDetails, model: type[BaseModel]) -> str:
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    if kind == "extra_forbidden":
        return unknown_key(str(loc[-1]), _keys_at(model, loc[:-1]))
    if kind == "missing":
        description = _description_at(model, loc)
        hint = f" ({description})" if description else ""
        return f"missing required key {loc[-1]!r}{hint}"
    if kind in ("model_type", "model_attributes_type") or (
        kind == "dict_type" and _keys_at(model, loc)
    ):
        keys = _keys_at(model, loc)
        return f"expected a mapping with keys {', '.join(keys)}; got {_show(value)}"
    if kind == "string_pattern_mismatch":
        description = _description_at(model, loc)
        if description:
            return f"expected {description}; got {_show(value)}"
    if kind == "value_error":
        # Our validators already word the message as problem + fix.
        return str(error["msg"]).removeprefix("Value error, ")
    if kind == "too_short":
        return f"expected at least {error.get('ctx', {}).get('min_length', 1)} item(s); got none"
    if kind in _EXPECTED:
        return f"{_EXPECTED[kind]}; got {_show(value)}"
    return f"{str(error['msg']).replace('Input should be ', 'expected ', 1)}; got {_show(value)}"


def relevant(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop a list's "too short" when its items have errors of their own: pydantic counts
    only the items that validated, so one bad probe would also read as "no probes"."""
    item_locs = [tuple(e["loc"]) for e in errors]
    return [
        e
        for e in errors
        if e["type"] != "too_short"
        or not any(
            len(o) > len(e["loc"]) and o[: len(e["loc"])] == tuple(e["loc"]) for o in item_locs
        )
    ]


def unknown_key(key: str, allowed: list[str]) -> str:
    message = f"unknown key {_show(key)}; allowed keys: {', '.join(allowed)}"
    close = difflib.get_close_matches(key, allowed, n=1)
    return f"{message} (did you mean {close[0]!r}?)" if close else message


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "nothing (null)"
    return clip(repr(value), 80)


def _keys_at(model: type[BaseModel], loc: Loc) -> list[str]:
    target, _ = _resolve(model, loc)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return list(target.model_fields)
    return []


def _description_at(model: type[BaseModel], loc: Loc) -> str | None:
    return _resolve(model, loc)[1]


def _resolve(annotation: Any, loc: Loc) -> tuple[Any, str | None]:
    """The type expected at ``loc`` and its description, or (None, None) when unknown."""
    annotation, description = _unwrap(annotation, None)
    for key in loc:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(str(key))
            if info is None:
                return None, None
            annotation, description = _unwrap(info.annotation, info.description)
        elif get_origin(annotation) in (tuple, list) and isinstance(key, int):
            annotation, description = _unwrap(get_args(annotation)[0], None)
        elif get_origin(annotation) is dict:
            annotation, description = _unwrap(get_args(annotation)[1], None)
        else:
            return None, None
    return annotation, description


def _unwrap(annotation: Any, description: str | None) -> tuple[Any, str | None]:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            base, *extras = get_args(annotation)
            for extra in extras:
                if isinstance(extra, FieldInfo) and extra.description:
                    description = extra.description
            annotation = base
        elif origin in (Union, types.UnionType):
            rest = [a for a in get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return annotation, description
            annotation = rest[0]
        else:
            return annotation, description
