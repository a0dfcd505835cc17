"""Responder actions on an incident: acknowledge and resolve. One transaction each."""

from __future__ import annotations

import contextlib

from bot.domain.alerts import IncidentStatus
from bot.domain.errors import IncidentNotFound, NotAllowed, NothingToDo
from bot.domain.permissions import may_act
from bot.services.context import ServiceContext
from bot.services.outbox import queue_sync
from bot.store import repo
from bot.store.models import IncidentRow


async def acknowledge(ctx: ServiceContext, incident_id: int, actor: str) -> IncidentRow:
    """Triggered -> acknowledged; the conditional UPDATE makes a double click a no-op."""
    async with _recording_denials(ctx, incident_id, actor, "acknowledge"):
        return await _acknowledge(ctx, incident_id, actor)


async def _acknowledge(ctx: ServiceContext, incident_id: int, actor: str) -> IncidentRow:
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        incident = await _allowed(ctx, s, incident_id, actor, "acknowledge")
        changed = await repo.set_where(
            s, IncidentRow,
            [IncidentRow.id == incident_id, IncidentRow.status == IncidentStatus.TRIGGERED.value],
            {"status": IncidentStatus.ACKNOWLEDGED.value, "acked_by": actor, "acked_at": now})
        if not changed:
            raise NothingToDo(_already(incident))
        repo.timeline(s, incident_id=incident_id, at=now, kind="acked", actor=actor,
                      text=f"acknowledged by <@{actor}>")
        await s.refresh(incident)
        await queue_sync(s, incident, now)
    ctx.wake_delivery()
    return incident


async def resolve(ctx: ServiceContext, incident_id: int, actor: str,
                  note: str = "") -> IncidentRow:
    """Any open state -> resolved; frees the group so the next alert opens a new incident."""
    async with _recording_denials(ctx, incident_id, actor, "resolve"):
        return await _resolve(ctx, incident_id, actor, note)


async def _resolve(ctx: ServiceContext, incident_id: int, actor: str, note: str) -> IncidentRow:
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        incident = await _allowed(ctx, s, incident_id, actor, "resolve")
        changed = await repo.set_where(
            s, IncidentRow,
            [IncidentRow.id == incident_id, IncidentRow.status != IncidentStatus.RESOLVED.value],
            {"status": IncidentStatus.RESOLVED.value, "resolved_by": actor, "resolved_at": now,
             "open_key": None})
        if not changed:
            raise NothingToDo(_already(incident))
        firing = await repo.firing_count(s, incident_id)
        text = f"resolved by <@{actor}>" + (f": {note}" if note else "")
        repo.timeline(s, incident_id=incident_id, at=now, kind="resolved", actor=actor, text=text,
                      data={"note": note, "still_firing_at_source": firing})
        await s.refresh(incident)
        await queue_sync(s, incident, now)
    ctx.wake_delivery()
    return incident


async def _allowed(ctx: ServiceContext, s, incident_id: int, actor: str, verb: str) -> IncidentRow:
    incident = await repo.incident(s, incident_id)
    if incident is None:
        raise IncidentNotFound(incident_id)
    team = ctx.config.teams.get(incident.team)
    responders = team.responders if team else []
    if not may_act(actor, responders=responders, admins=ctx.config.admins):
        raise NotAllowed(f"Only {incident.team}'s responders and admins can {verb} "
                         f"#{incident_id}. Ask in the channel, or an admin to add you to "
                         f"teams.{incident.team}.responders in oncall.yaml.")
    return incident


@contextlib.asynccontextmanager
async def _recording_denials(ctx: ServiceContext, incident_id: int, actor: str, verb: str):
    """A refused action still goes on the timeline, in its own transaction."""
    try:
        yield
    except NotAllowed:
        async with ctx.db.transaction() as s:
            repo.timeline(s, incident_id=incident_id, at=ctx.clock.now(), kind="denied",
                          actor=actor, text=f"<@{actor}> was not allowed to {verb}")
        raise


def _already(incident: IncidentRow) -> str:
    if incident.status == IncidentStatus.RESOLVED.value:
        who = f"<@{incident.resolved_by}>" if incident.resolved_by else "the source"
        return f"#{incident.id} is already resolved (by {who})."
    return f"#{incident.id} is already acknowledged by <@{incident.acked_by}>."
