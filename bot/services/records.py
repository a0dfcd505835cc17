"""Reading the record: which incident a channel or thread means, notes, the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.domain.errors import DomainError, IncidentNotFound
from bot.domain.text import escape_mrkdwn, user_mention
from bot.services.context import ServiceContext
from bot.services.incidents import Actor, as_actor, check_allowed, recording_denials
from bot.services.notify import queue_thread_note
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
    async with recording_denials(ctx, incident_id, actor, "add a note to"), \
            ctx.db.transaction() as s:
        incident = await check_allowed(ctx, s, incident_id, actor, "add a note to")
        repo.timeline(s, incident_id=incident_id, at=now, kind=kind, actor=actor.user_id,
                      text=text, data=data or {}, mrkdwn=True)
        await queue_thread_note(s, incident, f":memo: <@{actor.user_id}>: {text}", now)
    ctx.wake_delivery()


async def timeline(ctx: ServiceContext, incident_id: int) -> tuple[IncidentRow,
                                                                    list[TimelineEvent]]:
    async with ctx.db.reader() as s:
        incident = await repo.incident(s, incident_id)
        if incident is None:
            raise IncidentNotFound(incident_id)
        return incident, await repo.timeline_of(s, incident_id)


async def open_incidents(ctx: ServiceContext) -> list[tuple[int, str]]:
    async with ctx.db.reader() as s:
        rows = (await s.exec(select(IncidentRow).where(IncidentRow.status != "resolved")
                             .order_by(col(IncidentRow.id).desc()).limit(100))).all()
    return [(r.id, r.title) for r in rows]
