"""The durable outbox: intents written with state changes, claimed and settled by delivery."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import storms
from bot.services.leases import LeaseLost, fenced, held
from bot.services.leases import holding as holding  # the worker delivers under it
from bot.store import repo
from bot.store.db import Database
from bot.store.models import IncidentRow, OutboxIntent, SlackMessage

log = logging.getLogger(__name__)

SYNC_MESSAGE = "sync_message"
LEASE = timedelta(seconds=60)


def lane_of(incident: IncidentRow) -> str:
    """Delivery is ordered per channel: Slack paces posts per channel, so we queue per channel."""
    return f"channel:{incident.channel}"


async def queue_sync(s: AsyncSession, incident: IncidentRow, at: datetime) -> None:
    """Ask delivery to (re)render the incident's message; repeated asks coalesce into one.

    In a storm, an incident without a message of its own re-renders the storm's summary."""
    if await storms.absorbs(s, incident, at):
        return
    await repo.enqueue(s, kind=SYNC_MESSAGE, lane=lane_of(incident), at=at,
                       incident_id=incident.id, pending_key=f"sync:{incident.id}")


async def claim(db: Database, now: datetime, limit: int = 50) -> list[OutboxIntent]:
    """Lease the oldest due intent of each idle lane, so a lane is never worked twice at once."""
    async with db.transaction() as s:
        heads = await _heads(s, now, limit)
        if db.dialect == "postgresql":
            heads = await _still_heads(s, heads, now)
        return [intent for intent in heads if await _lease(s, intent, now)]


async def _heads(s: AsyncSession, now: datetime, limit: int) -> list[OutboxIntent]:
    """The oldest intent of each lane with nothing in flight, if it is due (as read now)."""
    busy = set((await s.exec(
        select(OutboxIntent.lane).where(OutboxIntent.state == "inflight",
                                        col(OutboxIntent.claimed_until) > now))).all())
    due = (await s.exec(
        select(OutboxIntent).where(_claimable(now))
        .order_by(col(OutboxIntent.id)).limit(limit * 20))).all()
    heads: list[OutboxIntent] = []
    for intent in due:
        if intent.lane in busy:
            continue
        busy.add(intent.lane)  # only the oldest intent of a lane, due or not, may go
        if intent.due_at <= now and len(heads) < limit:
            heads.append(intent)
    return heads


def _claimable(now: datetime) -> Any:
    lease_expired = (OutboxIntent.state == "inflight") & (col(OutboxIntent.claimed_until) <= now)
    return or_(OutboxIntent.state == "pending", lease_expired)


async def _still_heads(s: AsyncSession, heads: list[OutboxIntent],
                       now: datetime) -> list[OutboxIntent]:
    """PostgreSQL, several replicas claiming at once without waiting for each other: lock the
    heads read with `FOR UPDATE SKIP LOCKED` (a head another claimer holds is skipped, and with
    it its lane), then keep a locked head only if, read afresh, nothing older of its lane is
    pending or in flight. The heads were read before the other claimers' commits, so a lane's
    second intent may look like its head while its first is being leased elsewhere: the fresh
    read finds the first and this claimer leaves the lane alone."""
    if not heads:
        return []
    locked = (await s.exec(
        select(OutboxIntent).where(col(OutboxIntent.id).in_([i.id for i in heads]),
                                   _claimable(now))
        .order_by(col(OutboxIntent.id)).with_for_update(skip_locked=True)
        .execution_options(populate_existing=True))).all()
    lanes = [intent.lane for intent in locked]
    oldest = dict((await s.exec(
        select(OutboxIntent.lane, func.min(OutboxIntent.id))
        .where(col(OutboxIntent.lane).in_(lanes),
               col(OutboxIntent.state).in_(["pending", "inflight"]))
        .group_by(OutboxIntent.lane))).all()) if lanes else {}
    return [intent for intent in locked if oldest.get(intent.lane) == intent.id]


async def recover_after_restart(db: Database, now: datetime) -> int:
    """On SQLite only one process can be running, so whatever it had in flight died with it.

    Those intents are due again at once, flagged as possibly sent so no post is doubled. On
    PostgreSQL other replicas may be alive: there the lease expiry does this job.
    """
    if db.dialect != "sqlite":
        return 0
    async with db.transaction() as s:
        return await repo.set_where(s, OutboxIntent, [OutboxIntent.state == "inflight"],
                                    {"state": "pending", "maybe_sent": True, "due_at": now,
                                     "claimed_until": None})


async def _lease(s: AsyncSession, intent: OutboxIntent, now: datetime) -> bool:
    """Compare-and-set on the state we read, so a concurrent claimer cannot take it too."""
    # An intent found in flight with an expired lease died mid-call: its outcome is unknown.
    values = {"maybe_sent": intent.maybe_sent or intent.state == "inflight",
              "state": "inflight", "claimed_until": now + LEASE,
              "attempts": intent.attempts + 1,
              "pending_key": None}  # a change made from now on needs a fresh render
    won = await repo.set_where(s, OutboxIntent, [
        OutboxIntent.id == intent.id, OutboxIntent.state == intent.state,
        OutboxIntent.attempts == intent.attempts], values)
    if won:
        for key, value in values.items():
            setattr(intent, key, value)
    return bool(won)


async def _settle(s: AsyncSession, intent_id: int, values: dict[str, Any]) -> OutboxIntent:
    if not await repo.set_where(s, OutboxIntent, fenced(intent_id), values):
        claim = held()
        log.warning("intent %s: lease lost (claim %s), another replica owns it now; not "
                    "settling it", intent_id, claim[1] if claim and claim[0] == intent_id else "?")
        raise LeaseLost(intent_id)
    intent = await s.get(OutboxIntent, intent_id)
    await s.refresh(intent)
    return intent


