"""Ingest: store alerts, route them, open or join incidents, queue messages. One transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import (
    Action,
    Alert,
    AlertStatus,
    IncidentStatus,
    alert_title,
    labels_fingerprint,
)
from bot.domain.privacy import visible, visible_rationale
from bot.domain.routing import RouteDecision, route
from bot.domain.runbook_walk import runbook_for
from bot.domain.text import escape_mrkdwn
from bot.services import cost_spikes, heartbeat, paging, silences, triage
from bot.services.context import ServiceContext
from bot.services.context_facts import context_adjustments
from bot.services.decisions import AlertPath, decide_path
from bot.services.notify import (
    paged_pagers,
    queue_pager_event,
    queue_thread_note,
    sync_everywhere,
)
from bot.store import repo
from bot.store.cas import transition
from bot.store.db import DatabaseUnavailable, Fault, classify
from bot.store.models import AlertRow, IncidentRow, SilenceRow

REOPEN_WINDOW = timedelta(hours=1)
MAX_TRUNCATED = 2**31 - 1  # incident.truncated_at_source is a 32-bit INTEGER on PostgreSQL
log = logging.getLogger(__name__)

__all__ = ["DatabaseUnavailable", "IngestResult", "ingest_alerts", "release_silences"]


@dataclass
class IngestResult:
    """What one webhook did, for the HTTP answer and the metrics."""

    accepted: int = 0
    new_alerts: int = 0
    redeliveries: int = 0
    opened: list[int] = field(default_factory=list)
    digested: int = 0
    silenced: int = 0
    touched: set[int] = field(default_factory=set)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (index in batch, why)


async def ingest_alerts(ctx: ServiceContext, alerts: list[Alert], *,
                        truncated_at_source: int = 0) -> IngestResult:
    """Commit every alert of one webhook before anyone answers the sender.

    Redaction happens first: routing, the database and everything rendered from it see only
    redacted values (the sender's originals are kept apart with redact.store_original).
    One transaction for the batch. A uniqueness race (two replicas opening the same incident)
    is retried once; an error about the data itself falls back to one transaction per alert,
    so only the alert the database refuses is lost (and reported). Only an unavailable
    database raises, as DatabaseUnavailable: the sender retries later.
    """
    try:
        result = await _retried(_ingest_batch, ctx, alerts, truncated_at_source)
    except _Refused as refused:
        log.warning("the database refused a batch of %d alerts (%s): ingesting one by one",
                    len(alerts), refused.reason)
        result = await _ingest_each(ctx, alerts, truncated_at_source)
    ctx.wake_delivery()
    return result


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


async def _ingest_each(ctx: ServiceContext, alerts: list[Alert],
                       truncated: int) -> IngestResult:
    total = IngestResult()
    for index, alert in enumerate(alerts):
        try:
            one = await _retried(_ingest_batch, ctx, [alert], truncated)
        except _Refused as refused:
            total.refused.append((index, f"the database refused this alert: {refused.reason}"))
            continue
        total.accepted += one.accepted
        total.new_alerts += one.new_alerts
        total.redeliveries += one.redeliveries
        total.opened += one.opened
        total.digested += one.digested
        total.silenced += one.silenced
    return total


async def _ingest_batch(ctx: ServiceContext, alerts: list[Alert],
                        truncated_at_source: int) -> IngestResult:
    result = IngestResult()
    now = ctx.clock.now()
    redact = ctx.config.redact
    async with ctx.db.transaction() as s:
        for alert in alerts:
            clean = redact.redactor.alert(alert)
            original = _original(alert, clean) if redact.store_original else None
            await _ingest_one(ctx, s, clean, now, result, original)
            result.accepted += 1
        for incident_id in sorted(result.touched):
            await _settle(s, incident_id, now, truncated_at_source)
    return result


def _original(sent: Alert, clean: Alert) -> dict | None:
    """What the sender sent, when redaction changed anything."""
    if (sent.labels, sent.annotations, sent.generator_url) == (
            clean.labels, clean.annotations, clean.generator_url):
        return None
    return {"labels": sent.labels, "annotations": sent.annotations,
            "generator_url": sent.generator_url}


async def _ingest_one(ctx: ServiceContext, s: AsyncSession, alert: Alert, now: datetime,
                      result: IngestResult, original: dict | None = None) -> None:
    if heartbeat.is_heartbeat(ctx, alert):
        await heartbeat.beat(ctx, s, alert, now)
        return
    fingerprint = alert.fingerprint or labels_fingerprint(alert.labels)
    row = await repo.alert_by_identity(s, alert.source, fingerprint, alert.starts_at)
    if row is None:
        row = await _active_with_moved_start(s, alert, fingerprint, now, result)
    if row is not None:
        result.redeliveries += 1
        row.original = original
        await _redelivered(s, row, alert, now, result)
        await _revisit_digests(ctx, s, row, alert, now, result)
        return
    row = AlertRow(source=alert.source, fingerprint=fingerprint, starts_at=alert.starts_at,
                   status=alert.status.value, labels=alert.labels, annotations=alert.annotations,
                   ends_at=alert.ends_at, generator_url=alert.generator_url, first_seen=now,
                   last_seen=now, original=original)
    s.add(row)
    await s.flush()
    result.new_alerts += 1
    if alert.status is AlertStatus.RESOLVED:
        return  # first seen already resolved: nothing to tell anyone
    silence = await silences.silence_for(s, alert.labels, now, _teams(ctx, alert.labels))
    if silence is not None:
        await silences.hold(s, row, silence)
        await _note_silenced(ctx, s, alert, silence.id, now)
        result.silenced += 1
        return
    await _route_new(ctx, s, row, alert, now, result)


async def _route_new(ctx: ServiceContext, s: AsyncSession, row: AlertRow, alert: Alert,
                     now: datetime, result: IngestResult) -> None:
    """Route a firing alert seen for the first time (or released from a silence)."""
    for decision in route(ctx.config.route, alert.labels, ctx.config.tool_owners):
        context = await context_adjustments(ctx, s, alert, decision, now)  # rules and tiers
        path = await decide_path(ctx, s, alert, decision, now, context.adjustments)
        decision = context.applied(decision, path.decision)
        if path.action is Action.DIGEST:
            result.digested += 1
            await _digest(ctx, s, row, alert, path.applied(decision), now, result)
            continue
        await _attach(ctx, s, row, alert, decision, now, result, path)
        await context.settle(s, decision.group_key, now)


async def _note_silenced(ctx: ServiceContext, s: AsyncSession, alert: Alert, silence_id: int,
                         now: datetime) -> None:
    """An alert that would have joined an open incident is held: say so on its timeline."""
    for decision in route(ctx.config.route, alert.labels, ctx.config.tool_owners):
        incident = await repo.open_incident(s, decision.group_key)
        if incident is not None:
            hidden = ctx.config.hidden_labels(decision.team)
            repo.timeline(s, incident_id=incident.id, at=now, kind="alert_silenced",
                          actor="bot", text=f"{alert.alertname} held by silence {silence_id}",
                          data={"silence": silence_id, "labels": visible(alert.labels, hidden)})


def _teams(ctx: ServiceContext, labels: dict[str, str]) -> set[str]:
    """The teams an alert routes to: what a silence's `team="X"` scope matches."""
    return {d.team for d in route(ctx.config.route, labels, ctx.config.tool_owners)}


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
            for alert in await silences.held_alerts(s, silence_id):
                row = await repo.alert_by_identity(s, alert.source, alert.fingerprint,
                                                   alert.starts_at)
                row.silenced_by = None
                s.add(row)
                await _route_new(ctx, s, row, alert, now, result)
                released += 1
            for incident_id in sorted(result.touched):
                repo.timeline(s, incident_id=incident_id, at=now, kind="released_from_silence",
                              actor="bot", text=f"held by silence {silence_id} until it ended")
                await _settle(s, incident_id, now, 0)
    if released:
        ctx.wake_delivery()
    return released


async def _digest(ctx: ServiceContext, s: AsyncSession, row: AlertRow, alert: Alert,
                  decision: RouteDecision, now: datetime, result: IngestResult, *,
                  repeat: bool = False) -> None:
    """Hold a cost alert for the digest; a spike past the route's ratio pages at once."""
    paging_decision = await cost_spikes.observe(s, row, alert, decision, now, repeat=repeat)
    if paging_decision is not None:
        await _attach(ctx, s, row, alert, paging_decision, now, result)


async def _revisit_digests(ctx: ServiceContext, s: AsyncSession, row: AlertRow, alert: Alert,
                           now: datetime, result: IngestResult) -> None:
    """A repeat re-reads a cost alert's ratio: a spike grown past the line pages now."""
    decisions = [d for d in route(ctx.config.route, row.labels, ctx.config.tool_owners)
                 if d.action is Action.DIGEST]
    if not decisions or await silences.silence_for(s, row.labels, now,
                                                   _teams(ctx, row.labels)) is not None:
        return  # not a cost alert, or silenced since: nobody is paged for it
    for decision in decisions:
        await _digest(ctx, s, row, alert, decision, now, result, repeat=True)


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
    for incident in await repo.incidents_of_alert(s, row.id):
        if incident.resolved_by and row.status == AlertStatus.FIRING.value:
            await _note_still_firing(s, incident, alert, now)
        if not changed:
            continue
        if became:
            repo.timeline(s, incident_id=incident.id, at=now, kind=f"alert_{became}",
                          actor="source", text=f"{alert.alertname} {became} at the source",
                          data={"alert_id": row.id})
        result.touched.add(incident.id)


async def _note_still_firing(s: AsyncSession, incident: IncidentRow, alert: Alert,
                             now: datetime) -> None:
    """Resolved by hand but still firing at the source: say so once, in the thread, no page."""
    if await repo.has_timeline(s, incident.id, "still_firing"):
        return
    text = (f"{escape_mrkdwn(alert.alertname)} is still firing at the source after "
            f"#{incident.id} was resolved by <@{incident.resolved_by}>. Not paging again.")
    repo.timeline(s, incident_id=incident.id, at=now, kind="still_firing", actor="source",
                  text=text, mrkdwn=True)
    await queue_thread_note(s, incident, text, now)


async def _attach(ctx: ServiceContext, s: AsyncSession, row: AlertRow, alert: Alert,
                  decision: RouteDecision, now: datetime, result: IngestResult,
                  path: AlertPath | None = None) -> None:
    incident = await repo.open_incident(s, decision.group_key)
    reopened = False
    if incident is None and (last := await _reopenable(s, decision, now)) is not None:
        reopened = await _reopen(ctx, s, last, alert, decision, now, path)
        # Lost the compare-and-set: another replica reopened it first; join what it opened.
        incident = last if reopened else await repo.open_incident(s, decision.group_key)
    if incident is None:
        incident = _new_incident(ctx, alert, decision, now, path)
        s.add(incident)
        await s.flush()
        result.opened.append(incident.id)
        hidden = ctx.config.hidden_labels(decision.team)  # timeline rows keep no hidden label
        repo.timeline(s, incident_id=incident.id, at=now, kind="received", actor="source",
                      text=f"{alert.alertname} received from {alert.source}",
                      data={"alert_id": row.id, "labels": visible(alert.labels, hidden)})
        repo.timeline(s, incident_id=incident.id, at=now, kind="routed", actor="bot",
                      text=f"routed to {decision.team} ({decision.action.value})",
                      data=visible_rationale(_rationale(decision, path), hidden))
        await _begin(ctx, s, incident, decision, path, now)
    elif not reopened:
        if alert.starts_at < (incident.started_at or alert.starts_at):
            incident.started_at = alert.starts_at
        repo.timeline(s, incident_id=incident.id, at=now, kind="alert_added", actor="source",
                      text=f"{alert.alertname} joined the incident", data={"alert_id": row.id})
    await repo.link(s, incident.id, row.id)
    result.touched.add(incident.id)


async def _begin(ctx: ServiceContext, s: AsyncSession, incident: IncidentRow,
                 decision: RouteDecision, path: AlertPath | None, now: datetime) -> None:
    if decision.action is Action.PAGE:
        await paging.begin(ctx, s, incident, decision.page_after, now)
        await triage.after_page(ctx, s, incident, path, now)  # high confidence: more at once
    elif path is not None and path.triage:
        await triage.begin(ctx, s, incident, path, now)


def _new_incident(ctx: ServiceContext, alert: Alert, decision: RouteDecision,
                  now: datetime, path: AlertPath | None = None) -> IncidentRow:
    labels = alert.labels
    return IncidentRow(
        open_key=decision.group_key, group_key=decision.group_key, route_key=decision.route_key,
        team=decision.team, channel=ctx.config.channel_of(decision.team),
        action=decision.action.value, severity=labels.get("severity", ""),
        title=_title(alert), alert_type=labels.get("alert_type", ""),
        service=labels.get("service", ""),
        runbook=_runbook_id(ctx, labels, decision.runbook),
        status=IncidentStatus.TRIGGERED.value, opened_at=now, rationale=_rationale(decision, path),
        started_at=alert.starts_at)


def _runbook_id(ctx: ServiceContext, labels: dict[str, str], route_runbook: str | None):
    """The route's runbook, the alert's `runbook` label, or the first that serves the alert."""
    chosen = runbook_for(ctx.runbooks, labels, route_runbook)
    return chosen.id if chosen else None


async def _reopenable(s: AsyncSession, decision: RouteDecision,
                      now: datetime) -> IncidentRow | None:
    """The group's incident if it was resolved less than an hour ago: a refire reopens it."""
    last = await repo.last_resolved(s, decision.group_key)
    if last is None or last.resolved_at is None or now - last.resolved_at > REOPEN_WINDOW:
        return None
    return last


async def _reopen(ctx: ServiceContext, s: AsyncSession, incident: IncidentRow, alert: Alert,
                  decision: RouteDecision, now: datetime, path: AlertPath | None = None) -> bool:
    """Resolved -> triggered, as a compare-and-set: False when another replica won."""
    if not await transition(s, incident, [IncidentRow.status == IncidentStatus.RESOLVED.value,
                                          IncidentRow.open_key.is_(None)],
                            {"status": IncidentStatus.TRIGGERED.value,
                             "open_key": decision.group_key, "resolved_at": None,
                             "resolved_by": None, "acked_at": None, "acked_by": None,
                             "reopened_at": now, "escalation_step": 0, "unowned": False}):
        return False
    repo.timeline(s, incident_id=incident.id, at=now, kind="reopened", actor="source",
                  text=f"{alert.alertname} fired again within an hour of the resolve: reopened")
    if path is not None:
        incident.action, incident.rationale = decision.action.value, _rationale(decision, path)
        s.add(incident)
    await _begin(ctx, s, incident, decision, path, now)
    return True


def _title(alert: Alert) -> str:
    return alert_title(alert.labels, alert.annotations)


def _rationale(decision: RouteDecision, path: AlertPath | None = None) -> dict:
    return {"reasons": decision.reasons, "route_path": decision.route_path,
            "route_key": decision.route_key, "matched": decision.matched,
            "group_labels": decision.group_labels, **(path.rationale() if path else {})}


async def _settle(s: AsyncSession, incident_id: int, now: datetime, truncated: int) -> None:
    """After a webhook: record source truncation, resolve when every alert has, re-render."""
    incident = await repo.incident(s, incident_id)
    if incident is None:
        return
    truncated = min(truncated, MAX_TRUNCATED)
    if truncated != incident.truncated_at_source:
        incident.truncated_at_source = truncated
    if incident.status != IncidentStatus.RESOLVED and await repo.firing_count(s, incident_id) == 0:
        _resolve_at_source(s, incident, now)
        for pager in await paged_pagers(s, incident_id):
            await queue_pager_event(s, incident, pager, "resolve", now)
    s.add(incident)
    await sync_everywhere(s, incident, now)


def _resolve_at_source(s: AsyncSession, incident: IncidentRow, now: datetime) -> None:
    held = incident.next_step_kind == paging.PAGE and incident.first_paged_at is None
    incident.status, incident.resolved_at, incident.resolved_by = "resolved", now, None
    incident.open_key, incident.next_step_at, incident.next_step_kind = None, None, None
    incident.auto_resolved_in_hold = held
    text = "every alert resolved at the source" + (
        " before the page was due: nobody was paged" if held else "")
    repo.timeline(s, incident_id=incident.id, at=now, kind="resolved", actor="source", text=text,
                  data={"auto_resolved_in_hold": held})
