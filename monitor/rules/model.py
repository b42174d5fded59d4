"""Rule groups as plain typed values, turned into the dicts Prometheus' rule file expects."""

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
        out: dict[str, Any] = {"alert": self.alert, "expr": self.expr,
                               "labels": dict(self.labels),
                               "annotations": dict(self.annotations)}
        if self.for_:
            out["for"] = self.for_
        return out


@dataclass(frozen=True, slots=True)
class Group:
    """Rules run in order within a group, so a rule may read what an earlier one recorded at
    the same evaluation."""

    name: str
    interval: str
    rules: tuple[Record | Alert, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "interval": self.interval,
                "rules": [r.to_dict() for r in self.rules]}
