"""Context for routing: the facts around a batch of alerts, read in bulk, and what they change.

`Snapshot` reads once per transaction only what the configured rules need (recent changes,
alerts firing, noise verdicts, maintenance windows) and answers each alert's ContextFacts from
memory; `context_adjustments` turns the rules and tiers that hold into Adjustments for
bot.domain.alert_path.decide, which ingest's `decide_path` (bot/services/decisions.py) calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import OncallConfig
from bot.domain.alert_path import Adjustment, PathDecision
from bot.domain.alerts import Action, Alert
from bot.domain.changes import ChangeLine
from bot.domain.context_rules import holding
from bot.domain.feedback import Verdict
from bot.domain.routing import RouteDecision
from bot.domain.tiers import TierVerdict
from bot.services.context import ServiceContext
from bot.services.context_snapshot import Snapshot, services_of, tier_of, where_of
from bot.store.models import AlertRow, ChangeRow, FeedbackRow, IncidentRow, MaintenanceRow

FIRING_MAX = 5000  # alerts read for while_firing: a storm beyond this is a fact of its own
_SESSION_KEY = "context_snapshot"


async def snapshot(s: AsyncSession, config: OncallConfig, now: datetime) -> Snapshot:
    """Read, in one query each, only what some configured rule needs."""
    rules = config.context
    found = Snapshot(now=now)
    change_window = max((r.after_change.within for r in rules if r.after_change),
                        default=None)
    if change_window is not None:
        found.changes = await recent_changes(s, None, now - change_window, now)
    if any(r.while_firing for r in rules):
        rows = (await s.exec(select(AlertRow.labels).where(
            AlertRow.status == "firing", col(AlertRow.silenced_by).is_(None))
            .order_by(col(AlertRow.id).desc()).limit(FIRING_MAX))).all()
        found.firing = [dict(labels) for labels in rows]
    noise_window = max((r.recent_noise.within for r in rules if r.recent_noise), default=None)
    if noise_window is not None:
        rows = (await s.exec(select(FeedbackRow.rule, FeedbackRow.at).where(
            FeedbackRow.verdict == Verdict.NOISE.value,
            col(FeedbackRow.at) >= now - noise_window))).all()
        for rule, at in rows:
            found.noise.setdefault(rule, []).append(at)
    if any(r.maintenance is not None for r in rules):
        rows = (await s.exec(select(MaintenanceRow.team).where(
            col(MaintenanceRow.starts_at) <= now, col(MaintenanceRow.ends_at) > now))).all()
        found.maintenance = set(rows)
    return found


async def recent_changes(s: AsyncSession, services: Sequence[str] | None, since: datetime,
                         until: datetime | None = None, limit: int = 500) -> list[ChangeLine]:
    """Changes of these services (None: any) from `since` to `until`, oldest first."""
    query = select(ChangeRow).where(col(ChangeRow.at) >= since)
    if until is not None:
        query = query.where(col(ChangeRow.at) <= until)
    if services is not None:
        query = query.where(col(ChangeRow.service).in_(list(services)))
    rows = (await s.exec(query.order_by(col(ChangeRow.at).desc()).limit(limit))).all()
    return [line_of(r) for r in reversed(rows)]


def line_of(row: ChangeRow) -> ChangeLine:
    return ChangeLine(service=row.service, kind=row.kind, version=row.version, author=row.author,
                      url=row.url, summary=row.summary, at=row.at)


@dataclass
class AlertContext:
    """The rules and tier that hold for one routed alert, and what they make of its route."""

    adjustments: list[Adjustment]
    tier: TierVerdict | None = None
    services: list[str] = field(default_factory=list)
    page_later_at: datetime | None = None  # only for a route that would have paged

    def applied(self, decision: RouteDecision, path: PathDecision) -> RouteDecision:
        """The route's decision with the path's action, hold and every why-line."""
        page_after = decision.page_after
        if path.hold_for is not None:
            page_after = max(page_after or timedelta(0), path.hold_for)
        tier_rule = self.tier.adjustment.rule if self.tier and self.tier.adjustment else None
        added = [f"{a.why} ({a.rule})" for a in self.adjustments  # a hold says only its name
                 if a.rule != tier_rule and not any(a.why in line for line in path.why)]
        if self.tier is not None and decision.action is not Action.PAGE:
            added.append(f"tier {self.tier.name}: the route does not page "
                         f"({decision.action.value})")
        elif self.tier is not None and not any(self.tier.why in line for line in path.why):
            added.append(self.tier.why)  # it paged anyway (24/7, in hours, or promoted)
        if decision.action is Action.PAGE:
            self.page_later_at = path.page_later_at
        if not added and path.action is decision.action and page_after == decision.page_after:
            return decision  # nothing changed it (most alerts): no copy
        return decision.model_copy(update={"action": path.action, "page_after": page_after,
                                           "reasons": [*decision.reasons, *added]})

    async def settle(self, s: AsyncSession, group_key: str, now: datetime) -> None:
        """On the incident this alert just opened: the context it was opened with and, for a
        tier that notified outside its hours, when it pages if still open. Nothing to keep
        (no rule, no tier, no dependencies): no query."""
        if not (self.adjustments or self.tier or len(self.services) > 1):
            return
        incident = (await s.exec(select(IncidentRow).where(
            IncidentRow.open_key == group_key))).first()
        if incident is None or incident.opened_at != now or incident.context is not None:
            return
        incident.context = {"services": self.services,
                            "rules": [a.rule for a in self.adjustments]}
        incident.tier = self.tier.name if self.tier else None
        incident.tier_page_at = self.page_later_at
        s.add(incident)


async def context_adjustments(ctx: ServiceContext, s: AsyncSession, alert: Alert,
                              decision: RouteDecision, now: datetime) -> AlertContext:
    """The Adjustments of the context rules and the tier that hold for this routed alert.

    The snapshot is read once per transaction (a webhook's batch) and kept on the session.
    """
    config = ctx.config
    services = services_of(config, alert.labels.get("service", ""))
    where = where_of(config, decision.team)
    adjustments: list[Adjustment] = []
    if config.context:
        cached = s.info.get(_SESSION_KEY)
        if cached is None or cached.now != now:
            cached = s.info[_SESSION_KEY] = await snapshot(s, config, now)
        facts = cached.facts(config, alert.labels, decision.team)
        adjustments += holding(config.context, alert.labels, now, where, facts)
    tier = tier_of(config, alert.labels, decision.team, now)
    if tier is not None and tier.adjustment is not None:
        adjustments.append(tier.adjustment)
    return AlertContext(adjustments=adjustments, tier=tier, services=services)
