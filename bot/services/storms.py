"""Storm mode: a channel whose backlog of first posts is too long becomes one live summary.

Enter (from delivery, when it is about to make a first post and sees the backlog), join (from
`queue_sync`, for every incident of a stormy channel that has no message of its own), leave
(a tick, once nothing joined for `storm.leave_after`). One transaction each. Entering is a
conditional insert on `storm.active_channel` (unique while the storm lasts), so two workers or
replicas racing make one storm. Every member's timeline says when it joined and left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.storm import StormEntry, StormSummary, summarize
from bot.services.context import ServiceContext
from bot.services.leases import LeaseLost, fenced
from bot.store import repo
from bot.store.models import (
    ALERT_MESSAGE,
    AlertRow,
    IncidentAlert,
    IncidentRow,
    OutboxIntent,
    SlackMessage,
    StormMember,
    StormRow,
    TimelineEvent,
)

STORM_SYNC = "storm_sync"  # post the summary, or edit it (at most every storm.update_every)
STORM_LIST = "storm_list"  # list new members in the summary's thread, at once
_FOLDABLE = ("sync_message", "thread_note")  # a folded incident's channel posts


def storm_lane(channel: str, part: str = "summary") -> str:
    """Lanes of their own: the summary never waits behind the backlog it replaces, and the
    thread list never waits for the summary's next edit."""
    return f"storm:{part}:{channel}"


async def active(s: AsyncSession, channel: str) -> StormRow | None:
    return (await s.exec(select(StormRow).where(StormRow.active_channel == channel))).first()


async def queue_storm_sync(s: AsyncSession, storm: StormRow, at: datetime) -> None:
    """List new members now and re-render the summary when its next edit is allowed; asks
    made before delivery gets to them coalesce into one of each."""
    await repo.enqueue(s, kind=STORM_LIST, lane=storm_lane(storm.channel, "list"), at=at,
                       payload={"storm_id": storm.id}, pending_key=f"storm-list:{storm.id}")
    due = at
    if storm.summary_updated_at is not None and storm.ended_at is None:
        due = max(at, storm.summary_updated_at + timedelta(seconds=storm.update_every_s))
    await repo.enqueue(s, kind=STORM_SYNC, lane=storm_lane(storm.channel), at=due,
                       payload={"storm_id": storm.id}, pending_key=f"storm:{storm.id}")


async def absorbs(s: AsyncSession, incident: IncidentRow, at: datetime) -> bool:
    """Called where a sync of the incident's message is asked for: True when the incident
    has no message of its own and its channel is in a storm, so the summary shows it."""
    return incident.id in await absorb_many(s, [incident], at)


async def absorb_many(s: AsyncSession, incidents: list[IncidentRow], at: datetime) -> set[int]:
    """`absorbs` for many incidents at once (ingest settles a chunk's incidents together):
    a few statements per stormy channel, not per incident. The ids absorbed."""
    by_channel: dict[str, list[int]] = {}
    for incident in incidents:
        if incident.id is not None:
            by_channel.setdefault(incident.channel, []).append(incident.id)
    absorbed: set[int] = set()
    for channel, ids in by_channel.items():
        storm = await active(s, channel)
        if storm is None:
            continue
        posted = set((await s.exec(select(SlackMessage.incident_id).where(
            col(SlackMessage.incident_id).in_(ids),
            SlackMessage.kind == ALERT_MESSAGE))).all())
        joining = [i for i in dict.fromkeys(ids) if i not in posted]  # posted before: kept
        if joining:
            await _join(s, storm, joining, at)
            await queue_storm_sync(s, storm, at)
            absorbed.update(joining)
    return absorbed


async def fold_if_flooded(ctx: ServiceContext, intent: OutboxIntent) -> bool:
    """Delivery is about to post an incident's first message: fold it (and the whole backlog
    of the lane) into the channel's storm when the backlog is over the threshold."""
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        incident = await repo.incident(s, intent.incident_id)
        if await _was_member(s, incident.id):
            return False  # a survivor of an ended storm: its own message, as configured
        storm = await active(s, incident.channel)
        if storm is None:
            waiting = await _first_posts_waiting(s, intent.lane)
            if waiting + 1 <= ctx.config.storm.enter_above:
                return False
            storm = await _enter(s, incident.channel, now,
                                 ctx.config.storm.update_every.total_seconds())
        folded = await _fold_lane(s, storm, intent, now)
        await queue_storm_sync(s, storm, now)
    ctx.wake_delivery()
    return bool(folded)


