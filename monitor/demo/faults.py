"""How each fault turns a request into a status and a delay.

Pure functions of the service's local time and a random source, so the test can pin the clock
and the seed and know what comes back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from monitor.demo.sites import Fault

NIGHT_HOURS = range(1, 4)  # 01:00–03:59 local: a nightly batch window nobody announced
HOURLY_MINUTES = range(10)  # minutes 00–09 of every hour: a cron job that restarts the backend
# The single sign-on platform is down five minutes in every twenty (minutes 10–14, 30–34,
# 50–54): often enough that a demo sees its page to the platform's curator, and the pages
# of the services behind it held back, within its first twenty minutes.
SSO_CYCLE_MINUTES = 20
SSO_DOWN_MINUTES = range(10, 15)
FLAKY_SHARE = 0.05
SLOW_SHARE = 0.20
SLOW_DELAY = (1.5, 2.5)  # seconds; the slow service's latency objective is 1 s
HEALTHY_DELAY = (0.010, 0.080)


@dataclass(frozen=True)
class Outcome:
    status: int  # 200 means "serve the normal page"
    delay: float  # seconds before answering, before the world's time scale


def decide(fault: Fault, local_now: datetime, rng: random.Random) -> Outcome:
    jitter = rng.uniform(*HEALTHY_DELAY)
    if fault == "night" and local_now.hour in NIGHT_HOURS:
        return Outcome(503, jitter)
    if fault == "hourly" and hourly_fault_on(local_now):
        return Outcome(502, jitter)
    if fault == "sso" and sso_down(local_now):
        return Outcome(503, jitter)
    if fault == "flaky" and rng.random() < FLAKY_SHARE:
        return Outcome(500, jitter)
    if fault == "slow" and rng.random() < SLOW_SHARE:
        return Outcome(200, rng.uniform(*SLOW_DELAY))
    return Outcome(200, jitter)


def hourly_fault_on(local_now: datetime) -> bool:
    """The cron job behind the "hourly" fault is restarting the backend: its sites answer 502,
    its DNS record serves the old address and its gRPC service is NOT_SERVING."""
    return local_now.minute in HOURLY_MINUTES


def sso_down(now: datetime) -> bool:
    """The single sign-on platform is down: its login page and the pages behind it answer
    503."""
    return now.minute % SSO_CYCLE_MINUTES in SSO_DOWN_MINUTES
