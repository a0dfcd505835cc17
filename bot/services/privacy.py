"""Private teams: their incidents, timelines and postmortems are for their responders only.

A small check the permission model can fold in: `teams.X.private: true` (its channel is
private) hides the team's incidents from users outside its responders and the admins.
"""

from __future__ import annotations

from bot.domain.permissions import Action, Refused
from bot.domain.privacy import may_see
from bot.services import audit
from bot.services.actors import Actor
from bot.services.context import ServiceContext
from bot.store.models import IncidentRow


def visible_to(ctx: ServiceContext, team: str, actor: Actor) -> bool:
    config = ctx.config.teams.get(team)
    return may_see(actor.user_id, groups=actor.groups, private=bool(config and config.private),
                   responders=config.responders if config else (), admins=ctx.config.admins)


async def ensure_visible(ctx: ServiceContext, incident: IncidentRow, actor: Actor,
                         action: Action) -> None:
    """Refuse (on the audit trail, like every refusal) an outsider a private team's incident."""
    if visible_to(ctx, incident.team, actor):
        return
    verdict = Refused(action, f"#{incident.id} belongs to {incident.team}, a private team.",
                      "its responders and admins")
    await audit.refuse(ctx, verdict, actor, team=incident.team,
                       target=f"incident:{incident.id}", incident_id=incident.id)
