"""Token buckets for the ping endpoint: one per job token, one per client address for
pings with an unknown token. The table is bounded: past ``size`` keys the oldest is
forgotten (a forgotten key starts with a full bucket, the worst a flood of addresses buys)."""

from __future__ import annotations

from collections.abc import Hashable


class Buckets:
    def __init__(self, rate: float, burst: float, size: int) -> None:
        self.rate = rate
        self.burst = burst
        self.size = size
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: Hashable, now: float) -> bool:
        """Whether one request of ``key`` at ``now`` (monotonic seconds) is allowed."""
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - at) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)  # now the newest
        while len(self._buckets) > self.size:
            del self._buckets[next(iter(self._buckets))]
        return allowed

    def keep(self, keys: set[Hashable]) -> None:
        """Forget every key not in ``keys`` (tokens a reload removed)."""
        self._buckets = {k: v for k, v in self._buckets.items() if k in keys}

    def __len__(self) -> int:
        return len(self._buckets)
