"""The journal of a service: what changed and what happened, merged in time order.

Change rows (of the service and what it depends on) and the timeline rows that tell an
incident's story (opened, paged, acked, notes, runbook steps, routed to humans and back,
resolved) become one list of entries, oldest first. A private team's incidents are left out
for a viewer outside it; the CLI (viewer None) sees everything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import col, or_, select

from bot.domain.durations import format_elapsed
from bot.domain.text import unescape_mrkdwn
from bot.services.actors import Actor
from bot.services.context import ServiceContext
from bot.services.context_facts import recent_changes, services_of
from bot.services.privacy import visible_to
from bot.store.models import IncidentRow, TimelineEvent

#: Timeline kinds that belong in a journal (delivery chatter and refusals do not).
KINDS = ("received", "reopened", "paged", "escalated", "tier_page", "acked", "note",
         "runbook_started", "runbook_step", "routed_to_humans", "restored_ai", "handoff_failed",
         "resolved", "unowned", "postmortem_drafted", "action_item")
MAX_ENTRIES = 2000


@dataclass(frozen=True)
class JournalEntry:
    at: datetime
    kind: str  # "change", or the timeline kind
    text: str  # plain text (mrkdwn from the bot is turned back into what it says)
    service: str = ""
    incident: int | None = None
    actor: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        found = asdict(self)
        found["at"] = self.at.isoformat()
        return found


async def service_journal(ctx: ServiceContext, service: str | None, since: datetime,
                          viewer: Actor | None = None) -> list[JournalEntry]:
    """Every entry since `since`, oldest first (at most MAX_ENTRIES, the newest kept)."""
    services = services_of(ctx.config, service) if service else None
    async with ctx.db.reader() as s:
        changes = await recent_changes(s, services, since, limit=MAX_ENTRIES)
        query = select(IncidentRow).where(or_(col(IncidentRow.opened_at) >= since,
                                              col(IncidentRow.resolved_at).is_(None),
                                              col(IncidentRow.resolved_at) >= since))
        if service:
            query = query.where(IncidentRow.service == service)
        incidents = {i.id: i for i in (await s.exec(query)).all()
                     if viewer is None or visible_to(ctx, i.team, viewer)}
        events = (await s.exec(select(TimelineEvent).where(
            col(TimelineEvent.incident_id).in_(list(incidents)), col(TimelineEvent.at) >= since,
            col(TimelineEvent.kind).in_(KINDS)).order_by(col(TimelineEvent.at),
                                                          col(TimelineEvent.id))
            .limit(MAX_ENTRIES))).all() if incidents else []
    entries = [_change(c) for c in changes]
    entries += _story(events, incidents)
    entries.sort(key=lambda e: e.at)
    return entries[-MAX_ENTRIES:]


def _change(change) -> JournalEntry:
    head = f"{change.kind} {change.version}".strip()
    text = head + (f" by {change.author}" if change.author else "") + (
        f": {change.summary}" if change.summary else "")
    return JournalEntry(at=change.at, kind="change", text=text, service=change.service,
                        actor=change.author or None,
                        data={"kind": change.kind, "version": change.version, "url": change.url})


def _story(events, incidents: dict[int, IncidentRow]) -> list[JournalEntry]:
    found, with_humans = [], {}
    for event in events:
        incident = incidents[event.incident_id]
        text = unescape_mrkdwn(event.text) if event.mrkdwn else event.text
        if event.kind == "received":
            text = f"#{incident.id} opened: {incident.title}"
        if event.kind == "routed_to_humans":
            with_humans[incident.id] = event.at
        if event.kind == "restored_ai" and incident.id in with_humans:
            text += f" (with humans for {format_elapsed(event.at - with_humans.pop(incident.id))})"
        found.append(JournalEntry(at=event.at, kind=event.kind, text=text,
                                  service=incident.service, incident=incident.id,
                                  actor=event.actor, data={"team": incident.team}))
    return found
