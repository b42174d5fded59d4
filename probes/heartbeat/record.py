"""What Dozor knows of one job from its pings: the last ping, the last success and failure,
its open runs. Pure data and the one rule for applying a ping; the store keeps one per probe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

MAX_OPEN_RUNS = 16  # per job: a job that only ever starts must not grow the table
EXCERPT_BYTES = 1024  # of a ping's body, kept and shown in a failure's detail
FAIL_WITHOUT_CODE = -1  # dozor_heartbeat_last_exit_code after a bare /fail

Action = Literal["start", "success", "fail"]


@dataclass(slots=True)
class JobRecord:
    since: float  # when Dozor started expecting the job (first bound): the first due counts from it
    last_ping: float | None = None
    last_success: float | None = None
    last_failure: float | None = None  # a fail ping or a non-zero exit code
    exit_code: int | None = None  # of the last finished run (FAIL_WITHOUT_CODE: bare /fail)
    excerpt: str = ""  # the last finished run's body excerpt, secrets redacted
    duration: float | None = None  # of the last finished run that had a start ping
    open_runs: dict[str, float] = field(default_factory=dict)  # run id ("" if none) -> start

    def ping(self, action: Action, now: float, rid: str | None = None,
             exit_code: int | None = None, excerpt: str = "") -> None:
        self.last_ping = now
        if action == "start":
            key = rid or ""
            self.open_runs.pop(key, None)  # a restart of the same run id starts it anew
            self.open_runs[key] = now
            while len(self.open_runs) > MAX_OPEN_RUNS:
                del self.open_runs[next(iter(self.open_runs))]  # the oldest start
            return
        started = self._close(rid)
        if started is not None:
            self.duration = max(0.0, now - started)
        self.excerpt = excerpt
        if action == "success":
            self.last_success = now
            self.exit_code = 0
        else:
            self.last_failure = now
            self.exit_code = FAIL_WITHOUT_CODE if exit_code is None else exit_code

    def _close(self, rid: str | None) -> float | None:
        """The start of the run this end closes: its run id's, or without one the latest."""
        if rid is not None:
            return self.open_runs.pop(rid, None)
        if not self.open_runs:
            return None
        latest = max(self.open_runs, key=lambda k: self.open_runs[k])
        return self.open_runs.pop(latest)

    def failing_since_success(self) -> bool:
        return self.last_failure is not None and (
            self.last_success is None or self.last_failure > self.last_success)

    def to_json(self) -> dict[str, Any]:
        return {"since": self.since, "last_ping": self.last_ping,
                "last_success": self.last_success, "last_failure": self.last_failure,
                "exit_code": self.exit_code, "excerpt": self.excerpt,
                "duration": self.duration, "open_runs": dict(self.open_runs)}

    @classmethod
    def from_json(cls, data: Any, saved_before: float) -> JobRecord:
        """Raises ValueError on anything a hand edit or another program could have left."""
        if not isinstance(data, dict):
            raise ValueError("a job is not a mapping")
        since = _time(data.get("since"), "since", saved_before)
        assert since is not None
        runs = data.get("open_runs", {})
        if not isinstance(runs, dict) or len(runs) > MAX_OPEN_RUNS:
            raise ValueError("open_runs is not a small mapping")
        open_runs: dict[str, float] = {}
        for rid, start in runs.items():
            at = _time(start, "open run start", saved_before)
            if not isinstance(rid, str) or at is None:
                raise ValueError("open_runs holds something other than run id -> time")
            open_runs[rid] = at
        code = data.get("exit_code")
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)
                                 or not FAIL_WITHOUT_CODE <= code <= 255):
            raise ValueError("exit_code is not -1..255")
        duration = data.get("duration")
        if duration is not None and (isinstance(duration, bool)
                                     or not isinstance(duration, int | float)
                                     or not 0 <= duration < float("inf")):
            raise ValueError("duration is not a length")
        excerpt = data.get("excerpt", "")
        if not isinstance(excerpt, str):
            raise ValueError("excerpt is not text")
        return cls(since=since,
                   last_ping=_time(data.get("last_ping"), "last_ping", saved_before),
                   last_success=_time(data.get("last_success"), "last_success", saved_before),
                   last_failure=_time(data.get("last_failure"), "last_failure", saved_before),
                   exit_code=code, excerpt=excerpt[:EXCERPT_BYTES],
                   duration=None if duration is None else float(duration),
                   open_runs=open_runs)


def _time(value: Any, name: str, saved_before: float) -> float | None:
    if value is None and name != "since":
        return None
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not 0 <= value <= saved_before):
        raise ValueError(f"{name} is not a time before the file was saved")
    return float(value)
