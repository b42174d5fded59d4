"""The running catalog's heartbeats: token -> job, and each job's record, across reloads.

Tokens are looked up by their SHA-256 digest, then compared with ``hmac.compare_digest``: the
lookup's time says nothing about how much of a guessed token was right. A reload that removes
a probe forgets its token and record. A changed expectation keeps the record (the pings came
from the same job); a changed token starts it afresh: the job is known by its token, and
what the old one received is not the new one's (a rotated token also ends a failure streak,
and the first due time counts from the reload).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from probes._kind import RuntimeJob
from probes.heartbeat.record import JobRecord
from probes.heartbeat.spec import HeartbeatSpec

Key = tuple[str, str]  # (service, probe)


@dataclass(frozen=True, slots=True)
class Bound:
    spec: HeartbeatSpec
    timezone: str
    digest: bytes


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class JobStore:
    def __init__(self) -> None:
        self._bound: dict[Key, Bound] = {}
        self._by_digest: dict[bytes, Key] = {}
        self.records: dict[Key, JobRecord] = {}

    def bind(self, jobs: Sequence[RuntimeJob], now: float) -> None:
        bound: dict[Key, Bound] = {}
        for job in jobs:
            if isinstance(job.spec, HeartbeatSpec):
                bound[job.service, job.probe] = Bound(job.spec, job.timezone,
                                                      digest(job.spec.token))
        old = self._bound
        self._bound = bound
        # The catalog checks tokens are unique; were two equal anyway, the first wins.
        self._by_digest = {}
        for key, entry in bound.items():
            self._by_digest.setdefault(entry.digest, key)
        records: dict[Key, JobRecord] = {}
        for key, entry in bound.items():
            kept = self.records.get(key)
            same = key in old and old[key].digest == entry.digest
            records[key] = kept if kept is not None and same else JobRecord(since=now)
        self.records = records

    def find(self, token: str) -> Key | None:
        presented = digest(token)
        key = self._by_digest.get(presented)
        if key is None or not hmac.compare_digest(presented, self._bound[key].digest):
            return None
        return key

    def bound(self, key: Key) -> Bound | None:
        return self._bound.get(key)

    def tokens(self) -> Iterable[str]:
        return (entry.spec.token for entry in self._bound.values())

    def snapshot(self) -> dict[str, Any]:
        return {"jobs": [{"service": s, "probe": p, **record.to_json()}
                         for (s, p), record in sorted(self.records.items())]}

    def restore(self, saved: Any, saved_before: float) -> int:
        """Records of jobs still bound; raises ValueError (nothing restored) on bad data."""
        if not isinstance(saved, dict) or not isinstance(saved.get("jobs"), list):
            raise ValueError("not a heartbeat snapshot")
        found: dict[Key, JobRecord] = {}
        for item in saved["jobs"]:
            if not isinstance(item, dict):
                raise ValueError("a job is not a mapping")
            service, probe = item.get("service"), item.get("probe")
            if not isinstance(service, str) or not isinstance(probe, str):
                raise ValueError("a job without service and probe names")
            fields = {k: v for k, v in item.items() if k not in ("service", "probe")}
            found[service, probe] = JobRecord.from_json(fields, saved_before)
        restored = 0
        for key, record in found.items():
            if key in self.records:
                self.records[key] = record
                restored += 1
        return restored
