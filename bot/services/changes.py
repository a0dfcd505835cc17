"""Recording change events: from POST /changes, GitHub deployments and `/oncall change`.

Each batch is one transaction: what is accepted is committed before the sender hears 202.
A change from Slack passes the permission model (a responder of some team, or an admin)
and is written to the audit trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.domain.changes import MAX_SKEW, ChangeEvent
from bot.domain.permissions import Action
from bot.services import audit
from bot.services.actors import Actor
from bot.services.context import ServiceContext
from bot.store.models import ChangeRow


@dataclass
class Recorded:
    """Ids of the stored changes, and (position, field, why) of the ones refused."""

    ids: list[int] = field(default_factory=list)
    refused: list[tuple[int, str, str]] = field(default_factory=list)


async def record_changes(ctx: ServiceContext, events: Sequence[ChangeEvent],
                         source: str = "api") -> Recorded:
    """Store every event whose time is not in the future; one transaction for the batch."""
    now = ctx.clock.now()
    done = Recorded()
    rows = []
    async with ctx.db.transaction() as s:
        for position, event in enumerate(events):
            at = event.when(now)
            if at > now + MAX_SKEW:
                done.refused.append((position, "at", f"{at:%Y-%m-%dT%H:%M:%SZ} is in the "
                                     "future; send the time the change happened"))
                continue
            row = ChangeRow(service=event.service, kind=event.kind, version=event.version,
                            author=event.author, url=event.url, summary=event.summary,
                            source=source, at=at, received_at=now)
            s.add(row)
            rows.append(row)
        await s.flush()
        done.ids = [r.id for r in rows]
    return done


async def record_from_slack(ctx: ServiceContext, actor: Actor, event: ChangeEvent) -> int:
    """`/oncall change`: what no tool reports (a provider incident, a flag flipped by hand)."""
    teams = audit.teams_of(ctx, actor) or sorted(ctx.config.teams)
    await audit.authorize(ctx, Action.RECORD_CHANGE, actor,
                          audit.team_facts(ctx, actor, teams), target=f"service:{event.service}")
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        row = ChangeRow(service=event.service, kind=event.kind, author=actor.user_id,
                        summary=event.summary, version=event.version, source="slack", at=now,
                        received_at=now)
        s.add(row)
        await s.flush()
        audit.record(s, now, actor.user_id, Action.RECORD_CHANGE,
                     target=f"service:{event.service}",
                     after={"kind": event.kind, "summary": event.summary}, detail="change")
        return row.id
