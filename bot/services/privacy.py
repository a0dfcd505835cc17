"""Private teams: their incidents, timelines and postmortems are for their responders only.

A small check the permission model can fold in: `teams.X.private: true` (its channel is
private) hides the team's incidents from users outside its responders and the admins.
"""

from __future__ import annotations

from bot.domain.errors import NotAllowed
from bot.domain.privacy import may_see
from bot.services.actors import Actor
from bot.services.context import ServiceContext
from bot.store.models import IncidentRow


def visible_to(ctx: ServiceContext, team: str, actor: Actor) -> bool:
    config = ctx.config.teams.get(team)
    return may_see(actor.user_id, groups=actor.groups, private=bool(config and config.private),
                   responders=config.responders if config else (), admins=ctx.config.admins)


def check_visible(ctx: ServiceContext, incident: IncidentRow, actor: Actor) -> None:
    if not visible_to(ctx, incident.team, actor):
        raise NotAllowed(f"#{incident.id} belongs to {incident.team}, a private team: only its "
                         f"responders and admins can see it.")
