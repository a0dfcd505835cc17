"""The install's first start, recorded once: a new install has no history worth reviewing."""

from __future__ import annotations

from datetime import datetime

from bot.services.context import ServiceContext
from bot.store import install


async def record_start(ctx: ServiceContext) -> datetime:
    """Called at every start; only the first one is kept. Returns the first start."""
    async with ctx.db.transaction() as s:
        return await install.record_first_start(s, ctx.clock.now())
