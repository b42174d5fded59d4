"""A Prometheus rule file as plain typed values: groups of recording and alerting rules, turned
into the dicts the rule file expects (``to_dict``). Optional fields are left out when empty, and
keys come in the order Prometheus' documentation writes them, for writers that keep order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Record:
    record: str
    expr: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record": self.record, "expr": self.expr}
        if self.labels:
            out["labels"] = dict(self.labels)
        return out


@dataclass(frozen=True, slots=True)
class Alert:
    alert: str
    expr: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    for_: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"alert": self.alert, "expr": self.expr}
        if self.for_:
            out["for"] = self.for_
        out["labels"] = dict(self.labels)
        out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True, slots=True)
class Group:
    """Rules run in order within a group, so a rule may read what an earlier one recorded at
    the same evaluation."""

    name: str
    interval: str  # "": Prometheus' global evaluation interval
    rules: tuple[Record | Alert, ...]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.interval:
            out["interval"] = self.interval
        out["rules"] = [r.to_dict() for r in self.rules]
        return out
