"""Rotation handoff messages: at each change of hands, who is on now and what is still open."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select

from bot.domain.schedules import handoffs_between
from bot.services import audit
from bot.services.context import ServiceContext
from bot.services.notify import CHANNEL_POST
from bot.store import repo
from bot.store.models import IncidentRow

LOOKBACK = timedelta(hours=1)  # a handoff missed while the bot was down is still announced


async def announce_handoffs(ctx: ServiceContext) -> int:
    """Post each handoff of the last hour once: a unique key per schedule and instant."""
    now, sent = ctx.clock.now(), 0
    for team_name, team in ctx.config.teams.items():
        if not team.schedule:
            continue
        spec = ctx.config.schedules[team.schedule]
        for handoff in handoffs_between(spec, now - LOOKBACK, now):
            sent += await _announce(ctx, team_name, team.schedule, handoff, now)
    if sent:
        ctx.wake_delivery()
    return sent


async def _announce(ctx: ServiceContext, team: str, schedule: str, handoff,
                    now: datetime) -> int:
    async with ctx.db.transaction() as s:
        key = f"handoff:{schedule}:{team}:{handoff.at.isoformat()}"
        if not await repo.remember_event(s, key, now):
            return 0
        open_incidents = (await s.exec(select(IncidentRow).where(
            IncidentRow.team == team, IncidentRow.status != "resolved")
            .order_by(col(IncidentRow.id)))).all()
        audit.record(s, now, audit.SYSTEM, "handoff", team=team, target=f"schedule:{schedule}",
                     before={"primary": handoff.previous_primary},
                     after={"primary": handoff.primary, "secondary": handoff.secondary},
                     detail=f"rotation handoff at {handoff.at.isoformat()}")
        await repo.enqueue(s, kind=CHANNEL_POST, lane=f"channel:{ctx.config.channel_of(team)}",
                           at=now, payload={"channel": ctx.config.channel_of(team),
                                            "text": handoff_text(team, handoff, open_incidents)})
    return 1


def handoff_text(team: str, handoff, open_incidents) -> str:
    secondary = f", secondary <@{handoff.secondary}>" if handoff.secondary else ""
    was = f" (taking over from <@{handoff.previous_primary}>)" if handoff.previous_primary else ""
    lines = [f":arrows_counterclockwise: *{team}* on call now: primary <@{handoff.primary}>"
             f"{secondary}{was}."]
    if open_incidents:
        lines.append(f"Still open ({len(open_incidents)}):")
        lines += [f"• #{i.id} {i.title} ({i.status})" for i in open_incidents[:20]]
    else:
        lines.append("Nothing open. Quiet shift, hopefully.")
    return "\n".join(lines)
