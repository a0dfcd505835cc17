"""Ingest: store alerts, route them, open or join incidents, queue messages. One transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import Action, Alert, AlertStatus, IncidentStatus, labels_fingerprint
from bot.domain.routing import RouteDecision, route
from bot.services.context import ServiceContext
from bot.services.outbox import queue_sync
from bot.store import repo
from bot.store.models import AlertRow, IncidentRow


@dataclass
class IngestResult:
    """What one webhook did, for the HTTP answer and the metrics."""

    accepted: int = 0
    new_alerts: int = 0
    redeliveries: int = 0
    opened: list[int] = field(default_factory=list)
    digested: int = 0
    touched: set[int] = field(default_factory=set)


async def ingest_alerts(ctx: ServiceContext, alerts: list[Alert], *,
                        truncated_at_source: int = 0) -> IngestResult:
    """Commit every alert of one webhook before anyone answers the sender."""
    result = IngestResult()
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        for alert in alerts:
            await _ingest_one(ctx, s, alert, now, result)
            result.accepted += 1
        for incident_id in sorted(result.touched):
            await _settle(s, incident_id, now, truncated_at_source)
    ctx.wake_delivery()
    return result


async def _ingest_one(ctx: ServiceContext, s: AsyncSession, alert: Alert, now: datetime,
                      result: IngestResult) -> None:
    fingerprint = alert.fingerprint or labels_fingerprint(alert.labels)
    row = await repo.alert_by_identity(s, alert.source, fingerprint, alert.starts_at)
    if row is None:
        row = await _active_with_moved_start(s, alert, fingerprint, now, result)
    if row is not None:
        result.redeliveries += 1
        await _redelivered(s, row, alert, now, result)
        return
    row = AlertRow(source=alert.source, fingerprint=fingerprint, starts_at=alert.starts_at,
                   status=alert.status.value, labels=alert.labels, annotations=alert.annotations,
                   ends_at=alert.ends_at, generator_url=alert.generator_url, first_seen=now,
                   last_seen=now)
    s.add(row)
    await s.flush()
    result.new_alerts += 1
    if alert.status is AlertStatus.RESOLVED:
        return  # first seen already resolved: nothing to tell anyone
    for decision in route(ctx.config.route, alert.labels, ctx.config.tool_owners):
        if decision.action is Action.DIGEST:
            result.digested += 1
            continue
        await _attach(ctx, s, row, alert, decision, now, result)


async def _active_with_moved_start(s: AsyncSession, alert: Alert, fingerprint: str,
                                   now: datetime, result: IngestResult) -> AlertRow | None:
    """The active alert of this fingerprint when the sender moved its startsAt.

    Alertmanager merges a re-sent alert into the active one and keeps the earlier start (a
    resolve pushed with an earlier start, say): the same alert. A later start means it fired
    anew, so the old one must have ended even if we never heard it resolve.
    """
    active = await repo.firing_alert_by_fingerprint(s, alert.source, fingerprint)
    if active is None or alert.starts_at <= active.starts_at or alert.status is not (
            AlertStatus.FIRING):
        return active
    active.status, active.ends_at = AlertStatus.RESOLVED.value, alert.starts_at
    active.last_seen = now
    s.add(active)
    for incident in await repo.incidents_of_alert(s, active.id):
        result.touched.add(incident.id)
    return None


async def _redelivered(s: AsyncSession, row: AlertRow, alert: Alert, now: datetime,
                       result: IngestResult) -> None:
    """A repeat updates what may change (annotations, status, end) and re-renders; never reposts."""
    changed = row.annotations != alert.annotations or row.status != alert.status.value
    became = alert.status.value if row.status != alert.status.value else None
    row.annotations = dict(alert.annotations)
    row.status = alert.status.value
    row.ends_at = alert.ends_at
    row.generator_url = alert.generator_url or row.generator_url
    row.last_seen = now
    row.deliveries += 1
    s.add(row)
    if not changed:
        return
    for incident in await repo.incidents_of_alert(s, row.id):
        if became:
            repo.timeline(s, incident_id=incident.id, at=now, kind=f"alert_{became}",
                          actor="source", text=f"{alert.alertname} {became} at the source",
                          data={"alert_id": row.id})
        result.touched.add(incident.id)


async def _attach(ctx: ServiceContext, s: AsyncSession, row: AlertRow, alert: Alert,
                  decision: RouteDecision, now: datetime, result: IngestResult) -> None:
    incident = await repo.open_incident(s, decision.group_key)
    if incident is None:
        incident = _new_incident(ctx, alert, decision, now)
        s.add(incident)
        await s.flush()
        result.opened.append(incident.id)
        repo.timeline(s, incident_id=incident.id, at=now, kind="received", actor="source",
                      text=f"{alert.alertname} received from {alert.source}",
                      data={"alert_id": row.id, "labels": alert.labels})
        repo.timeline(s, incident_id=incident.id, at=now, kind="routed", actor="bot",
                      text=f"routed to {decision.team} ({decision.action.value})",
                      data=_rationale(decision))
    else:
        repo.timeline(s, incident_id=incident.id, at=now, kind="alert_added", actor="source",
                      text=f"{alert.alertname} joined the incident", data={"alert_id": row.id})
    await repo.link(s, incident.id, row.id)
    result.touched.add(incident.id)


def _new_incident(ctx: ServiceContext, alert: Alert, decision: RouteDecision,
                  now: datetime) -> IncidentRow:
    labels = alert.labels
    return IncidentRow(
        open_key=decision.group_key, group_key=decision.group_key, route_key=decision.route_key,
        team=decision.team, channel=ctx.config.channel_of(decision.team),
        action=decision.action.value, severity=labels.get("severity", ""),
        title=_title(alert), alert_type=labels.get("alert_type", ""),
        service=labels.get("service", ""),
        runbook=decision.runbook or labels.get("runbook") or None,
        status=IncidentStatus.TRIGGERED.value, opened_at=now, rationale=_rationale(decision))


def _title(alert: Alert) -> str:
    summary = alert.annotations.get("summary", "").strip()
    name = alert.labels.get("alertname", "").strip()
    if summary and name:
        return f"{name}: {summary}"[:512]
    return (summary or name or "Alert")[:512]


def _rationale(decision: RouteDecision) -> dict:
    return {"reasons": decision.reasons, "route_path": decision.route_path,
            "route_key": decision.route_key, "matched": decision.matched,
            "group_labels": decision.group_labels}


async def _settle(s: AsyncSession, incident_id: int, now: datetime, truncated: int) -> None:
    """After a webhook: record source truncation, resolve when every alert has, re-render."""
    incident = await repo.incident(s, incident_id)
    if incident is None:
        return
    if truncated != incident.truncated_at_source:
        incident.truncated_at_source = truncated
    if incident.status != IncidentStatus.RESOLVED and await repo.firing_count(s, incident_id) == 0:
        incident.status = IncidentStatus.RESOLVED.value
        incident.resolved_at = now
        incident.resolved_by = None
        incident.open_key = None
        repo.timeline(s, incident_id=incident_id, at=now, kind="resolved", actor="source",
                      text="every alert resolved at the source")
    s.add(incident)
    await queue_sync(s, incident, now)
