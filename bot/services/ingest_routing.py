"""Where ingest routes alerts and opens incidents: the one call into the route tree.

Routing is pure and a storm repeats the same label sets, so decisions are cached per config
by label set (a reload brings a new config object and an empty cache).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import Action, Alert, IncidentStatus, alert_title
from bot.domain.routing import RouteDecision, labels_read, route
from bot.domain.runbook_walk import runbook_for
from bot.services import paging, triage
from bot.services.context import ServiceContext
from bot.services.decisions import AlertPath
from bot.store import repo
from bot.store.cas import transition
from bot.store.models import IncidentRow

REOPEN_WINDOW = timedelta(hours=1)
CACHE_SIZE = 20_000


class _DecisionCache:
    """Decisions of one config by the labels routing reads (`labels_read`: alerts of one
    storm differ by pod or instance, which no route looks at); emptied when the config
    changes or it fills."""

    def __init__(self) -> None:
        self.config: object | None = None
        self.read: tuple[str, ...] | None = None
        self.decisions: dict[tuple, tuple[RouteDecision, ...]] = {}

    def get(self, ctx: ServiceContext, labels: dict[str, str]) -> tuple[RouteDecision, ...]:
        if self.config is not ctx.config:
            self.config, self.decisions = ctx.config, {}
            read = labels_read(ctx.config.route)
            self.read = None if read is None else tuple(sorted(read))
        key = (tuple(sorted(labels.items())) if self.read is None
               else tuple(labels.get(name) for name in self.read))
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
                 now: datetime, path: AlertPath | None = None) -> dict:
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
        status=IncidentStatus.TRIGGERED.value, opened_at=now, rationale=rationale(decision, path),
        started_at=alert.starts_at)


def reopenable(last: IncidentRow | None, now: datetime) -> bool:
    """A group's incident resolved less than an hour ago: a refire reopens it."""
    return bool(last and last.resolved_at and now - last.resolved_at <= REOPEN_WINDOW)


async def reopen(ctx: ServiceContext, s: AsyncSession, incident: IncidentRow, alert: Alert,
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
        incident.action, incident.rationale = decision.action.value, rationale(decision, path)
        s.add(incident)
    await begin(ctx, s, incident, decision, path, now)
    return True


async def begin(ctx: ServiceContext, s: AsyncSession, incident: IncidentRow,
                decision: RouteDecision, path: AlertPath | None, now: datetime) -> None:
    """What an opened (or reopened) incident starts: a page, or a triage waiting for a click."""
    if decision.action is Action.PAGE:
        await paging.begin(ctx, s, incident, decision.page_after, now)
        await triage.after_page(ctx, s, incident, path, now)  # high confidence: more at once
    elif path is not None and path.triage:
        await triage.begin(ctx, s, incident, path, now)


def rationale(decision: RouteDecision, path: AlertPath | None = None) -> dict:
    return {"reasons": decision.reasons, "route_path": decision.route_path,
            "route_key": decision.route_key, "matched": decision.matched,
            "group_labels": decision.group_labels, **(path.rationale() if path else {})}


async def resolve_at_source(s: AsyncSession, incident: IncidentRow, now: datetime) -> bool:
    """Every alert resolved: resolve, as a compare-and-set on the status read. An Ack or a
    Resolve committed meanwhile (on another replica) wins: False, the incident as it left it."""
    held = incident.next_step_kind == paging.PAGE and incident.first_paged_at is None
    if not await transition(s, incident, [IncidentRow.status == incident.status], {
            "status": "resolved", "resolved_at": now, "resolved_by": None, "open_key": None,
            "next_step_at": None, "next_step_kind": None, "auto_resolved_in_hold": held}):
        return False
    text = "every alert resolved at the source" + (
        " before the page was due: nobody was paged" if held else "")
    repo.timeline(s, incident_id=incident.id, at=now, kind="resolved", actor="source", text=text,
                  data={"auto_resolved_in_hold": held})
    return True
