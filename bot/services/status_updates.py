"""Stakeholder updates: what responders tell everyone else, on the record and where they read.

An update is a timeline row of kind `status_update` (public: the status page and the shared
journal read these rows), authored by the person, with their text as typed (escaped wherever
it is shown). It is posted in the incident's thread and in the team's `status_channel`.
"""

from __future__ import annotations

from bot.domain.errors import DomainError
from bot.domain.permissions import Action
from bot.domain.text import escape_mrkdwn
from bot.services import audit, statuspage_queue
from bot.services.actors import Actor, as_actor
from bot.services.context import ServiceContext
from bot.services.home_refresh import queue_homes_of
from bot.services.incidents import check_allowed, recording_denials
from bot.services.notify import queue_thread_note
from bot.store.models import TimelineEvent

STATUS_UPDATE = "status_update"  # the timeline kind wip/share reads: keep the name
MAX_UPDATE = 3000


async def post_update(ctx: ServiceContext, incident_id: int, text: str,
                      user: Actor | str) -> TimelineEvent:
    """Record the update and queue its posts, in one transaction; returns the timeline row."""
    actor, now = as_actor(user), ctx.clock.now()
    text = ctx.config.redact.redactor.text(text.strip())
    if not text:
        raise DomainError("An update needs text: what is happening, what is next.")
    if len(text) > MAX_UPDATE:
        raise DomainError(f"The update is {len(text)} characters; keep it under {MAX_UPDATE}.")
    async with recording_denials(ctx, incident_id, actor, Action.STATUS_UPDATE), \
            ctx.db.transaction() as s:
        incident = await check_allowed(ctx, s, incident_id, actor, Action.STATUS_UPDATE)
        row = TimelineEvent(incident_id=incident_id, at=now, kind=STATUS_UPDATE,
                            actor=actor.user_id, text=text, data={"public": True})
        s.add(row)
        shown = escape_mrkdwn(text)
        await queue_thread_note(s, incident, f":loudspeaker: *Status update* from "
                                             f"<@{actor.user_id}>:\n{shown}", now)
        team = ctx.config.teams.get(incident.team)
        if team is not None and team.status_channel:
            await queue_thread_note(
                s, incident, f":loudspeaker: *#{incident.id} {escape_mrkdwn(incident.title)}* "
                             f"({incident.status}), update from <@{actor.user_id}>:\n{shown}",
                now, channel=team.status_channel)
        audit.record(s, now, actor.user_id, Action.STATUS_UPDATE, team=incident.team,
                     target=f"incident:{incident_id}", incident_id=incident_id, detail=text)
        await queue_homes_of(s, incident, now)
        await statuspage_queue.queue_sync(s, incident, now)  # published: the page says it too
        await s.flush()
        await s.refresh(row)
    ctx.wake_delivery()
    return row
