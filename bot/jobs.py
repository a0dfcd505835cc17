"""APScheduler ticks: each calls a service that finds what is due in the database and acts.

Due times live in our tables, not in APScheduler's job store, so a restart neither loses nor
repeats work, and on PostgreSQL several replicas may tick: every action claims its row.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.delivery.worker import DeliveryWorker
from bot.services import audit, digests, heartbeat, paging, rotation
from bot.services.context import ServiceContext
from bot.services.ingest import release_silences

log = logging.getLogger(__name__)


def schedule(scheduler: AsyncIOScheduler, ctx: ServiceContext, worker: DeliveryWorker) -> None:
    scheduler.add_job(worker.wake, IntervalTrigger(seconds=5), id="delivery")
    scheduler.add_job(_logged(paging.tick, ctx), IntervalTrigger(seconds=5), id="escalation")
    scheduler.add_job(_logged(release_silences, ctx), IntervalTrigger(seconds=15),
                      id="silences")
    scheduler.add_job(_logged(rotation.announce_handoffs, ctx), IntervalTrigger(seconds=60),
                      id="rotation-handoffs")
    scheduler.add_job(_logged(heartbeat.check, ctx), IntervalTrigger(seconds=30),
                      id="heartbeat")
    # Minute ticks, not cron jobs: each sends what is due and unclaimed in digest_run, so a
    # window missed while down still goes out, and once, whichever replica gets there first.
    scheduler.add_job(_logged(digests.cost_tick, ctx), IntervalTrigger(seconds=60),
                      id="cost-digest")
    scheduler.add_job(_logged(digests.noise_tick, ctx), IntervalTrigger(seconds=60),
                      id="noise-review")
    scheduler.add_job(_logged(audit.prune, ctx), IntervalTrigger(hours=6), id="audit-retention")


def _logged(job: Callable[[ServiceContext], Awaitable[object]],
            ctx: ServiceContext) -> Callable[[], Awaitable[None]]:
    """A failing tick is logged and tried again at the next one; it never stops the scheduler."""
    async def run() -> None:
        try:
            await job(ctx)
        except Exception:
            log.exception("scheduled job %s failed", job.__qualname__)
    run.__name__ = job.__qualname__
    return run
