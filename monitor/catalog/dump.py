"""``dump_catalog``: a loaded catalog back to YAML that loads equal (only non-default values).

Strings are written so that loading them again gives the same value: a literal ``${`` is
escaped as ``$${`` (the loader would otherwise take it for a variable). Values that came from
the environment or secret files are written as resolved, so dumping a catalog that has any
is refused unless asked for explicitly.
"""

from __future__ import annotations

from typing import Any

import yaml

from monitor.catalog.model import Catalog


def dump_catalog(catalog: Catalog, *, include_secrets: bool = False) -> str:
    """YAML text that ``load_catalog`` turns back into a catalog equal to ``catalog``.

    Raises ValueError when the catalog holds secrets and ``include_secrets`` is false."""
    if catalog.secrets and not include_secrets:
        raise ValueError("the catalog holds values from the environment or secret files; "
                         "pass include_secrets=True to write them out in plain text")
    data = catalog.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return yaml.safe_dump(_escape(data), allow_unicode=True, sort_keys=False, width=1000)


def _escape(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, list):
        return [_escape(v) for v in value]
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}  # keys are never interpolated
    return value
