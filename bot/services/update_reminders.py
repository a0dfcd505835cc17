"""The reminder tick: a sev1/sev2 incident owes its stakeholders an update every
`teams.X.update_every`; when one is overdue, its thread says so, mentioning whoever acked it.

Once per interval: the reminder is itself a timeline row, and the next one is due an interval
after the latest of the opening, the last update and the last reminder. On PostgreSQL, where
several replicas tick, an advisory lock per incident makes the second replica read the first
one's reminder before it decides.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy import text as sql
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import IncidentStatus
from bot.domain.stakeholders import URGENT_SEVERITIES, update_reminder_due
from bot.services.context import ServiceContext
from bot.services.notify import queue_thread_note
from bot.services.status_updates import STATUS_UPDATE
from bot.store import repo
from bot.store.models import IncidentRow, TimelineEvent

REMINDER = "update_reminder"
DEFAULT_EVERY = timedelta(minutes=30)
_LOCK_KEY = 0x0C0A15  # pg_advisory_xact_lock(_LOCK_KEY, incident id)


async def tick(ctx: ServiceContext) -> int:
    """Remind every overdue urgent incident once; returns how many were reminded."""
    now, reminded = ctx.clock.now(), 0
    async with ctx.db.reader() as s:
        open_ids = (await s.exec(select(IncidentRow.id).where(
            IncidentRow.status != IncidentStatus.RESOLVED.value,
            func.lower(IncidentRow.severity).in_(sorted(URGENT_SEVERITIES)))
            .order_by(col(IncidentRow.id)))).all()
    for incident_id in open_ids:
        async with ctx.db.transaction() as s:
            reminded += await _remind_if_due(ctx, s, incident_id, now)
    if reminded:
        ctx.wake_delivery()
    return reminded


async def _remind_if_due(ctx: ServiceContext, s: AsyncSession, incident_id: int,
                         now: datetime) -> bool:
    if ctx.db.dialect == "postgresql":
        await s.exec(sql("select pg_advisory_xact_lock(:key, :id)").bindparams(
            key=_LOCK_KEY, id=incident_id))
    incident = await repo.incident(s, incident_id)
    if incident is None or incident.status == IncidentStatus.RESOLVED.value:
        return False
    team = ctx.config.teams.get(incident.team)
    every = team.update_every if team else DEFAULT_EVERY
    if not update_reminder_due(severity=incident.severity, opened_at=incident.opened_at,
                               last_update=await _last(s, incident_id, STATUS_UPDATE),
                               last_reminder=await _last(s, incident_id, REMINDER),
                               every=every, now=now):
        return False
    minutes = int(every.total_seconds() // 60)
    who = f"<@{incident.acked_by}>" if incident.acked_by else "Whoever takes this"
    text = (f":bell: {who}: no stakeholder update on #{incident.id} for {minutes} minutes. "
            f"Post one with `/oncall update #{incident.id} ...` or the *Post update* button.")
    repo.timeline(s, incident_id=incident_id, at=now, kind=REMINDER, actor="bot", text=text,
                  data={"every_seconds": every.total_seconds()}, mrkdwn=True)
    await queue_thread_note(s, incident, text, now)
    return True


async def _last(s: AsyncSession, incident_id: int, kind: str) -> datetime | None:
    return (await s.exec(select(func.max(TimelineEvent.at)).where(
        TimelineEvent.incident_id == incident_id, TimelineEvent.kind == kind))).one()
