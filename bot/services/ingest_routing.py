"""Where ingest routes alerts and opens incidents: the one call into the route tree.

Routing is pure and a storm repeats the same label sets, so decisions are cached per config
by label set (a reload brings a new config object and an empty cache).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import Action, Alert, IncidentStatus, alert_title
from bot.domain.routing import RouteDecision, route
from bot.domain.runbook_walk import runbook_for
from bot.services import paging
from bot.services.context import ServiceContext
from bot.store import repo
from bot.store.models import IncidentRow

REOPEN_WINDOW = timedelta(hours=1)
CACHE_SIZE = 20_000


class _DecisionCache:
    """Decisions of one config by label set; emptied when the config changes or it fills."""

    def __init__(self) -> None:
        self.config: object | None = None
        self.decisions: dict[tuple[tuple[str, str], ...], tuple[RouteDecision, ...]] = {}

    def get(self, ctx: ServiceContext, labels: dict[str, str]) -> tuple[RouteDecision, ...]:
        if self.config is not ctx.config:
            self.config, self.decisions = ctx.config, {}
        key = tuple(sorted(labels.items()))
        found = self.decisions.get(key)
        if found is None:
            if len(self.decisions) >= CACHE_SIZE:
                self.decisions.clear()
            found = tuple(route(ctx.config.route, labels, ctx.config.tool_owners))
            self.decisions[key] = found
        return found


_cache = _DecisionCache()


def decisions(ctx: ServiceContext, labels: dict[str, str]) -> tuple[RouteDecision, ...]:
    """Where an alert with these labels goes (treat the decisions as read-only)."""
    return _cache.get(ctx, labels)


def teams(ctx: ServiceContext, labels: dict[str, str]) -> set[str]:
    """The teams an alert routes to: what a silence's `team="X"` scope matches."""
    return {d.team for d in decisions(ctx, labels)}


def new_incident(ctx: ServiceContext, alert: Alert, decision: RouteDecision,
                 now: datetime) -> dict:
    """The columns of the incident this alert opens (inserted many at a time)."""
    labels = alert.labels
    chosen = runbook_for(ctx.runbooks, labels, decision.runbook)
    return dict(
        open_key=decision.group_key, group_key=decision.group_key, route_key=decision.route_key,
        team=decision.team, channel=ctx.config.channel_of(decision.team),
        action=decision.action.value, severity=labels.get("severity", ""),
        title=alert_title(alert.labels, alert.annotations),
        alert_type=labels.get("alert_type", ""), service=labels.get("service", ""),
        runbook=chosen.id if chosen else None,
        status=IncidentStatus.TRIGGERED.value, opened_at=now, rationale=rationale(decision),
        started_at=alert.starts_at)


def reopenable(last: IncidentRow | None, now: datetime) -> bool:
    """A group's incident resolved less than an hour ago: a refire reopens it."""
    return bool(last and last.resolved_at and now - last.resolved_at <= REOPEN_WINDOW)


async def reopen(ctx: ServiceContext, s: AsyncSession, incident: IncidentRow, alert: Alert,
                 decision: RouteDecision, now: datetime) -> None:
    incident.status, incident.open_key = IncidentStatus.TRIGGERED.value, decision.group_key
    incident.resolved_at = incident.resolved_by = incident.acked_at = incident.acked_by = None
    incident.reopened_at, incident.escalation_step, incident.unowned = now, 0, False
    s.add(incident)
    await s.flush()
    repo.timeline(s, incident_id=incident.id, at=now, kind="reopened", actor="source",
                  text=f"{alert.alertname} fired again within an hour of the resolve: reopened")
    if decision.action is Action.PAGE:
        await paging.begin(ctx, s, incident, decision.page_after, now)


def rationale(decision: RouteDecision) -> dict:
    return {"reasons": decision.reasons, "route_path": decision.route_path,
            "route_key": decision.route_key, "matched": decision.matched,
            "group_labels": decision.group_labels}


def resolve_at_source(s: AsyncSession, incident: IncidentRow, now: datetime) -> None:
    held = incident.next_step_kind == paging.PAGE and incident.first_paged_at is None
    incident.status, incident.resolved_at, incident.resolved_by = "resolved", now, None
    incident.open_key, incident.next_step_at, incident.next_step_kind = None, None, None
    incident.auto_resolved_in_hold = held
    text = "every alert resolved at the source" + (
        " before the page was due: nobody was paged" if held else "")
    repo.timeline(s, incident_id=incident.id, at=now, kind="resolved", actor="source", text=text,
                  data={"auto_resolved_in_hold": held})
