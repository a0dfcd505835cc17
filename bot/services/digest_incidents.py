"""Open an incident from a line of the cost digest: someone decided a spike needs an owner.

The incident notifies (it is posted in the team channel with the usual buttons; Escalate
pages from there) and holds the line's alerts, so it resolves by itself when they all have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import Action, IncidentStatus
from bot.domain.cost_digest import ratio_text
from bot.domain.digests import Window
from bot.domain.errors import DomainError, NotAllowed
from bot.domain.permissions import may_act
from bot.services.context import ServiceContext
from bot.services.incidents import Actor
from bot.services.outbox import queue_sync
from bot.store import digest_queries, repo
from bot.store.models import AlertRow, DigestItemRow, IncidentRow


@dataclass(frozen=True)
class DigestLine:
    """One service and model of one team's digest window."""

    team: str
    service: str
    model: str
    window: Window


@dataclass(frozen=True)
class Opened:
    incident_id: int
    channel: str
    new: bool  # False: the line already had an open incident


async def open_incident(ctx: ServiceContext, line: DigestLine, actor: Actor) -> Opened:
    """One open incident per digest line: a second click answers with the first one."""
    _check_allowed(ctx, line.team, actor)
    now = ctx.clock.now()
    key = f"digest:{line.team}:{line.service}:{line.model}"
    async with ctx.db.transaction() as s:
        existing = await repo.open_incident(s, key)
        if existing is not None:
            return Opened(existing.id, existing.channel, new=False)
        items = [item for item in await digest_queries.cost_items(s, line.window, line.team)
                 if (item.service, item.model) == (line.service, line.model)]
        if not items:
            raise DomainError("That digest line has no alerts in the database any more, so "
                              "there is nothing to open an incident for.")
        incident = await _open(ctx, s, key, line, items, actor, now)
    ctx.wake_delivery()
    return Opened(incident.id, incident.channel, new=True)


def _check_allowed(ctx: ServiceContext, team: str, actor: Actor) -> None:
    config = ctx.config.teams.get(team)
    if config is None:
        raise DomainError(f"Team '{team}' is no longer in the config.")
    if not may_act(actor.user_id, responders=config.responders, admins=ctx.config.admins,
                   groups=actor.groups):
        raise NotAllowed(f"Only {team}'s responders and admins can open an incident from its "
                         "cost digest.")


async def _open(ctx: ServiceContext, s: AsyncSession, key: str, line: DigestLine,
                items: list[DigestItemRow], actor: Actor, now: datetime) -> IncidentRow:
    alerts = [await s.get(AlertRow, item.alert_id) for item in items]
    ratios = [item.ratio for item in items if item.ratio is not None]
    what = " / ".join(part for part in (line.service, line.model) if part) or "unknown service"
    worst = max(ratios, default=None)
    shown = "" if worst is None else f" at {ratio_text(worst)}" + (
        " baseline" if math.isfinite(worst) else "")
    title = f"Cost spike: {what}{shown}"
    reason = (f"opened from the cost digest of {line.window.start:%Y-%m-%d %H:%M} UTC "
              f"by <@{actor.user_id}>")
    incident = IncidentRow(
        open_key=key, group_key=key, route_key=items[0].route_key, team=line.team,
        channel=ctx.config.channel_of(line.team), action=Action.NOTIFY.value,
        severity=alerts[0].labels.get("severity", ""), title=title[:512], alert_type="cost",
        service=line.service, status=IncidentStatus.TRIGGERED.value, opened_at=now,
        started_at=min(alert.starts_at for alert in alerts),
        rationale={"reasons": [reason], "route_path": ["cost digest"]})
    s.add(incident)
    await s.flush()
    for alert in alerts:
        await repo.link(s, incident.id, alert.id)
    repo.timeline(s, incident_id=incident.id, at=now, kind="opened_from_digest",
                  actor=actor.user_id, text=reason,
                  data={"alert_ids": [alert.id for alert in alerts]})
    await queue_sync(s, incident, now)
    return incident
