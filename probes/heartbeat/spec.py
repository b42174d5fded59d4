"""The shape of a heartbeat: which job's pings it judges (its token) and when the job must
report success: every ``period``, or at every ``cron`` time in the service region's time zone,
plus ``grace``; optionally only at due times inside business hours, and with a longest run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, field_validator, model_validator

from probes._kind import SpecBase
from probes._spec import Duration

MIN_TOKEN = 16
MAX_TOKEN = 128
# URL-safe without escaping (RFC 3986 unreserved), so the token is one path segment as is.
TOKEN_RE = re.compile(r"^[A-Za-z0-9._~-]+$")


class HeartbeatSpec(SpecBase):
    """A passive check: the job pings Dozor; each run judges the pings received so far."""

    token: str = Field(description="the job's secret ping token; write it as ${ENV} or "
                       "${file:...}, at least 16 URL-safe characters (A-Z a-z 0-9 . _ ~ -)")
    period: Duration | None = Field(None, description="success expected at least this often")
    cron: str | None = Field(None, description="success expected at each of these times, five "
                             "cron fields in the service region's time zone, e.g. '0 2 * * *'")
    grace: Duration = Field(300.0, description="how late a success may come (default 5m)")
    business_hours_only: bool = Field(False, description="only due times inside business "
                                      "hours count (not nights 22-06, weekends, holidays)")
    max_duration: Duration | None = Field(None, description="a started run still open after "
                                          "this long fails the probe (reason timeout)")

    @field_validator("token")
    @classmethod
    def _token(cls, value: str) -> str:
        # The value is never quoted: it is a secret, or about to become one.
        if len(value) < MIN_TOKEN or len(value) > MAX_TOKEN:
            raise ValueError(f"the token must be {MIN_TOKEN} to {MAX_TOKEN} characters long; "
                             "make one with `openssl rand -hex 16` and give it as ${ENV}")
        if not TOKEN_RE.match(value):
            raise ValueError("the token may hold only A-Z a-z 0-9 . _ ~ - (it is a URL path "
                             "segment as is)")
        return value

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str | None) -> str | None:
        if value is not None:
            if len(value.split()) != 5:
                raise ValueError(f"{value!r} is not five cron fields (minute hour day month "
                                 "weekday), e.g. '0 2 * * *'")
            try:
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a five-field cron expression: {exc}"
                                 ) from None
        return value

    @model_validator(mode="after")
    def _one_expectation(self) -> HeartbeatSpec:
        if (self.period is None) == (self.cron is None):
            raise ValueError("give exactly one of period (e.g. '1d') or cron (e.g. '0 2 * * *')")
        return self

    def latency_objective(self) -> float | None:
        return None

    def measures_latency(self) -> bool:
        return False  # a run judges pings already received: its ~0 s is nobody's latency

    def unique_values(self) -> Iterable[tuple[str, str]]:
        return (("token", self.token),)