async def complete(db: Database, intent_id: int, now: datetime,
                   message: SlackMessage | None = None, timeline_kind: str | None = None,
                   timeline_text: str = "") -> None:
    async with db.transaction() as s:
        intent = await mark_done(s, intent_id, now)
        if message is not None:
            await repo.insert_ignore(s, SlackMessage, message.model_dump(exclude={"id"}),
                                     ["incident_id", "kind", "recipient"])
        if timeline_kind:
            repo.timeline(s, incident_id=intent.incident_id, at=now, kind=timeline_kind,
                          actor="bot", text=timeline_text)


async def mark_done(s: AsyncSession, intent_id: int, now: datetime) -> OutboxIntent:
    """Settle an intent inside the caller's transaction (with the state it produced).
    Raises LeaseLost (rolling that transaction back) when the lease is no longer ours."""
    return await _settle(s, intent_id, {"state": "done", "done_at": now, "claimed_until": None,
                                        "last_error": None})


async def retry(db: Database, intent_id: int, now: datetime, delay: timedelta, error: str,
                maybe_sent: bool) -> None:
    """Put the intent back for later; `maybe_sent` when Slack may have acted on it anyway."""
    async with db.transaction() as s:
        await _settle(s, intent_id, {"state": "pending", "claimed_until": None,
                                     "due_at": now + delay, "last_error": error[:512],
                                     "maybe_sent": maybe_sent})


async def mark_failed(s: AsyncSession, intent_id: int, now: datetime,
                      error: str) -> OutboxIntent:
    """Give up on an intent inside the caller's transaction; its lane moves on at once."""
    return await _settle(s, intent_id, {"state": "failed", "claimed_until": None,
                                        "done_at": now, "last_error": error[:512]})


async def requeue(s: AsyncSession, intent_id: int, now: datetime) -> OutboxIntent | None:
    """A failed intent goes again now, with a fresh budget of attempts and age.

    `maybe_sent` is kept: a post that may have landed is still looked for first.
    """
    intent = await s.get(OutboxIntent, intent_id)
    if intent is None or intent.state != "failed":
        return None
    intent.state, intent.due_at, intent.created_at = "pending", now, now
    intent.attempts, intent.done_at, intent.claimed_until = 0, None, None
    s.add(intent)
    return intent


async def release(db: Database, now: datetime, kinds: Collection[str],
                  outage_errors: Collection[str]) -> int:
    """The far side answered again: intents backing off after an outage go now, not at their
    own (up to minutes away) retry times. A Retry-After is not an outage and is kept."""
    async with db.transaction() as s:
        return await repo.set_where(s, OutboxIntent, [
            OutboxIntent.state == "pending", col(OutboxIntent.due_at) > now,
            col(OutboxIntent.kind).in_(list(kinds)),
            col(OutboxIntent.last_error).in_(list(outage_errors))], {"due_at": now})


async def waiting_on(db: Database, now: datetime, kinds: Collection[str],
                     outage_errors: Collection[str]) -> bool:
    """Whether any intent of these kinds is backing off after an outage error."""
    async with db.reader(quick=True) as s:
        found = await s.exec(select(OutboxIntent.id).where(
            OutboxIntent.state == "pending", col(OutboxIntent.due_at) > now,
            col(OutboxIntent.kind).in_(list(kinds)),
            col(OutboxIntent.last_error).in_(list(outage_errors))).limit(1))
        return found.first() is not None


async def done_of(db: Database, incident_id: int | None, kind: str) -> list[OutboxIntent]:
    """The intents of this kind already delivered for the incident."""
    async with db.reader() as s:
        return list((await s.exec(select(OutboxIntent).where(
            OutboxIntent.incident_id == incident_id, OutboxIntent.kind == kind,
            OutboxIntent.state == "done"))).all())


async def listing(db: Database, failed_only: bool = False, limit: int = 500) -> list[OutboxIntent]:
    """Deliveries not done: failed ones, and (unless `failed_only`) those still waiting."""
    states = ["failed"] if failed_only else ["pending", "inflight", "failed"]
    async with db.reader() as s:
        query = (select(OutboxIntent).where(col(OutboxIntent.state).in_(states))
                 .order_by(col(OutboxIntent.id)).limit(limit))
        return list((await s.exec(query)).all())


async def failed_by_kind(db: Database) -> dict[str, int]:
    """Failed intents still on record, by kind: the `/metrics` gauge that stays until retried."""
    async with db.reader() as s:
        rows = (await s.exec(select(OutboxIntent.kind, func.count())
                             .where(OutboxIntent.state == "failed")
                             .group_by(OutboxIntent.kind))).all()
    return dict(rows)


async def depth(db: Database, now: datetime) -> tuple[int, float]:
    """How many intents wait, and the age in seconds of the oldest: the health of delivery."""
    async with db.reader(quick=True) as s:
        waiting = (OutboxIntent.state == "pending") | (OutboxIntent.state == "inflight")
        count = (await s.exec(select(func.count()).select_from(OutboxIntent).where(waiting))).one()
        oldest = (await s.exec(select(func.min(OutboxIntent.created_at)).where(waiting))).one()
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return count, max(age, 0.0)


async def next_due(db: Database) -> datetime | None:
    async with db.reader(quick=True) as s:
        return (await s.exec(select(func.min(OutboxIntent.due_at))
                             .where(OutboxIntent.state == "pending"))).one()
