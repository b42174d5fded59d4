"""Checking basic-auth passwords without letting any client stall the daemon.

bcrypt is slow on purpose (~250 ms of CPU at cost 12). Run on the event loop, every wrong
password would freeze the probes' timing, so an unauthenticated client could make healthy
services look slow. Here:

- checks run in a small thread pool (bcrypt releases the GIL) at a lower CPU priority than
  the loop, behind a bounded queue: when it is full the answer is 503 at once, never a
  queue without limit;
- each client address may fail only so often (a token bucket; IPv6 by /64): past that the
  answer is 429 without looking at the password at all, so a flood costs no bcrypt;
- a success is remembered (a keyed digest of the credentials, never the password), so the
  scraper that logs in every 15 s pays bcrypt once, as exporter-toolkit does;
- an unknown user is checked against a dummy hash at the highest configured cost, so the
  time of an answer does not say which users exist.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import enum
import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import bcrypt

from monitor.listener import address_key


class Verdict(enum.Enum):
    ALLOWED = "allowed"
    DENIED = "denied"  # 401
    LIMITED = "limited"  # 429: this address failed too often
    BUSY = "busy"  # 503: every check slot is taken


@dataclass(frozen=True)
class PasswordLimits:
    """Defaults documented in the README ("Locked down")."""

    threads: int = 1  # concurrent bcrypt checks: at most this many cores go to logins
    queue: int = 8  # checks that may wait for a thread; past that: 503
    failures_burst: int = 10  # wrong passwords an address may send at once ...
    failures_per_minute: float = 10.0  # ... and then at this rate; past that: 429
    addresses: int = 4096  # addresses whose failures are remembered (oldest forgotten)
    remembered_logins: int = 64  # successful credentials remembered (oldest forgotten)


def bcrypt_cost(hashed: bytes) -> int:
    """The cost of a modular-crypt bcrypt hash: ``$2b$12$...`` -> 12."""
    parts = hashed.split(b"$")
    if len(parts) < 4 or not parts[2].isdigit():
        raise ValueError("not a bcrypt hash")
    return int(parts[2])


def dummy_hash(users: Mapping[str, bytes]) -> bytes:
    """A hash for unknown users that costs what the dearest real one costs."""
    cost = max((bcrypt_cost(h) for h in users.values()), default=4)
    return bcrypt.hashpw(os.urandom(16).hex().encode(), bcrypt.gensalt(cost))


@dataclass
class _Bucket:
    tokens: float
    at: float


class PasswordCheck:
    """Basic-auth verification for one listener. ``users`` maps user -> bcrypt hash."""

    def __init__(self, users: Mapping[str, bytes], dummy: bytes,
                 limits: PasswordLimits | None = None) -> None:
        self._users = dict(users)
        self._dummy = dummy
        self.limits = limits or PasswordLimits()
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight = 0
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._good: OrderedDict[bytes, None] = OrderedDict()
        self._key = os.urandom(32)  # the remembered digests mean nothing outside this process
        self.bcrypt_checks = 0  # how many reached bcrypt
        self.verdicts = dict.fromkeys(Verdict, 0)  # every check's outcome, for /metrics

    @property
    def enabled(self) -> bool:
        return bool(self._users)

    def retry_after(self, client: str | None) -> int:
        """Seconds until ``client`` may try a password again (for 429's Retry-After)."""
        bucket = self._buckets.get(address_key(client))
        if bucket is None:
            return 0
        missing = 1.0 - self._refill(bucket, time.monotonic())
        return max(1, int(missing * 60.0 / self.limits.failures_per_minute + 0.999))

    async def check(self, header: str | None, client: str | None) -> Verdict:
        verdict = await self._check(header, client)
        self.verdicts[verdict] += 1
        return verdict

    async def _check(self, header: str | None, client: str | None) -> Verdict:
        if not self._users:
            return Verdict.ALLOWED
        credentials = _parse(header)
        if credentials is None:
            return Verdict.DENIED
        user, password = credentials
        digest = hashlib.blake2b(f"{user}\0{password}".encode(), key=self._key).digest()
        if digest in self._good:
            self._good.move_to_end(digest)
            return Verdict.ALLOWED
        key = address_key(client)
        if not self._may_fail(key):
            return Verdict.LIMITED
        limits = self.limits
        if self._in_flight >= limits.threads + limits.queue:
            return Verdict.BUSY
        hashed = self._users.get(user)
        candidate = hashed if hashed is not None else self._dummy
        self._in_flight += 1
        self.bcrypt_checks += 1
        try:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(limits.threads, thread_name_prefix="dozor-bcrypt",
                                                initializer=_yield_cpu)
            ok = await asyncio.get_running_loop().run_in_executor(
                self._pool, bcrypt.checkpw, password.encode(), candidate)
        finally:
            self._in_flight -= 1
        if ok and hashed is not None:
            self._good[digest] = None
            if len(self._good) > limits.remembered_logins:
                self._good.popitem(last=False)
            return Verdict.ALLOWED
        self._failed(key)
        return Verdict.DENIED

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _refill(self, bucket: _Bucket, now: float) -> float:
        limits = self.limits
        rate = limits.failures_per_minute / 60.0
        bucket.tokens = min(float(limits.failures_burst), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        return bucket.tokens

    def _may_fail(self, key: str) -> bool:
        """Whether this address has a failure left to spend (checked before bcrypt, so a
        limited address costs nothing; spent only when the password is wrong)."""
        bucket = self._buckets.get(key)
        return bucket is None or self._refill(bucket, time.monotonic()) >= 1.0

    def _failed(self, key: str) -> None:
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.limits.failures_burst), now)
            if len(self._buckets) > self.limits.addresses:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            self._refill(bucket, now)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)


# The checking threads' nice value: on a core shared with the probes' loop, the loop runs first.
CHECK_NICENESS = 10


def _yield_cpu() -> None:
    """Lower this thread's priority (Linux: niceness is per thread), so that logins take
    CPU only when the probes leave some."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECK_NICENESS)


def _parse(header: str | None) -> tuple[str, str] | None:
    if header is None or not header.startswith("Basic "):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None
