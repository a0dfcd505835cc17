"""Token buckets per Slack rate-limit scope (a method workspace-wide, posts per channel).

With several replicas the buckets live in the database (`shared`): the local bucket then only
keeps this process from asking the database for every waiting call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Paces calls to stay under Slack's limits rather than earn a 429 (waits are short).

    After a 429 in a scope (`slow_down`), that scope's burst drops to one call and its rate
    to `SLOWER` of what we thought, for the life of the process: Slack does not publish its
    burst sizes, so what it refused once we do not try again.
    """

    SLOWER = 0.9

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 shared: Callable[[str, float, int], Awaitable[float]] | None = None,
                 shared_hold: Callable[[str, float, float], Awaitable[None]] | None = None):
        self.clock, self.shared, self.shared_hold = clock, shared, shared_hold
        self._buckets: dict[str, _Bucket] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._slowed: set[str] = set()

    def slow_down(self, key: str) -> None:
        """Slack said 429 in this scope: no bursts from now on, and a little slower."""
        self._slowed.add(key)
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens, bucket.updated = 0.0, self.clock()

    async def hold(self, key: str, rate: float, seconds: float) -> None:
        """Slack said 429 with this Retry-After: with shared buckets, every replica waits it
        out (this process also holds the scope back by its own cooldown)."""
        if self.shared_hold is not None:
            await self.shared_hold(key, rate, seconds)

    def delay(self, key: str, rate: float, burst: int) -> float:
        """Seconds until a call in `key` may go; takes the token when it may go now."""
        if key in self._slowed:
            rate, burst = rate * self.SLOWER, 1
        now = self.clock()
        bucket = self._buckets.setdefault(key, _Bucket(tokens=burst, updated=now))
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate

    async def acquire(self, key: str, rate: float, burst: int) -> None:
        async with self._locks.setdefault(key, asyncio.Lock()):
            if self.shared is not None:
                while (wait := await self.shared(key, rate, burst)) > 0:
                    await asyncio.sleep(wait)
                return
            while (wait := self.delay(key, rate, burst)) > 0:
                await asyncio.sleep(wait)
