"""Queries over the tables; every function takes the caller's session (its transaction)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.limits import fit_values
from bot.store.models import (
    AlertRow,
    IncidentAlert,
    IncidentRow,
    OutboxIntent,
    PageRow,
    ProcessedEvent,
    SlackMessage,
    TimelineEvent,
)


async def alert_by_identity(s: AsyncSession, source: str, fingerprint: str,
                            starts_at: datetime) -> AlertRow | None:
    query = select(AlertRow).where(AlertRow.source == source, AlertRow.fingerprint == fingerprint,
                                   AlertRow.starts_at == starts_at)
    return (await s.exec(query)).first()


async def firing_alert_by_fingerprint(s: AsyncSession, source: str,
                                      fingerprint: str) -> AlertRow | None:
    """The active alert of a fingerprint: a sender has at most one, whatever startsAt it sends."""
    query = (select(AlertRow).where(AlertRow.source == source, AlertRow.fingerprint == fingerprint,
                                    AlertRow.status == "firing")
             .order_by(col(AlertRow.starts_at).desc()))
    return (await s.exec(query)).first()


async def open_incident(s: AsyncSession, open_key: str) -> IncidentRow | None:
    return (await s.exec(select(IncidentRow).where(IncidentRow.open_key == open_key))).first()


async def last_resolved(s: AsyncSession, group_key: str) -> IncidentRow | None:
    query = (select(IncidentRow).where(IncidentRow.group_key == group_key,
                                       IncidentRow.status == "resolved")
             .order_by(col(IncidentRow.resolved_at).desc()))
    return (await s.exec(query)).first()


async def has_timeline(s: AsyncSession, incident_id: int, kind: str) -> bool:
    query = select(TimelineEvent.id).where(TimelineEvent.incident_id == incident_id,
                                           TimelineEvent.kind == kind)
    return (await s.exec(query)).first() is not None


async def incident(s: AsyncSession, incident_id: int) -> IncidentRow | None:
    return await s.get(IncidentRow, incident_id)


async def incidents_of_alert(s: AsyncSession, alert_id: int) -> list[IncidentRow]:
    query = (select(IncidentRow)
             .join(IncidentAlert, col(IncidentAlert.incident_id) == IncidentRow.id)
             .where(IncidentAlert.alert_id == alert_id))
    return list((await s.exec(query)).all())


async def alerts_of_incident(s: AsyncSession, incident_id: int) -> list[AlertRow]:
    query = (select(AlertRow).join(IncidentAlert, col(IncidentAlert.alert_id) == AlertRow.id)
             .where(IncidentAlert.incident_id == incident_id).order_by(col(AlertRow.id)))
    return list((await s.exec(query)).all())


async def firing_count(s: AsyncSession, incident_id: int) -> int:
    query = (select(func.count()).select_from(AlertRow)
             .join(IncidentAlert, col(IncidentAlert.alert_id) == AlertRow.id)
             .where(IncidentAlert.incident_id == incident_id, AlertRow.status == "firing"))
    return (await s.exec(query)).one()


async def link(s: AsyncSession, incident_id: int, alert_id: int) -> None:
    await insert_ignore(s, IncidentAlert, {"incident_id": incident_id, "alert_id": alert_id},
                        ["incident_id", "alert_id"])


async def insert_ignore(s: AsyncSession, model: Any, values: dict[str, Any],
                        conflict: list[str]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on either dialect; True when a row went in."""
    return await insert_returning(s, model, values, conflict, conflict[0]) is not None


