"""Read models: what a message shows, assembled from the database after commit."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import (
    Action,
    AlertLine,
    AlertStatus,
    IncidentStatus,
    IncidentView,
    Link,
)
from bot.store import repo
from bot.store.models import AlertRow, IncidentRow

LINK_ANNOTATIONS = (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard"))


async def incident_view(s: AsyncSession, incident: IncidentRow) -> IncidentView:
    alerts = await repo.alerts_of_incident(s, incident.id)
    lead = next((a for a in alerts if a.status == "firing"), alerts[0] if alerts else None)
    annotations = lead.annotations if lead else {}
    return IncidentView(
        id=incident.id, title=incident.title, severity=incident.severity,
        status=IncidentStatus(incident.status), team=incident.team,
        action=Action(incident.action), alert_type=incident.alert_type, service=incident.service,
        started_at=min((a.starts_at for a in alerts), default=incident.opened_at),
        summary=annotations.get("summary", ""), description=annotations.get("description", ""),
        links=_links(lead), reasons=list(incident.rationale.get("reasons", [])),
        route_path=" > ".join(incident.rationale.get("route_path", [])),
        alerts=[_line(a) for a in alerts], alerts_truncated_at_source=incident.truncated_at_source,
        acked_by=incident.acked_by, acked_at=incident.acked_at,
        resolved_by=incident.resolved_by, resolved_at=incident.resolved_at,
        runbook=incident.runbook)


def _links(alert: AlertRow | None) -> list[Link]:
    if alert is None:
        return []
    links = [Link(label="Source", url=alert.generator_url)] if alert.generator_url else []
    for key, label in LINK_ANNOTATIONS:
        if alert.annotations.get(key):
            links.append(Link(label=label, url=alert.annotations[key]))
    return links


def _line(alert: AlertRow) -> AlertLine:
    return AlertLine(alertname=alert.labels.get("alertname", "alert"),
                     status=AlertStatus(alert.status),
                     summary=alert.annotations.get("summary", ""), starts_at=alert.starts_at,
                     labels=alert.labels, generator_url=alert.generator_url)
