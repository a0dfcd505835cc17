"""Scheduler ticks run once across replicas: each holds an advisory lock while it works.

Every tick already claims its rows (a due incident, a digest window, a silence release), so a
late second run finds nothing to do; the lock keeps two replicas from doing the same tick's
reading and rendering at the same moment, and makes "each tick once" hold by construction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.services.context import ServiceContext
from bot.store import locks

log = logging.getLogger(__name__)


async def once_across_replicas(ctx: ServiceContext, name: str,
                               job: Callable[[ServiceContext], Awaitable[object]]) -> bool:
    """Run `job` unless another replica is running the tick `name` now; True when it ran."""
    async with locks.exclusive(ctx.db, f"tick:{name}") as mine:
        if not mine:
            log.debug("tick %s is running on another replica: skipped here", name)
            return False
        await job(ctx)
        return True
