"""APScheduler ticks: each calls a service that finds what is due in the database and acts.

Due times live in our tables, not in APScheduler's job store, so a restart neither loses nor
repeats work. On PostgreSQL several replicas tick: each tick runs under an advisory lock
(services.coordination), so one replica at a time does it, and every action claims its row.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.delivery.worker import DeliveryWorker
from bot.services import (
    audit,
    auto_runbook,
    digests,
    heartbeat,
    paging,
    rotation,
    storm_actions,
    tier_pages,
    triage,
    update_reminders,
)
from bot.services.context import ServiceContext
from bot.services.coordination import once_across_replicas
from bot.services.ingest import release_silences

log = logging.getLogger(__name__)


def schedule(scheduler: AsyncIOScheduler, ctx: ServiceContext, worker: DeliveryWorker) -> None:
    quiet_job_runs()
    scheduler.add_job(worker.wake, IntervalTrigger(seconds=5), id="delivery",
                      name="outbox delivery")
    scheduler.add_job(_logged(paging.tick, ctx), IntervalTrigger(seconds=5), id="escalation",
                      name="escalation and page timers")
    scheduler.add_job(_logged(storm_actions.tick, ctx), IntervalTrigger(seconds=15),
                      id="storms", name="storms that drained")
    scheduler.add_job(_logged(triage.tick, ctx), IntervalTrigger(seconds=5), id="triage",
                      name="triage timeouts")
    scheduler.add_job(_logged(auto_runbook.tick, ctx), IntervalTrigger(seconds=5),
                      id="auto-runbook", name="high-confidence runbook cancel windows")
    scheduler.add_job(_logged(tier_pages.tick, ctx), IntervalTrigger(seconds=30),
                      id="tier-pages", name="tier pages due at the start of business hours")
    scheduler.add_job(_logged(release_silences, ctx), IntervalTrigger(seconds=15),
                      id="silences", name="expired silences and maintenance")
    scheduler.add_job(_logged(rotation.announce_handoffs, ctx), IntervalTrigger(seconds=60),
                      id="rotation-handoffs", name="rotation handoffs")
    scheduler.add_job(_logged(heartbeat.check, ctx), IntervalTrigger(seconds=30),
                      id="heartbeat", name="heartbeat check")
    # Minute ticks, not cron jobs: each sends what is due and unclaimed in digest_run, so a
    # window missed while down still goes out, and once, whichever replica gets there first.
    scheduler.add_job(_logged(digests.cost_tick, ctx), IntervalTrigger(seconds=60),
                      id="cost-digest", name="hourly cost digest")
    scheduler.add_job(_logged(digests.noise_tick, ctx), IntervalTrigger(seconds=60),
                      id="noise-review", name="weekly noise review")
    scheduler.add_job(_logged(update_reminders.tick, ctx), IntervalTrigger(seconds=60),
                      id="update-reminders", name="stakeholder update reminders")
    scheduler.add_job(_logged(audit.prune, ctx), IntervalTrigger(hours=6), id="audit-retention",
                      name="audit trail retention")


class _InfoAsDebug(logging.Filter):
    """Turns a logger's INFO records into DEBUG ones, shown only when DEBUG is enabled."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


_JOB_RUN_LOGGERS = ("apscheduler.executors.default", "apscheduler.scheduler")


def quiet_job_runs() -> None:
    """APScheduler logs every run at INFO (a line every few seconds): make those DEBUG.

    Its warnings and errors (a missed run, a crashed job) keep their level.
    """
    for name in _JOB_RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _InfoAsDebug) for f in logger.filters):
            logger.addFilter(_InfoAsDebug())


def _logged(job: Callable[[ServiceContext], Awaitable[object]],
            ctx: ServiceContext) -> Callable[[], Awaitable[None]]:
    """A failing tick is logged and tried again at the next one; it never stops the scheduler.

    The tick runs on one replica at a time (an advisory lock named after the job)."""
    async def run() -> None:
        try:
            await once_across_replicas(ctx, f"{job.__module__}.{job.__qualname__}", job)
        except Exception:
            log.exception("scheduled job %s failed", job.__qualname__)
    run.__name__ = job.__qualname__
    return run