async def insert_returning(s: AsyncSession, model: Any, values: dict[str, Any],
                           conflict: list[str], returning: str) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING one column: its value, or None if skipped.

    RETURNING, not rowcount: psycopg reports -1 rows for a skipped INSERT ... ON CONFLICT.
    """
    dialect = s.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict)
                 .returning(getattr(model, returning)))
    return (await s.exec(statement)).first()


def timeline(s: AsyncSession, *, incident_id: int | None, at: datetime, kind: str,
             actor: str | None = None, text: str = "", data: dict[str, Any] | None = None,
             mrkdwn: bool = False) -> None:
    """`mrkdwn=True` only when every person's or alert's part of `text` went through
    bot.domain.text.escape_mrkdwn; otherwise the whole text is escaped when shown."""
    s.add(TimelineEvent(incident_id=incident_id, at=at, kind=kind, actor=actor, text=text[:4000],
                        data=data or {}, mrkdwn=mrkdwn))


async def timeline_of(s: AsyncSession, incident_id: int) -> list[TimelineEvent]:
    query = (select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
             .order_by(col(TimelineEvent.at), col(TimelineEvent.id)))
    return list((await s.exec(query)).all())


async def enqueue(s: AsyncSession, *, kind: str, lane: str, at: datetime,
                  incident_id: int | None = None, payload: dict[str, Any] | None = None,
                  pending_key: str | None = None) -> int | None:
    """Add an outbox intent and return its id; None when a waiting one with the same
    pending_key absorbed it (it will render the latest state anyway)."""
    values = {"kind": kind, "lane": lane, "incident_id": incident_id, "payload": payload or {},
              "pending_key": pending_key, "state": "pending", "due_at": at, "created_at": at,
              "attempts": 0, "maybe_sent": False}
    if pending_key is None:
        intent = OutboxIntent(**values)
        s.add(intent)
        await s.flush()
        return intent.id
    return await insert_returning(s, OutboxIntent, values, ["pending_key"], "id")


async def slack_message(s: AsyncSession, incident_id: int, kind: str,
                        recipient: str = "") -> SlackMessage | None:
    query = select(SlackMessage).where(
        SlackMessage.incident_id == incident_id, SlackMessage.kind == kind,
        SlackMessage.recipient == recipient)
    return (await s.exec(query)).first()


async def remember_event(s: AsyncSession, key: str, at: datetime) -> bool:
    """Record a Slack event id; False when it was seen before (a retry)."""
    return await insert_ignore(s, ProcessedEvent, {"key": key, "at": at}, ["key"])


async def set_where(s: AsyncSession, model: Any, where: list[Any], values: dict[str, Any]) -> int:
    """A conditional UPDATE: the compare-and-set that decides races (ack vs resolve)."""
    result = await s.exec(update(model).where(*where).values(**values))
    return result.rowcount


# -- set-based helpers for bulk ingest: one statement for many rows --------------------------


# Built once: a statement's construction and cache key cost more than its execution for the
# handful of rows ingest reads per transaction; IN lists are expanding parameters.
_IDS = bindparam("ids", expanding=True)
_ALERTS_OF_FINGERPRINTS = select(AlertRow).where(
    AlertRow.source == bindparam("source"),
    col(AlertRow.fingerprint).in_(bindparam("fingerprints", expanding=True)))
_PLAIN_ALERTS_OF_FINGERPRINTS = select(*AlertRow.__table__.c).where(
    AlertRow.source == bindparam("source"),
    col(AlertRow.fingerprint).in_(bindparam("fingerprints", expanding=True)))
_RESOLVED_BY_HAND = (select(IncidentAlert.alert_id)
                     .join(IncidentRow, col(IncidentAlert.incident_id) == IncidentRow.id)
                     .where(col(IncidentAlert.alert_id).in_(_IDS),
                            col(IncidentRow.resolved_by).is_not(None)))
_INCIDENTS_OF_ALERTS = (select(IncidentAlert.alert_id, IncidentRow)
                        .join(IncidentAlert, col(IncidentAlert.incident_id) == IncidentRow.id)
                        .where(col(IncidentAlert.alert_id).in_(_IDS)))
_OPEN_INCIDENTS = select(IncidentRow).where(
    col(IncidentRow.open_key).in_(bindparam("keys", expanding=True)))
_RESOLVED_OF_GROUPS = select(IncidentRow).where(
    col(IncidentRow.group_key).in_(bindparam("keys", expanding=True)),
    IncidentRow.status == "resolved")
_INCIDENTS_BY_ID = select(IncidentRow).where(col(IncidentRow.id).in_(_IDS))
_FIRING_COUNTS = (select(IncidentAlert.incident_id, func.count())
                  .join(AlertRow, col(IncidentAlert.alert_id) == AlertRow.id)
                  .where(col(IncidentAlert.incident_id).in_(_IDS), AlertRow.status == "firing")
                  .group_by(col(IncidentAlert.incident_id)))
_PAGE_TARGETS = (select(PageRow.incident_id, PageRow.target)
                 .where(col(PageRow.incident_id).in_(_IDS),
                        PageRow.target_kind == bindparam("kind"))
                 .order_by(col(PageRow.id)))


async def alerts_of_fingerprints(s: AsyncSession, source: str, fingerprints: Collection[str],
                                 *, plain: bool = False) -> list[AlertRow]:
    """Every alert of these fingerprints (any startsAt): identities and active ones at once.
    `plain`: read-only rows with the same attributes, without the ORM's cost per object."""
    if not fingerprints:
        return []
    query = _PLAIN_ALERTS_OF_FINGERPRINTS if plain else _ALERTS_OF_FINGERPRINTS
    return list((await s.exec(query, params={"source": source,
                                             "fingerprints": list(fingerprints)})).all())


async def alerts_resolved_by_hand(s: AsyncSession, alert_ids: Collection[int]) -> set[int]:
    """Which of these alerts belong to an incident a person resolved."""
    if not alert_ids:
        return set()
    return set((await s.exec(_RESOLVED_BY_HAND, params={"ids": list(alert_ids)})).all())


async def incidents_of_alerts(s: AsyncSession,
                              alert_ids: Collection[int]) -> dict[int, list[IncidentRow]]:
    found: dict[int, list[IncidentRow]] = {}
    if not alert_ids:
        return found
    for alert_id, incident in (await s.exec(_INCIDENTS_OF_ALERTS,
                                            params={"ids": list(alert_ids)})).all():
        found.setdefault(alert_id, []).append(incident)
    return found


