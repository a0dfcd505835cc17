"""The install's own record: when it first started."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store import repo
from bot.store.models import InstallInfo


async def first_start(s: AsyncSession) -> datetime | None:
    row = await s.get(InstallInfo, 1)
    return row.first_started_at if row is not None else None


async def record_first_start(s: AsyncSession, now: datetime) -> datetime:
    """Keep the earliest start: later starts, and replicas starting together, change nothing."""
    await repo.insert_ignore(s, InstallInfo, {"id": 1, "first_started_at": now}, ["id"])
    return await first_start(s) or now
