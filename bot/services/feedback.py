"""One-click feedback on an incident: one verdict per person, changeable, on the record.

Anyone who may see the incident may say how it was handled (a private team's incident only
its responders and admins); the verdict is kept with the alert rule, route and team so the noise
review and replay can count it per rule, and the message re-renders with the new counts.
"""

from __future__ import annotations

from sqlmodel import select

from bot.domain.alerts import IncidentStatus
from bot.domain.errors import DomainError, IncidentNotFound, NothingToDo
from bot.domain.feedback import Verdict
from bot.domain.permissions import Action
from bot.services import audit
from bot.services.actors import Actor, as_actor
from bot.services.context import ServiceContext
from bot.services.notify import sync_everywhere
from bot.services.privacy import ensure_visible
from bot.store import repo
from bot.store.models import FeedbackRow, IncidentRow


async def give(ctx: ServiceContext, incident_id: int, actor: Actor | str, verdict: Verdict,
               *, source: str = "button") -> FeedbackRow:
    """Record (or change) the actor's verdict; a repeat of the same verdict changes nothing."""
    actor = as_actor(actor)
    incident = await _visible_incident(ctx, incident_id, actor)
    await audit.authorize(ctx, Action.FEEDBACK, actor, audit.team_facts(ctx, actor,
                          [incident.team]), team=incident.team,
                          target=f"incident:{incident_id}", incident_id=incident_id)
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        incident = await repo.incident(s, incident_id)
        row = (await s.exec(select(FeedbackRow).where(
            FeedbackRow.incident_id == incident_id, FeedbackRow.user_id == actor.user_id))).first()
        before = row.verdict if row else None
        if before == verdict.value:
            raise NothingToDo(f"You already said *{verdict.label}* about #{incident_id}.")
        if row is None:
            row = FeedbackRow(incident_id=incident_id, user_id=actor.user_id,
                              verdict=verdict.value, source=source, at=now,
                              **await _where(s, incident))
        else:
            row.verdict, row.source, row.at = verdict.value, source, now
        s.add(row)
        changed = f" (was {Verdict(before).label})" if before else ""
        repo.timeline(s, incident_id=incident_id, at=now, kind="feedback", actor=actor.user_id,
                      text=f"<@{actor.user_id}> says: {verdict.label}{changed}",
                      data={"verdict": verdict.value, "before": before, "source": source},
                      mrkdwn=True)
        audit.record(s, now, actor.user_id, Action.FEEDBACK, team=incident.team,
                     target=f"incident:{incident_id}", incident_id=incident_id,
                     before={"verdict": before} if before else None,
                     after={"verdict": verdict.value})
        await sync_everywhere(s, incident, now)
    ctx.wake_delivery()
    return row


async def _visible_incident(ctx: ServiceContext, incident_id: int, actor: Actor) -> IncidentRow:
    async with ctx.db.reader() as s:
        incident = await repo.incident(s, incident_id)
    if incident is None:
        raise IncidentNotFound(incident_id)
    await ensure_visible(ctx, incident, actor, Action.FEEDBACK)
    if incident.status == IncidentStatus.TRIGGERED.value:
        raise DomainError(f"#{incident_id} is not acknowledged yet: feedback opens once someone "
                          "has acked or it has resolved.")
    return incident


async def _where(s, incident: IncidentRow) -> dict[str, str]:
    """The alert rule (the lead alert's alertname), route and team the verdict is about."""
    alerts = await repo.alerts_of_incident(s, incident.id)
    rule = next((a.labels.get("alertname", "") for a in alerts), "")
    return {"rule": rule[:256], "route_key": incident.route_key[:512], "team": incident.team}
