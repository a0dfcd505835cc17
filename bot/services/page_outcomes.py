"""What became of each page that its sender learns at send time: user group members found
(or none), Do Not Disturb, re-page DMs.

Adapters report here; each report is one transaction that records the page row, a timeline row
and a re-render of the incident message, so nobody believes a page went out that did not. A
page whose outbox intent fails for good is recorded by `delivery_failures.record` instead (the
one door for outbox failures); a failed page written here reads the same (`mark_page_failed`).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import IncidentStatus
from bot.domain.text import escape_mrkdwn
from bot.services.context import ServiceContext
from bot.services.delivery_failures import mark_page_failed
from bot.services.notify import queue_dm_sync
from bot.services.outbox import SYNC_MESSAGE, mark_done, queue_sync
from bot.services.paging import FAILED, SKIPPED
from bot.store import repo
from bot.store.models import ALERT_MESSAGE, IncidentRow, OutboxIntent, PageRow, SlackMessage

DM_MESSAGE = "dm"


async def page_group_members(ctx: ServiceContext, intent_id: int, incident_id: int, group: str,
                             step: int, level: int, members: list[str] | None,
                             error: str | None = None) -> list[str]:
    """A paged user group's members (or why they are unknown): record and DM each member, so
    they count as paged and may act; settles the lookup's intent in the same transaction.
    Returns the members paged now."""
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        await mark_done(s, intent_id, now)
        incident = await repo.incident(s, incident_id)
        if incident is None or incident.status != IncidentStatus.TRIGGERED.value:
            return []  # acknowledged or resolved meanwhile: an ack wins over a late page
        fresh = await _page_members(s, incident, group, step, level, members or [], now)
        if not fresh and (error or not members):
            reason = (f"usergroups.users.list failed: {error}" if error
                      else "user group has no members")
            await _mark(s, incident_id, "usergroup", group, FAILED if error else SKIPPED,
                        reason, now, step=step)
        await queue_sync(s, incident, now)
    ctx.wake_delivery()
    return fresh


async def _page_members(s: AsyncSession, incident: IncidentRow, group: str, step: int,
                        level: int, members: list[str], now: datetime) -> list[str]:
    done = set((await s.exec(select(PageRow.target).where(
        PageRow.incident_id == incident.id, PageRow.step == step,
        PageRow.target_kind == "user"))).all())
    fresh = [m for m in dict.fromkeys(members) if m not in done]
    for member in fresh:
        s.add(PageRow(incident_id=incident.id, step=step, level=level, target_kind="user",
                      target=member, at=now))
        await queue_dm_sync(s, incident, member, now, page=True)
    if fresh:
        repo.timeline(s, incident_id=incident.id, at=now, kind="paged", actor="bot",
                      text=f"level {level}: paged the members of <!subteam^{group}>: "
                           + ", ".join(f"<@{m}>" for m in fresh),
                      data={"level": level, "usergroup": group, "people": fresh}, mrkdwn=True)
    return fresh


async def record_dnd(ctx: ServiceContext, incident_id: int, user: str, until: datetime) -> None:
    """A paged person is in Do Not Disturb: show it, so the channel knows the DM is silent;
    with no pager on their level nothing wakes them, and that is listed as a failed page."""
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        await repo.set_where(s, PageRow, [PageRow.incident_id == incident_id,
                                          PageRow.target == user, PageRow.target_kind == "user"],
                             {"dnd_until": until})
        repo.timeline(s, incident_id=incident_id, at=now, kind="dnd", actor="bot",
                      text=f"<@{user}> is in Do Not Disturb until {until:%H:%M} UTC: "
                           "the DM will not wake them", data={"until": until.isoformat()},
                      mrkdwn=True)
        latest = await _latest(s, incident_id, "user", user)
        if latest is not None and not await _has_pager(s, incident_id, latest.step):
            where = f"level {latest.level}" if latest.level else "a page by hand"
            await _mark(s, incident_id, "user", user, FAILED,
                        f"in Do Not Disturb until {until:%H:%M} UTC and {where} has no "
                        "pager: nothing wakes them", now)
        incident = await repo.incident(s, incident_id)
        await queue_sync(s, incident, now)
    ctx.wake_delivery()


async def record_repage_dm(ctx: ServiceContext, intent_id: int, incident_id: int, user: str,
                           channel: str, ts: str) -> None:
    """A fresh page DM replaces the old one as the one kept up to date."""
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        await mark_done(s, intent_id, now)
        await repo.set_where(s, SlackMessage, [
            SlackMessage.incident_id == incident_id, SlackMessage.kind == DM_MESSAGE,
            SlackMessage.recipient == user],
            {"channel_id": channel, "ts": ts, "intent_id": intent_id, "posted_at": now})
        repo.timeline(s, incident_id=incident_id, at=now, kind="dm_sent", actor="bot",
                      text=f"paged <@{user}> again by DM", mrkdwn=True)


async def awaiting_message(ctx: ServiceContext, incident_id: int) -> bool:
    """The incident's channel message is about to be posted (queued, not yet in Slack)."""
    async with ctx.db.reader() as s:
        if await repo.slack_message(s, incident_id, ALERT_MESSAGE) is not None:
            return False
        waiting = (await s.exec(select(OutboxIntent.id).where(
            OutboxIntent.incident_id == incident_id, OutboxIntent.kind == SYNC_MESSAGE,
            col(OutboxIntent.state).in_(("pending", "inflight"))))).first()
    return waiting is not None


async def _latest(s: AsyncSession, incident_id: int, kind: str, target: str) -> PageRow | None:
    return (await s.exec(select(PageRow).where(
        PageRow.incident_id == incident_id, PageRow.target_kind == kind,
        PageRow.target == target).order_by(col(PageRow.id).desc()))).first()


async def _has_pager(s: AsyncSession, incident_id: int, step: int) -> bool:
    found = (await s.exec(select(PageRow.id).where(
        PageRow.incident_id == incident_id, PageRow.step == step,
        PageRow.target_kind == "pager", PageRow.outcome != FAILED))).first()
    return found is not None


async def _mark(s: AsyncSession, incident_id: int, kind: str, target: str, outcome: str,
                reason: str, now: datetime, *, step: int | None = None) -> None:
    """Set the outcome on the target's latest page row and put it on the timeline."""
    row = await _latest(s, incident_id, kind, target)
    if step is not None and row is not None and row.step != step:
        row = None
    if row is None:
        return
    if outcome == FAILED:
        mark_page_failed(s, row, reason, now)
        return
    row.outcome, row.error = outcome, reason[:512]
    s.add(row)
    shown = {"user": f"<@{target}>", "usergroup": f"<!subteam^{target}>",
             "pager": f"pager {escape_mrkdwn(target)}"}.get(kind, escape_mrkdwn(target))
    where = f"level {row.level}" if row.level else "by hand"
    repo.timeline(s, incident_id=incident_id, at=now, kind=f"page_{outcome}", actor="bot",
                  text=f"{where}: {shown} not paged: {escape_mrkdwn(reason)}",
                  data={"target_kind": kind, "target": target, "level": row.level,
                        "reason": reason}, mrkdwn=True)
