"""Read models: what a message shows, assembled from the database after commit."""

from __future__ import annotations

from collections.abc import Collection

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
from bot.domain.privacy import visible, visible_reasons, visible_title
from bot.services import delivery_failures
from bot.store import repo
from bot.store.models import AlertRow, IncidentRow, PageRow, StatusPublication

LINK_ANNOTATIONS = (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard"))


async def incident_view(s: AsyncSession, incident: IncidentRow,
                        handoff_configured: Collection[str] = (),
                        hidden: Collection[str] = (), statuspage: bool = False) -> IncidentView:
    """What the incident's message shows; `hidden` names labels/annotations the team hides;
    `statuspage`: one is configured (Publish to status page, until published)."""
    alerts = await repo.alerts_of_incident(s, incident.id)
    lead = next((a for a in alerts if a.status == "firing"), alerts[0] if alerts else None)
    annotations = visible(lead.annotations, hidden) if lead else {}
    title = visible_title(incident.title, lead.labels, lead.annotations, hidden) if lead else (
        incident.title)
    return IncidentView(
        id=incident.id, title=title, severity=incident.severity,
        status=IncidentStatus(incident.status), team=incident.team,
        action=Action(incident.action), alert_type=incident.alert_type, service=incident.service,
        started_at=min((a.starts_at for a in alerts), default=incident.opened_at),
        summary=annotations.get("summary", ""), description=annotations.get("description", ""),
        links=_links(lead, hidden),
        reasons=visible_reasons(list(incident.rationale.get("reasons", [])), hidden),
        route_path=" > ".join(visible_reasons(incident.rationale.get("route_path", []), hidden)),
        alerts=[_line(a, hidden) for a in alerts],
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
        publishable=statuspage and await s.get(StatusPublication, incident.id) is None)


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