async def _was_member(s: AsyncSession, incident_id: int) -> bool:
    return (await s.exec(select(StormMember.storm_id).where(
        StormMember.incident_id == incident_id))).first() is not None


def _unposted():
    """Incidents with no message of their own that no storm has folded yet."""
    posted = select(SlackMessage.incident_id).where(SlackMessage.kind == ALERT_MESSAGE)
    folded = select(StormMember.incident_id)
    return col(OutboxIntent.incident_id).not_in(posted) & col(OutboxIntent.incident_id).not_in(
        folded)


async def _first_posts_waiting(s: AsyncSession, lane: str) -> int:
    """Pending first posts of the lane: sync intents of incidents with no message yet."""
    return (await s.exec(select(func.count()).select_from(OutboxIntent).where(
        OutboxIntent.lane == lane, OutboxIntent.kind == "sync_message",
        OutboxIntent.state == "pending", _unposted()))).one()


async def _enter(s: AsyncSession, channel: str, now: datetime,
                 update_every_s: float = 5.0) -> StormRow:
    """One storm per channel, whoever gets here first (the insert of the loser is skipped)."""
    await repo.insert_ignore(s, StormRow, {
        "channel": channel, "active_channel": channel, "started_at": now,
        "last_joined_at": now, "counts": {}, "update_every_s": update_every_s},
        ["active_channel"])
    return await active(s, channel)


async def _fold_lane(s: AsyncSession, storm: StormRow, intent: OutboxIntent,
                     now: datetime) -> list[int]:
    """The claimed intent and every pending first post or thread note of the lane for an
    incident without a message become members of the storm (their intents settle as done)."""
    backlog = (await s.exec(select(OutboxIntent).where(
        OutboxIntent.lane == intent.lane, col(OutboxIntent.kind).in_(_FOLDABLE),
        OutboxIntent.state == "pending", col(OutboxIntent.incident_id).is_not(None),
        _unposted()))).all()
    intents = [i for i in backlog if i.id != intent.id]
    ids = [i.incident_id for i in [intent, *intents]]
    done = {"state": "done", "done_at": now, "claimed_until": None, "pending_key": None,
            "last_error": f"folded into storm {storm.id}"}
    if not await repo.set_where(s, OutboxIntent, fenced(intent.id), done):
        raise LeaseLost(intent.id)  # another claim owns it now: it decides, not us
    await repo.set_where(s, OutboxIntent, [col(OutboxIntent.id).in_([i.id for i in intents]),
                                           OutboxIntent.state == "pending"], done)
    await _join(s, storm, list(dict.fromkeys(ids)), now)
    return ids


async def _join(s: AsyncSession, storm: StormRow, incident_ids: list[int], now: datetime) -> None:
    """Members in one INSERT; a timeline row for each incident that was not one already
    (RETURNING names the rows that went in, so a replica racing us writes none twice)."""
    joined = await repo.insert_many_ignoring(
        s, StormMember, [{"storm_id": storm.id, "incident_id": incident_id, "joined_at": now,
                          "listed": False} for incident_id in incident_ids],
        ["storm_id", "incident_id"], returning="incident_id")
    if not joined:
        return
    await repo.insert_many(s, TimelineEvent, [repo.timeline_values(
        incident_id=incident_id, at=now, kind="storm_joined", actor="bot",
        text=f"folded into the storm summary of {storm.channel} (storm {storm.id}) instead of "
             "a message of its own", data={"storm_id": storm.id}) for incident_id in joined])
    await repo.set_where(s, StormRow, [StormRow.id == storm.id], {"last_joined_at": now})


async def member_of(ctx: ServiceContext, incident_id: int) -> int | None:
    """The storm an incident was folded into, if any."""
    async with ctx.db.reader(quick=True) as s:
        return (await s.exec(select(StormMember.storm_id).where(
            StormMember.incident_id == incident_id))).first()


@dataclass(frozen=True)
class StormView:
    """What the summary sender renders: the storm, its summary, the members not yet listed."""

    storm: StormRow
    summary: StormSummary
    unlisted: list[StormEntry]


