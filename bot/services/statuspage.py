"""Publishing an incident to the status page: a person's explicit choice, then kept in step.

`publish` records the choice (permission, audit, timeline) and queues a sync intent; every
later change of a published incident (its state, a new status update) queues another. The
outbox sender (bot/outbound_statuspage.py) renders the current state and talks to the
provider; a sync that fails for good shows on the incident message like any delivery failure.
Never automatic: no severity publishes without a click.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from bot.domain.errors import DomainError, NothingToDo
from bot.domain.permissions import Action
from bot.domain.privacy import visible_title
from bot.domain.share import STATUS_UPDATE, scrub
from bot.domain.text import user_mention
from bot.services import audit, outbox
from bot.services.actors import Actor, as_actor
from bot.services.context import ServiceContext
from bot.services.incidents import check_allowed, recording_denials
from bot.services.statuspage_queue import STATUSPAGE_SYNC, queue, queue_sync
from bot.store import repo
from bot.store.models import StatusPublication, TimelineEvent

__all__ = ["STATUSPAGE_SYNC", "PageState", "page_state", "publish", "queue_sync",
           "request_sync", "synced"]


async def publish(ctx: ServiceContext, incident_id: int, actor: Actor | str) -> None:
    actor, now = as_actor(actor), ctx.clock.now()
    async with recording_denials(ctx, incident_id, actor, Action.PUBLISH), \
            ctx.db.transaction() as s:
        incident = await check_allowed(ctx, s, incident_id, actor, Action.PUBLISH)
        if ctx.config.statuspage is None:
            raise DomainError("No status page is configured (`statuspage:` in oncall.yaml).")
        if await s.get(StatusPublication, incident_id) is not None:
            raise NothingToDo(f"#{incident_id} is already on the status page.")
        s.add(StatusPublication(incident_id=incident_id, published_by=actor.user_id,
                                published_at=now))
        repo.timeline(s, incident_id=incident_id, at=now, kind="status_published",
                      actor=actor.user_id,
                      text=f"{user_mention(actor.user_id)} published to the status page",
                      mrkdwn=True)
        audit.record(s, now, actor.user_id, Action.PUBLISH, team=incident.team,
                     target=f"incident:{incident_id}", incident_id=incident_id,
                     after={"provider": ctx.config.statuspage.provider})
        await queue(s, incident_id, now)
        await outbox.queue_sync(s, incident, now)  # the button goes from the message
    ctx.wake_delivery()


async def request_sync(ctx: ServiceContext, incident_id: int) -> None:
    """For callers outside a transaction, e.g. after a status update row was written."""
    async with ctx.db.transaction() as s:
        incident = await repo.incident(s, incident_id)
        if incident is not None:
            await queue_sync(s, incident, ctx.clock.now())
    ctx.wake_delivery()


@dataclass(frozen=True)
class PageState:
    """What the provider should show now, in public words."""

    incident_id: int
    provider_id: str | None
    name: str
    state: str  # the provider's incident state
    resolved: bool
    severity: str
    service: str
    body: str  # the newest status update not yet sent, else a plain line for the state
    update_id: int | None  # the newest status update the provider has (once this is sent)
    news: bool  # something the provider has not seen: creation, a new state or update


async def page_state(ctx: ServiceContext, incident_id: int) -> PageState | None:
    config = ctx.config.statuspage
    async with ctx.db.reader() as s:
        published = await s.get(StatusPublication, incident_id)
        incident = await repo.incident(s, incident_id)
        if published is None or incident is None or config is None:
            return None
        alerts = await repo.alerts_of_incident(s, incident_id)
        newest = (await s.exec(select(TimelineEvent).where(
            TimelineEvent.incident_id == incident_id, TimelineEvent.kind == STATUS_UPDATE)
            .order_by(col(TimelineEvent.id).desc()).limit(1))).first()
    hidden = ctx.config.hidden_labels(incident.team)
    lead = alerts[0] if alerts else None
    title = visible_title(incident.title, lead.labels, lead.annotations, hidden) if lead \
        else incident.title
    state = config.state_of(incident.status)
    fresh = newest if newest and newest.id != published.sent_update_id else None
    body = fresh.text if fresh else _DEFAULT_BODY.get(state, f"Status: {state}.")
    clean = ctx.config.redact.redactor.text
    return PageState(
        incident_id=incident_id, provider_id=published.provider_id,
        name=scrub(clean(title), allowed_hosts=ctx.config.share.allowed_hosts),
        state=state, resolved=incident.status == "resolved", severity=incident.severity,
        service=incident.service,
        body=scrub(clean(body), allowed_hosts=ctx.config.share.allowed_hosts),
        update_id=fresh.id if fresh else published.sent_update_id,
        news=published.provider_id is None or state != published.sent_state
        or fresh is not None)


_DEFAULT_BODY = {"investigating": "We are investigating the issue.",
                 "identified": "The issue has been identified and we are working on it.",
                 "monitoring": "A fix is in place and we are monitoring.",
                 "resolved": "The issue has been resolved."}


async def synced(ctx: ServiceContext, intent_id: int, sent: PageState,
                 provider_id: str | None) -> None:
    """The provider has it: remember what it saw, settle the intent, say so on the timeline."""
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        published = await s.get(StatusPublication, sent.incident_id)
        first = published.provider_id is None
        published.provider_id = provider_id or published.provider_id
        published.sent_state, published.sent_update_id = sent.state, sent.update_id
        s.add(published)
        await outbox.mark_done(s, intent_id, now)
        repo.timeline(s, incident_id=sent.incident_id, at=now, kind="status_page_synced",
                      actor="bot", text=("created" if first else "updated")
                      + f" on the status page ({sent.state})")
