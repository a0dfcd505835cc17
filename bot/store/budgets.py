"""Token buckets in SQL: Slack's workspace-wide budgets shared by every replica.

One row per scope (`update`, `dnd.info`, `post:<channel>`...): tokens left as of `updated`
(epoch seconds). Taking a token locks the row for the rest of the caller's (short)
transaction, so two replicas never both spend the last one.
"""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store import repo
from bot.store.models import RateBudget


async def take(s: AsyncSession, key: str, rate: float, burst: int, now: float) -> float:
    """Spend one token of `key` if there is one (0.0), else the seconds until there is."""
    await repo.insert_ignore(s, RateBudget, {"key": key, "tokens": float(burst), "updated": now},
                             ["key"])
    bucket = (await s.exec(select(RateBudget).where(RateBudget.key == key)
                           .with_for_update())).one()
    tokens = min(float(burst), bucket.tokens + max(now - bucket.updated, 0.0) * rate)
    wait = 0.0 if tokens >= 1 else (1 - tokens) / rate
    bucket.tokens, bucket.updated = (tokens - 1 if wait == 0.0 else tokens), max(now,
                                                                                bucket.updated)
    s.add(bucket)
    return wait


async def hold(s: AsyncSession, key: str, rate: float, seconds: float, now: float) -> None:
    """Slack answered 429 with `Retry-After: seconds`: empty the bucket so that no replica's
    next token comes before then (the bucket refills to one token at `now + seconds`)."""
    await repo.insert_ignore(s, RateBudget, {"key": key, "tokens": 0.0, "updated": now}, ["key"])
    bucket = (await s.exec(select(RateBudget).where(RateBudget.key == key)
                           .with_for_update())).one()
    bucket.tokens, bucket.updated = min(bucket.tokens, 1 - seconds * rate), max(now,
                                                                               bucket.updated)
    s.add(bucket)
