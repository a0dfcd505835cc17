"""Slack's rate budgets held in the database when several replicas may call Slack at once.

On SQLite there is one process and its in-memory limiter is the whole truth; on PostgreSQL
every replica spends from the same buckets (bot/store/budgets.py), so two replicas draw no
429 that one would not. Slack's limits run on real time, not the business clock.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from bot.services.context import ServiceContext
from bot.store import budgets

Taker = Callable[[str, float, int], Awaitable[float]]
Holder = Callable[[str, float, float], Awaitable[None]]


def shared_taker(ctx: ServiceContext) -> Taker | None:
    """A `take(scope, rate, burst) -> seconds to wait` over shared buckets, or None when this
    process is the only one (SQLite)."""
    if ctx.db.dialect != "postgresql":
        return None

    async def take(key: str, rate: float, burst: int) -> float:
        async with ctx.db.transaction() as s:
            return await budgets.take(s, key, rate, burst, time.time())  # wall clock ok
    return take


def shared_holder(ctx: ServiceContext) -> Holder | None:
    """A `hold(scope, rate, seconds)` that makes every replica wait out a Retry-After one of
    them was given, or None when this process is the only one (SQLite)."""
    if ctx.db.dialect != "postgresql":
        return None

    async def hold(key: str, rate: float, seconds: float) -> None:
        async with ctx.db.transaction() as s:
            await budgets.hold(s, key, rate, seconds, time.time())  # wall clock ok
    return hold
