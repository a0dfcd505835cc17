"""Ingest: store alerts, route them, open or join incidents, queue messages.

A webhook is committed in chunks of CHUNK alerts, each one short write transaction (see
ingest_bulk), so a click or the delivery worker waiting for the write lock waits for one chunk,
not for a 10,000-alert body. The sender is answered after every chunk committed; a failure in
a later chunk answers 503 and the sender's redelivery of the whole body is idempotent
(alerts are keyed by fingerprint and startsAt). Unchanged repeats, which Alertmanager sends
every group and repeat interval, are recognised by a read that takes no write lock.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field

from sqlmodel import select

from bot.domain.alerts import Action, Alert, AlertStatus, labels_fingerprint
from bot.services import silences
from bot.services.context import ServiceContext
from bot.services.ingest_bulk import Chunk, ingest_chunks, ingest_grouped
from bot.services.ingest_items import Incoming, IngestResult, known_alerts, same_identity
from bot.services.ingest_routing import decisions
from bot.services.ingest_settle import settle
from bot.store import repo
from bot.store.db import DatabaseUnavailable, Fault, classify
from bot.store.models import AlertRow, SilenceRow

#: Alerts per write transaction: long enough to be cheap per alert, short enough that a
#: click queued behind it still gets its turn well within Slack's 3 seconds.
CHUNK = 500
log = logging.getLogger(__name__)

__all__ = ["DatabaseUnavailable", "IngestResult", "ingest_alerts", "release_silences"]


async def ingest_alerts(ctx: ServiceContext, alerts: list[Alert], *,
                        truncated_at_source: int = 0) -> IngestResult:
    """Commit every alert of one webhook before anyone answers the sender.

    Redaction happens first: routing, the database and everything rendered from it see only
    redacted values (the sender's originals are kept apart with redact.store_original).
    A uniqueness race (two replicas opening the same incident) is retried once; an error about
    the data itself falls back to one transaction per alert of that chunk, so only the alert
    the database refuses is lost (and reported). Only an unavailable database raises, as
    DatabaseUnavailable: the sender retries later.
    """
    items = _prepare(ctx, alerts)
    result = IngestResult()
    for start in range(0, len(items), CHUNK):
        chunk = items[start:start + CHUNK]
        result.add(await _group(ctx).commit(ctx, chunk, truncated_at_source))
        ctx.wake_delivery()  # delivery posts the first chunk's incidents while the next is written
    return result


async def _commit_chunk(ctx: ServiceContext, chunk: list[Incoming],
                        truncated: int) -> IngestResult:
    """One chunk in its own transaction, retried once after a conflict; alert by alert if
    the database refuses the data."""
    try:
        return await _retried(ingest_chunks, ctx, [(chunk, truncated)])
    except _Refused as refused:
        log.warning("the database refused a chunk of %d alerts (%s): ingesting one by one",
                    len(chunk), refused.reason)
        return await _ingest_each(ctx, chunk, truncated)


@dataclass
class _Waiting:
    """A webhook's chunk waiting for its group; `done`: what the group's read answered."""

    chunk: list[Incoming]
    truncated: int
    future: asyncio.Future
    done: IngestResult = field(default_factory=IngestResult)


class GroupCommit:
    """Concurrent webhooks share one read and one transaction (one BEGIN, one COMMIT and its
    fsync), up to CHUNK alerts: the first waiting webhook leads everything queued behind it.
    The read answers unchanged repeats without the write lock; the rest is written together.
    If the shared transaction fails, each webhook's chunk is committed on its own, so one
    sender's bad data or conflict never fails another's."""

    def __init__(self) -> None:
        self._queue: list[_Waiting] = []
        self._leader = asyncio.Lock()

    async def commit(self, ctx: ServiceContext, chunk: list[Incoming],
                     truncated: int) -> IngestResult:
        mine = _Waiting(chunk, truncated, asyncio.get_running_loop().create_future())
        self._queue.append(mine)
        while not mine.future.done():  # a leader may leave ours for the next group if full
            async with self._leader:
                if not mine.future.done():
                    await self._lead(ctx)
        return mine.future.result()

    async def _lead(self, ctx: ServiceContext) -> None:
        group, size = [], 0
        while self._queue and (not group or size + len(self._queue[0].chunk) <= CHUNK):
            group.append(self._queue.pop(0))
            size += len(group[-1].chunk)
        try:
            await self._commit_group(ctx, group)
        finally:  # cancelled mid-way: the others' senders hear "retry later", not silence
            for waiting in group:
                if not waiting.future.done():
                    waiting.future.set_exception(DatabaseUnavailable("ingest was interrupted"))

    async def _commit_group(self, ctx: ServiceContext, group: list[_Waiting]) -> None:
        repeats = await _unchanged_repeats(ctx, [item for w in group for item in w.chunk])
        for waiting in group:
            waiting.done = _answered(waiting.chunk, repeats)
            waiting.chunk = [item for item in waiting.chunk if id(item) not in repeats]
            if not waiting.chunk:
                waiting.future.set_result(waiting.done)
        writes = [w for w in group if w.chunk]
        together: list[IngestResult] | None = None
        if len(writes) > 1:
            try:
                together = await ingest_grouped(ctx, [(w.chunk, w.truncated) for w in writes])
            except Exception:
                log.info("a group commit of %d webhooks failed; committing each alone",
                         len(writes))
        for index, waiting in enumerate(writes):
            try:
                written = (together[index] if together is not None
                           else await _commit_chunk(ctx, waiting.chunk, waiting.truncated))
            except Exception as exc:
                waiting.future.set_exception(exc)
                continue
            waiting.done.add(written)
            waiting.future.set_result(waiting.done)


_groups: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _group(ctx: ServiceContext) -> GroupCommit:
    """The group commit of this database (one per Database object)."""
    group = _groups.get(ctx.db)
    if group is None:
        group = _groups[ctx.db] = GroupCommit()
    return group


def _prepare(ctx: ServiceContext, alerts: list[Alert]) -> list[Incoming]:
    redact = ctx.config.redact
    items = []
    for position, alert in enumerate(alerts):
        clean = redact.redactor.alert(alert)
        original = _original(alert, clean) if redact.store_original else None
        items.append(Incoming(position, clean, clean.fingerprint or labels_fingerprint(
            clean.labels), original))
    return items


def _original(sent: Alert, clean: Alert) -> dict | None:
    """What the sender sent, when redaction changed anything."""
    if (sent.labels, sent.annotations, sent.generator_url) == (
            clean.labels, clean.annotations, clean.generator_url):
        return None
    return {"labels": sent.labels, "annotations": sent.annotations,
            "generator_url": sent.generator_url}


def _answered(chunk: list[Incoming], repeats: set[int]) -> IngestResult:
    """The part of a webhook's result the read answered: its unchanged repeats."""
    count = sum(1 for item in chunk if id(item) in repeats)
    return IngestResult(accepted=count, redeliveries=count)


async def _unchanged_repeats(ctx: ServiceContext, items: list[Incoming]) -> set[int]:
    """Alerts (their `id()`) stored exactly as sent, that nothing would be done for: answered
    from a read (no write lock). Heartbeats, cost alerts (their ratio is re-read), and alerts
    of an incident resolved by hand while still firing take the write path."""
    candidates: dict[int, AlertRow] = {}
    try:
        async with ctx.db.reader(quick=True) as s:
            known = await known_alerts(s, items, plain=True)
            for item in items:
                row = same_identity(known.get((item.alert.source, item.fingerprint), []),
                                    item.alert)
                if row is not None and _unchanged(ctx, row, item):
                    candidates[id(item)] = row
            if not candidates:
                return set()
            by_hand = await repo.alerts_resolved_by_hand(
                s, [r.id for r in candidates.values()
                    if r.status == AlertStatus.FIRING.value])
    except Exception:  # the write path meets the same fault and classifies it
        log.debug("read-only repeat check failed; taking the write path", exc_info=True)
        return set()
    return {key for key, row in candidates.items() if row.id not in by_hand}


def _unchanged(ctx: ServiceContext, row: AlertRow, item: Incoming) -> bool:
    alert = item.alert
    beat = ctx.config.heartbeat
    return (row.status == alert.status.value and row.annotations == alert.annotations
            and row.ends_at == alert.ends_at and row.original == item.original
            and (alert.generator_url or row.generator_url) == row.generator_url
            and not (beat is not None and alert.labels.get("alertname") == beat.alertname)
            and not any(d.action is Action.DIGEST for d in decisions(ctx, row.labels)))


class _Refused(Exception):
    """The database refused the data, and will again: not a reason to answer 503."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


async def _retried(work, *args) -> IngestResult:
    """`work(*args)`, once more after a conflict; DATA faults become _Refused."""
    for attempt in (1, 2):
        try:
            return await work(*args)
        except Exception as exc:
            fault = classify(exc)
            if fault is Fault.UNAVAILABLE:
                raise DatabaseUnavailable(str(exc).splitlines()[0][:200]) from exc
            if fault is Fault.DATA or attempt == 2:
                log.exception("ingest transaction failed (%s)", fault.value)
                raise _Refused(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
    raise AssertionError("unreachable")


async def _ingest_each(ctx: ServiceContext, items: list[Incoming],
                       truncated: int) -> IngestResult:
    total = IngestResult()
    for item in items:
        try:
            total.add(await _retried(ingest_chunks, ctx, [([item], truncated)]))
        except _Refused as refused:
            total.refused.append((item.position,
                                  f"the database refused this alert: {refused.reason}"))
    return total


async def release_silences(ctx: ServiceContext) -> int:
    """Alerts held by a silence that has ended and are still firing are routed and posted now."""
    now, released = ctx.clock.now(), 0
    for silence_id in await silences.ended_silences(ctx, now):
        async with ctx.db.transaction() as s:
            if not await repo.set_where(s, SilenceRow, [SilenceRow.id == silence_id,
                                                        SilenceRow.released_at.is_(None)],
                                        {"released_at": now}):
                continue  # another replica released it
            result = IngestResult()
            chunk = Chunk(ctx, s, now, result)
            rows = (await s.exec(select(AlertRow).where(
                AlertRow.silenced_by == silence_id, AlertRow.status == "firing"))).all()
            for row in rows:
                row.silenced_by = None
                s.add(row)
                await chunk.route(_as_alert(row), row.id)
                released += 1
            await chunk.attach_all()
            for incident_id in sorted(result.touched):
                repo.timeline(s, incident_id=incident_id, at=now, kind="released_from_silence",
                              actor="bot", text=f"held by silence {silence_id} until it ended")
            await settle(ctx, s, dict.fromkeys(result.touched, 0), now)
    if released:
        ctx.wake_delivery()
    return released


def _as_alert(row: AlertRow) -> Alert:
    return Alert(source=row.source, status=AlertStatus.FIRING, labels=row.labels,
                 annotations=row.annotations, starts_at=row.starts_at, ends_at=row.ends_at,
                 generator_url=row.generator_url, fingerprint=row.fingerprint)
