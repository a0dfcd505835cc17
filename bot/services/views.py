"""Read models: what a message shows, assembled from the database after commit."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import (
    Action,
    AlertLine,
    AlertStatus,
    IncidentStatus,
    IncidentView,
    Link,
    PageLine,
)
from bot.domain.changes import ChangeLine
from bot.domain.privacy import visible, visible_reasons, visible_title
from bot.services import delivery_failures
from bot.services.context_facts import recent_changes
from bot.store.models import (
    AlertRow,
    FeedbackRow,
    IncidentAlert,
    IncidentRow,
    PageRow,
    StatusPublication,
)

CHANGES_WINDOW = timedelta(hours=2)
CHANGES_SHOWN = 5
LINK_ANNOTATIONS = (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard"))
#: Alerts a message can list (bot.slack.blocks shows at most 50); the rest are counted in SQL,
#: so re-rendering an incident of 20,000 alerts costs what one of 50 does.
VIEW_ALERTS = 50


async def incident_view(s: AsyncSession, incident: IncidentRow,
                        handoff_configured: Collection[str] = (),
                        hidden: Collection[str] = (),
                        changes_window: timedelta = CHANGES_WINDOW,
                        statuspage: bool = False) -> IncidentView:
    """What the incident's message shows; `hidden` names labels/annotations the team hides;
    `statuspage`: one is configured (Publish to status page, until published)."""
    total, firing, started = await _alert_counts(s, incident.id)
    started = started or incident.opened_at
    alerts = await _shown_alerts(s, incident.id)
    lead = next((a for a in alerts if a.status == "firing"), alerts[0] if alerts else None)
    annotations = visible(lead.annotations, hidden) if lead else {}
    title = visible_title(incident.title, lead.labels, lead.annotations, hidden) if lead else (
        incident.title)
    return IncidentView(
        id=incident.id, title=title, severity=incident.severity,
        status=IncidentStatus(incident.status), team=incident.team,
        action=Action(incident.action), alert_type=incident.alert_type, service=incident.service,
        started_at=started,
        summary=annotations.get("summary", ""), description=annotations.get("description", ""),
        links=_links(lead, hidden),
        reasons=visible_reasons(list(incident.rationale.get("reasons", [])), hidden),
        route_path=" > ".join(visible_reasons(incident.rationale.get("route_path", []), hidden)),
        alerts=[_line(a, hidden) for a in alerts], alert_count=total, firing_alerts=firing,
        alerts_truncated_at_source=incident.truncated_at_source,
        acked_by=incident.acked_by, acked_at=incident.acked_at,
        resolved_by=incident.resolved_by, resolved_at=incident.resolved_at,
        runbook=incident.runbook, pages=await _pages(s, incident.id),
        first_paged_at=incident.first_paged_at,
        page_held_until=incident.next_step_at if incident.next_step_kind == "page" else None,
        unowned=incident.unowned, humans_mode=incident.humans_mode, humans_by=incident.humans_by,
        humans_at=incident.humans_at, handoff_error=incident.handoff_error,
        handoff_configured=bool(handoff_configured and incident.service in handoff_configured),
        auto_resolved_in_hold=incident.auto_resolved_in_hold,
        delivery_failures=await delivery_failures.failures_of(s, incident.id),
        why=visible_reasons(list(incident.rationale.get("why", [])), hidden),
        triage_pending=incident.triage_state == "pending",
        triage_due_at=incident.triage_due_at,
        auto_runbook_at=incident.auto_due_at if incident.auto_state == "pending" else None,
        changes=await changes_of(s, incident, started, changes_window), tier=incident.tier,
        feedback=await feedback_counts(s, incident.id),
        publishable=statuspage and await s.get(StatusPublication, incident.id) is None)


async def changes_of(s: AsyncSession, incident: IncidentRow, started, window: timedelta,
                     shown: int | None = CHANGES_SHOWN) -> list[ChangeLine]:
    """Changes of the service and its dependencies from `window` before the start on."""
    services = (incident.context or {}).get("services") or (
        [incident.service] if incident.service else [])
    if not services:
        return []
    found = await recent_changes(s, services, started - window)
    return found if shown is None else found[-shown:]


async def feedback_counts(s: AsyncSession, incident_id: int) -> dict[str, int]:
    """How many people chose each verdict on the feedback row."""
    rows = (await s.exec(select(FeedbackRow.verdict, func.count()).where(
        FeedbackRow.incident_id == incident_id).group_by(FeedbackRow.verdict))).all()
    return {verdict: count for verdict, count in rows}


def _of_incident(query, incident_id: int):
    return (query.join(IncidentAlert, col(IncidentAlert.alert_id) == AlertRow.id)
            .where(IncidentAlert.incident_id == incident_id))


async def _alert_counts(s: AsyncSession, incident_id: int):
    """(alerts, firing, earliest start) of the incident, counted by the database."""
    firing = func.sum(case((AlertRow.status == "firing", 1), else_=0))
    query = _of_incident(select(func.count(), firing, func.min(AlertRow.starts_at))
                         .select_from(AlertRow), incident_id)
    total, firing_count, started = (await s.exec(query)).one()
    return total, int(firing_count or 0), started


async def _shown_alerts(s: AsyncSession, incident_id: int) -> list[AlertRow]:
    """The alerts the message lists: firing first, then the oldest, VIEW_ALERTS at most."""
    resolved_last = case((AlertRow.status == "firing", 0), else_=1)
    query = _of_incident(select(AlertRow), incident_id).order_by(
        resolved_last, col(AlertRow.starts_at), col(AlertRow.id)).limit(VIEW_ALERTS)
    return list((await s.exec(query)).all())


async def _pages(s: AsyncSession, incident_id: int) -> list[PageLine]:
    rows = (await s.exec(select(PageRow).where(PageRow.incident_id == incident_id)
                         .order_by(col(PageRow.id)))).all()
    return [PageLine(target_kind=r.target_kind, target=r.target, level=r.level, at=r.at,
                     dnd_until=r.dnd_until, error=r.error, outcome=r.outcome)
            for r in rows]


def _links(alert: AlertRow | None, hidden: Collection[str]) -> list[Link]:
    if alert is None:
        return []
    links = [Link(label="Source", url=alert.generator_url)] if alert.generator_url else []
    for key, label in LINK_ANNOTATIONS:
        if key not in hidden and alert.annotations.get(key):
            links.append(Link(label=label, url=alert.annotations[key]))
    return links


def _line(alert: AlertRow, hidden: Collection[str]) -> AlertLine:
    labels, annotations = visible(alert.labels, hidden), visible(alert.annotations, hidden)
    return AlertLine(alertname=labels.get("alertname", "alert"),
                     status=AlertStatus(alert.status),
                     summary=annotations.get("summary", ""), starts_at=alert.starts_at,
                     labels=labels, generator_url=alert.generator_url)