async def entries(s: AsyncSession, storm_id: int, *,
                  unlisted_only: bool = False) -> list[StormEntry]:
    query = select(IncidentRow).join(
        StormMember, col(StormMember.incident_id) == col(IncidentRow.id)).where(
        StormMember.storm_id == storm_id)
    if unlisted_only:
        query = query.where(StormMember.listed == False)  # noqa: E712 (SQL, not Python)
    rows = (await s.exec(query.order_by(col(IncidentRow.id)))).all()
    labels = await _first_labels(s, [r.id for r in rows])
    return [StormEntry(incident_id=r.id, title=r.title, team=r.team, severity=r.severity,
                       alert_type=r.alert_type, alertname=labels.get(r.id, {}).get(
                           "alertname", ""), labels=labels.get(r.id, {}), status=r.status,
                       opened_at=r.opened_at, resolved_by=r.resolved_by) for r in rows]


async def _first_labels(s: AsyncSession, incident_ids: list[int]) -> dict[int, dict[str, str]]:
    """Each incident's labels as its first alert carries them (one query for all)."""
    found: dict[int, dict[str, str]] = {}
    for chunk in range(0, len(incident_ids), 500):
        rows = (await s.exec(select(IncidentAlert.incident_id, AlertRow.labels).join(
            AlertRow, col(AlertRow.id) == col(IncidentAlert.alert_id)).where(
            col(IncidentAlert.incident_id).in_(incident_ids[chunk:chunk + 500]))
            .order_by(col(AlertRow.id)))).all()
        for incident_id, labels in rows:
            found.setdefault(incident_id, labels)
    return found


async def view(ctx: ServiceContext, storm_id: int) -> StormView:
    async with ctx.db.reader(quick=True) as s:
        storm = await s.get(StormRow, storm_id)
        members = await entries(s, storm_id)
        listed = set((await s.exec(select(StormMember.incident_id).where(
            StormMember.storm_id == storm_id, col(StormMember.listed)))).all())
    summary = summarize(storm.id, storm.channel, storm.started_at, storm.ended_at, members)
    return StormView(storm, summary, [m for m in members if m.incident_id not in listed])


async def storm(ctx: ServiceContext, storm_id: int) -> StormRow:
    async with ctx.db.reader(quick=True) as s:
        return await s.get(StormRow, storm_id)


async def unlisted(ctx: ServiceContext, storm_id: int) -> list[StormEntry]:
    """The members the storm's thread has not named yet: what listing needs, without reading
    the whole storm at every reply (a thousand members, a reply a second)."""
    async with ctx.db.reader(quick=True) as s:
        return await entries(s, storm_id, unlisted_only=True)


async def summary_posted(ctx: ServiceContext, storm_id: int, channel_id: str, ts: str) -> None:
    async with ctx.db.transaction() as s:
        await repo.set_where(s, StormRow, [StormRow.id == storm_id],
                             {"summary_channel_id": channel_id, "summary_ts": ts,
                              "summary_updated_at": ctx.clock.now()})


async def summary_updated(ctx: ServiceContext, storm_id: int) -> None:
    async with ctx.db.transaction() as s:
        await repo.set_where(s, StormRow, [StormRow.id == storm_id],
                             {"summary_updated_at": ctx.clock.now()})


async def mark_listed(ctx: ServiceContext, storm_id: int, incident_ids: list[int]) -> None:
    async with ctx.db.transaction() as s:
        await repo.set_where(s, StormMember, [StormMember.storm_id == storm_id,
                                              col(StormMember.incident_id).in_(incident_ids)],
                             {"listed": True})


async def storms_between(ctx: ServiceContext, channels: list[str], start: datetime,
                         end: datetime) -> int:
    async with ctx.db.reader(quick=True) as s:
        return await count_between(s, channels, start, end)


async def count_between(s: AsyncSession, channels: list[str], start: datetime,
                        end: datetime) -> int:
    """How many storms began in these channels in [start, end): the noise review's figure."""
    return (await s.exec(select(func.count()).select_from(StormRow).where(
        col(StormRow.channel).in_(channels), col(StormRow.started_at) >= start,
        col(StormRow.started_at) < end))).one()
