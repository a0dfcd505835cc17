"""The noise review's input, read from the database: one IncidentRecord per incident.

Figures come from what was recorded, never estimated: the first page and first ack from the
incident and its timeline (DESIGN.md: time to ack = first ack minus first page, over paged
incidents), each page a person received from the `page` table, each firing from an alert.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.digests import ActionItemRecord, IncidentRecord, PageRecord, Window
from bot.store.models import (
    ActionItemRow,
    AlertRow,
    FeedbackRow,
    IncidentAlert,
    IncidentRow,
    PageRow,
    TimelineEvent,
)


async def incident_records(s: AsyncSession, span: Window, *, teams: Iterable[str] | None = None,
                           rotations: Mapping[str, str] | None = None) -> list[IncidentRecord]:
    """Every incident of `teams` (None: all) opened, fired or paged in [start, end).

    `rotations` names each team's schedule; a page counts against it (or the team).
    """
    incidents = await _touched(s, span, None if teams is None else set(teams))
    ids = [incident.id for incident in incidents]
    pages, fired, acks = await _pages(s, ids), await _firings(s, ids), await _first_acks(s, ids)
    humans = await _with_timeline(s, ids, "routed_to_humans")
    verdicts = await _verdicts(s, ids)
    rotations = rotations or {}
    return [_record(incident, pages[incident.id], fired[incident.id], acks.get(incident.id),
                    incident.id in humans, rotations.get(incident.team) or incident.team)
            .model_copy(update={"verdicts": verdicts.get(incident.id, [])})
            for incident in incidents]


async def _verdicts(s: AsyncSession, ids: list[int]) -> dict[int, list[str]]:
    """Each incident's feedback verdicts (one per person)."""
    found: dict[int, list[str]] = defaultdict(list)
    if ids:
        query = (select(FeedbackRow.incident_id, FeedbackRow.verdict)
                 .where(col(FeedbackRow.incident_id).in_(ids)).order_by(col(FeedbackRow.id)))
        for incident_id, verdict in (await s.exec(query)).all():
            found[incident_id].append(verdict)
    return found


async def _touched(s: AsyncSession, span: Window, teams: set[str] | None) -> list[IncidentRow]:
    paged = select(PageRow.incident_id).where(col(PageRow.at) >= span.start,
                                              col(PageRow.at) < span.end)
    fired = (select(IncidentAlert.incident_id)
             .join(AlertRow, col(AlertRow.id) == IncidentAlert.alert_id)
             .where(col(AlertRow.starts_at) >= span.start, col(AlertRow.starts_at) < span.end))
    opened = (col(IncidentRow.opened_at) >= span.start) & (col(IncidentRow.opened_at) < span.end)
    query = select(IncidentRow).where(or_(opened, col(IncidentRow.id).in_(paged),
                                          col(IncidentRow.id).in_(fired)))
    if teams is not None:
        query = query.where(col(IncidentRow.team).in_(sorted(teams)))
    return list((await s.exec(query.order_by(col(IncidentRow.id)))).all())


async def _pages(s: AsyncSession, ids: list[int]) -> dict[int, list[PageRow]]:
    """The pages people received (user targets); pagers and channels wake nobody by name."""
    found: dict[int, list[PageRow]] = defaultdict(list)
    if ids:
        query = (select(PageRow).where(col(PageRow.incident_id).in_(ids),
                                       PageRow.target_kind == "user")
                 .order_by(col(PageRow.at), col(PageRow.id)))
        for page in (await s.exec(query)).all():
            found[page.incident_id].append(page)
    return found


async def _firings(s: AsyncSession, ids: list[int]) -> dict[int, list[AlertRow]]:
    found: dict[int, list[AlertRow]] = defaultdict(list)
    if ids:
        query = (select(IncidentAlert.incident_id, AlertRow)
                 .join(AlertRow, col(AlertRow.id) == IncidentAlert.alert_id)
                 .where(col(IncidentAlert.incident_id).in_(ids)).order_by(col(AlertRow.id)))
        for incident_id, alert in (await s.exec(query)).all():
            found[incident_id].append(alert)
    return found


async def _first_acks(s: AsyncSession, ids: list[int]) -> dict[int, datetime]:
    """The first ack of each incident, from the timeline: a reopen clears `acked_at`."""
    if not ids:
        return {}
    query = (select(TimelineEvent.incident_id, func.min(TimelineEvent.at))
             .where(col(TimelineEvent.incident_id).in_(ids), TimelineEvent.kind == "acked")
             .group_by(col(TimelineEvent.incident_id)))
    return {incident_id: at for incident_id, at in (await s.exec(query)).all()}


async def _with_timeline(s: AsyncSession, ids: list[int], kind: str) -> set[int]:
    if not ids:
        return set()
    query = select(TimelineEvent.incident_id).where(
        col(TimelineEvent.incident_id).in_(ids), TimelineEvent.kind == kind)
    return set((await s.exec(query)).all())


def _record(incident: IncidentRow, pages: list[PageRow], alerts: list[AlertRow],
            first_ack: datetime | None, humans: bool, rotation: str) -> IncidentRecord:
    by_source = incident.resolved_at is not None and incident.resolved_by is None
    return IncidentRecord(
        id=incident.id, team=incident.team, alertname=_alertname(incident, alerts),
        route_key=incident.route_key, opened_at=incident.opened_at,
        first_paged_at=incident.first_paged_at, first_acked_at=first_ack,
        resolved_at=incident.resolved_at, resolved_by_source=by_source,
        paged=incident.first_paged_at is not None,
        pages=[PageRecord(person=p.target, at=p.at, rotation=rotation) for p in pages],
        routed_to_humans=humans, alert_fired_at=[alert.starts_at for alert in alerts],
        auto_resolved_before_ack=by_source and first_ack is None, tier=incident.tier or "")


def _alertname(incident: IncidentRow, alerts: list[AlertRow]) -> str:
    """The rule's name: the alertname of the incident's first alert, else its title."""
    for alert in alerts:
        if alert.labels.get("alertname"):
            return alert.labels["alertname"]
    return incident.title


async def action_items(s: AsyncSession, teams: Iterable[str]) -> list[ActionItemRecord]:
    """Postmortem action items of these teams' incidents (and ones tied to no incident)."""
    wanted = set(teams)
    rows = (await s.exec(
        select(ActionItemRow, IncidentRow.team)
        .join(IncidentRow, col(ActionItemRow.incident_id) == IncidentRow.id, isouter=True)
        .order_by(col(ActionItemRow.id)))).all()
    return [ActionItemRecord(id=item.id, owner=item.owner, due=item.due,
                             done=item.done_at is not None, title=item.text)
            for item, team in rows if team is None or team in wanted]
