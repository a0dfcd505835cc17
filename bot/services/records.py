"""Reading the record: which incident a channel or thread means, notes, the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.domain.errors import DomainError, IncidentNotFound
from bot.domain.permissions import Action
from bot.domain.text import escape_mrkdwn, user_mention
from bot.services import audit
from bot.services.context import ServiceContext
from bot.services.incidents import (
    Actor,
    as_actor,
    check_allowed,
    incident_facts,
    recording_denials,
)
from bot.services.notify import queue_thread_note
from bot.services.privacy import ensure_visible, visible_to
from bot.store import repo
from bot.store.models import ALERT_MESSAGE, IncidentRow, SlackMessage, TimelineEvent


@dataclass(frozen=True)
class Where:
    """Where a command was typed: a channel, and the thread when it came from a mention."""

    channel_id: str
    thread_ts: str | None = None


class AmbiguousIncident(DomainError):
    """No #N and no single open incident here: the user must pick one."""

    def __init__(self, open_ids: list[int], titles: list[str]):
        self.open_ids, self.titles = open_ids, titles
        listing = "; ".join(f"#{i} {t}" for i, t in zip(open_ids, titles, strict=True)) or "none"
        super().__init__(f"Which incident? Name it with #N. Open here: {listing}.")


async def target_incident(ctx: ServiceContext, number: int | None, where: Where) -> int:
    """#N if given; else the thread's incident; else the channel's only open incident."""
    async with ctx.db.reader() as s:
        if number is not None:
            if await repo.incident(s, number) is None:
                raise IncidentNotFound(number)
            return number
        if where.thread_ts:
            found = (await s.exec(select(SlackMessage.incident_id).where(
                SlackMessage.channel_id == where.channel_id,
                SlackMessage.ts == where.thread_ts))).first()
            if found is not None:
                return found
        rows = (await s.exec(
            select(IncidentRow).join(SlackMessage, col(SlackMessage.incident_id) == IncidentRow.id)
            .where(SlackMessage.channel_id == where.channel_id,
                   SlackMessage.kind == ALERT_MESSAGE, IncidentRow.status != "resolved")
            .order_by(col(IncidentRow.id)))).all()
    if len(rows) == 1:
        return rows[0].id
    raise AmbiguousIncident([r.id for r in rows], [r.title for r in rows])


async def local_today(ctx: ServiceContext, where: Where) -> date:
    """Today where the command was typed: the service clock in the time zone of the team whose
    incidents this channel holds (else the config's default), so `due friday` means the
    responder's Friday and tests decide what today is."""
    async with ctx.db.reader() as s:
        team = (await s.exec(
            select(IncidentRow.team).join(SlackMessage,
                                          col(SlackMessage.incident_id) == IncidentRow.id)
            .where(SlackMessage.channel_id == where.channel_id)
            .order_by(col(IncidentRow.id).desc()).limit(1))).first()
    zone = ctx.config.time_zone_of(team) if team else ctx.config.digests.noise.time_zone
    return ctx.clock.now().astimezone(ZoneInfo(zone)).date()


async def add_note(ctx: ServiceContext, incident_id: int, actor: Actor | str, text: str,
                   *, kind: str = "note", data: dict | None = None,
                   quoting: str | None = None) -> None:
    """A note on the timeline, echoed in the incident's thread; `quoting` names the author of
    a copied message. The text is escaped: a note can never mention anyone or hide a link."""
    actor, now = as_actor(actor), ctx.clock.now()
    text = escape_mrkdwn(text)
    if quoting:
        text = f"{user_mention(quoting)} wrote: {text}"
    async with recording_denials(ctx, incident_id, actor, Action.NOTE), \
            ctx.db.transaction() as s:
        incident = await check_allowed(ctx, s, incident_id, actor, Action.NOTE)
        repo.timeline(s, incident_id=incident_id, at=now, kind=kind, actor=actor.user_id,
                      text=text, data=data or {}, mrkdwn=True)
        audit.record(s, now, actor.user_id, Action.NOTE, team=incident.team,
                     target=f"incident:{incident_id}", incident_id=incident_id,
                     after={"kind": kind}, detail=text)
        await queue_thread_note(s, incident, f":memo: <@{actor.user_id}>: {text}", now)
    ctx.wake_delivery()


async def timeline(ctx: ServiceContext, incident_id: int, actor: Actor | str,
                   where: Where | None = None) -> tuple[IncidentRow, list[TimelineEvent]]:
    """In the incident's own channel (and its thread) anyone may read it; elsewhere only its
    team's responders and admins, so another team's private channel does not leak. A private
    team's timeline is its responders' and admins' only, wherever it is asked for."""
    actor = as_actor(actor)
    async with ctx.db.reader() as s:
        incident = await repo.incident(s, incident_id)
        if incident is None:
            raise IncidentNotFound(incident_id)
    await ensure_visible(ctx, incident, actor, Action.READ_TIMELINE)
    async with ctx.db.reader() as s:
        here = where is not None and (await s.exec(select(SlackMessage.id).where(
            SlackMessage.incident_id == incident_id,
            SlackMessage.channel_id == where.channel_id))).first() is not None
        facts = await incident_facts(ctx, s, incident, actor, own=here)
    await audit.authorize(ctx, Action.READ_TIMELINE, actor, facts, team=incident.team,
                          target=f"incident:{incident_id}", incident_id=incident_id)
    async with ctx.db.reader() as s:
        return incident, await repo.timeline_of(s, incident_id)


async def open_incidents(ctx: ServiceContext, actor: Actor | None = None
                         ) -> list[tuple[int, str]]:
    """Open incidents, newest first; with `actor`, only those it may see."""
    async with ctx.db.reader() as s:
        rows = (await s.exec(select(IncidentRow).where(IncidentRow.status != "resolved")
                             .order_by(col(IncidentRow.id).desc()).limit(100))).all()
    return [(r.id, r.title) for r in rows if actor is None or visible_to(ctx, r.team, actor)]