async def open_incidents(s: AsyncSession, keys: Collection[str]) -> dict[str, IncidentRow]:
    if not keys:
        return {}
    return {row.open_key: row for row in (await s.exec(_OPEN_INCIDENTS,
                                                       params={"keys": list(keys)})).all()}


async def last_resolved_of(s: AsyncSession, group_keys: Collection[str]
                           ) -> dict[str, IncidentRow]:
    """The latest resolved incident of each group (what a refire within the hour reopens)."""
    latest: dict[str, IncidentRow] = {}
    if not group_keys:
        return latest
    for row in (await s.exec(_RESOLVED_OF_GROUPS, params={"keys": list(group_keys)})).all():
        best = latest.get(row.group_key)
        if row.resolved_at and (best is None or best.resolved_at is None
                                or row.resolved_at > best.resolved_at):
            latest[row.group_key] = row
    return latest


async def incidents_by_id(s: AsyncSession, ids: Collection[int]) -> dict[int, IncidentRow]:
    if not ids:
        return {}
    return {row.id: row for row in (await s.exec(_INCIDENTS_BY_ID,
                                                 params={"ids": list(ids)})).all()}


async def firing_counts(s: AsyncSession, incident_ids: Collection[int]) -> dict[int, int]:
    if not incident_ids:
        return {}
    return dict((await s.exec(_FIRING_COUNTS, params={"ids": list(incident_ids)})).all())


async def page_targets(s: AsyncSession, incident_ids: Collection[int],
                       kind: str) -> dict[int, list[str]]:
    """Who (or which pager) each incident notified, once each, in order."""
    found: dict[int, list[str]] = {}
    if not incident_ids:
        return found
    for incident_id, target in (await s.exec(_PAGE_TARGETS, params={
            "ids": list(incident_ids), "kind": kind})).all():
        targets = found.setdefault(incident_id, [])
        if target not in targets:
            targets.append(target)
    return found


async def insert_many(s: AsyncSession, model: Any, rows: list[dict[str, Any]], *,
                      returning: tuple[str, ...] = ()) -> list[tuple]:
    """One multi-row INSERT (values cut to their columns); with `returning`, those columns of
    the new rows, in no particular order (asking for the order would make SQLAlchemy insert
    row by row on SQLite), so return a column that tells the rows apart."""
    if not rows:
        return []
    rows = [fit_values(model, dict(row)) for row in rows]
    if not returning:
        await s.exec(_insert(model.__table__), params=rows)
        return []
    statement = _insert(model.__table__, returning)
    return [tuple(row) for row in (await s.exec(statement, params=rows)).all()]


async def insert_many_ignoring(s: AsyncSession, model: Any, rows: Iterable[dict[str, Any]],
                               conflict: list[str], *, returning: str | None = None) -> list:
    """INSERT ... ON CONFLICT DO NOTHING for many rows in one statement; with `returning`,
    that column of the rows that went in (the skipped ones return nothing)."""
    rows = [fit_values(model, dict(row)) for row in rows]
    if not rows:
        return []
    statement = _insert_ignoring(s.get_bind().dialect.name, model.__table__, tuple(conflict),
                                 returning)
    if returning is None:
        await s.exec(statement, params=rows)
        return []
    return [row[0] for row in (await s.exec(statement, params=rows)).all()]


@cache
def _insert(table: Any, returning: tuple[str, ...] = ()) -> Any:
    statement = insert(table)
    return statement.returning(*(table.c[name] for name in returning)) if returning else statement


@cache
def _insert_ignoring(dialect: str, table: Any, conflict: tuple[str, ...],
                     returning: str | None) -> Any:
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = make(table).on_conflict_do_nothing(index_elements=list(conflict))
    return statement if returning is None else statement.returning(table.c[returning])


def timeline_values(*, incident_id: int | None, at: datetime, kind: str,
                    actor: str | None = None, text: str = "",
                    data: dict[str, Any] | None = None, mrkdwn: bool = False) -> dict[str, Any]:
    """A timeline row for `insert_many` (the same columns `timeline` fills)."""
    return {"incident_id": incident_id, "at": at, "kind": kind, "actor": actor,
            "text": text[:4000], "data": data or {}, "mrkdwn": mrkdwn}


def intent_values(*, kind: str, lane: str, at: datetime, incident_id: int | None = None,
                  payload: dict[str, Any] | None = None,
                  pending_key: str | None = None) -> dict[str, Any]:
    """An outbox intent for `insert_many_ignoring` (the same columns `enqueue` fills)."""
    return {"kind": kind, "lane": lane, "incident_id": incident_id, "payload": payload or {},
            "pending_key": pending_key, "state": "pending", "due_at": at, "created_at": at,
            "attempts": 0, "maybe_sent": False}
