"""YAML output: keys sorted, multi-line expressions as literal blocks, no line folding, so the
same catalog always gives the same bytes and the file reads like hand-written rules."""

from __future__ import annotations

from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """A dumper of our own so the str representer below does not leak into other YAML users."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(document: Any) -> str:
    text: str = yaml.dump(document, Dumper=_Dumper, sort_keys=True, allow_unicode=True,
                          default_flow_style=False, width=10_000)
    return text
