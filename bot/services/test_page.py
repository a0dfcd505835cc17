"""Test pages: prove, before 3 a.m., that every way of reaching a person actually works."""

from __future__ import annotations

from bot.domain.escalation import TargetKind
from bot.domain.permissions import Action
from bot.services import audit
from bot.services.actors import Actor, as_actor
from bot.services.context import ServiceContext
from bot.services.notify import PAGER_EVENT, TEST_DM
from bot.store import repo


def pagers_for(ctx: ServiceContext, user: str) -> list[str]:
    """External pagers in the policies of teams the person is on call for or named in."""
    found: list[str] = []
    for team in ctx.config.teams.values():
        schedule = ctx.config.schedules.get(team.schedule or "")
        on_rotation = schedule is not None and user in (schedule.members +
                                                        (schedule.secondary or []))
        policy = ctx.config.escalation_policies.get(team.escalation_policy or "")
        if policy is None:
            continue
        for level in policy.levels:
            named = any(t.kind is TargetKind.USER and t.value == user for t in level.notify)
            roles = any(t.kind in (TargetKind.PRIMARY, TargetKind.SECONDARY)
                        for t in level.notify)
            if named or (on_rotation and roles):
                found += [t.value for t in level.notify if t.kind is TargetKind.PAGER]
    return list(dict.fromkeys(found))


def teams_of_person(ctx: ServiceContext, user: str) -> list[str]:
    """Teams a person belongs to: listed as a responder, on its rotation, or named in its
    escalation policy."""
    found = []
    for name, team in ctx.config.teams.items():
        schedule = ctx.config.schedules.get(team.schedule or "")
        policy = ctx.config.escalation_policies.get(team.escalation_policy or "")
        rotation = (schedule.members + (schedule.secondary or [])) if schedule else []
        named = policy is not None and any(t.kind is TargetKind.USER and t.value == user
                                           for level in policy.levels for t in level.notify)
        if user in team.responders or user in rotation or named:
            found.append(name)
    return found


async def test_page(ctx: ServiceContext, user: str, requested_by: Actor | str) -> list[int]:
    """Queue a test DM and a test event on each of the person's pagers; return the intent ids.
    Anyone may test-page themselves; someone else takes a responder of one of their teams."""
    actor, now = as_actor(requested_by), ctx.clock.now()
    teams = teams_of_person(ctx, user)
    await audit.authorize(ctx, Action.TEST_PAGE, actor,
                          audit.team_facts(ctx, actor, teams, own=user == actor.user_id),
                          team=teams[0] if len(teams) == 1 else None, target=f"user:{user}")
    async with ctx.db.transaction() as s:
        ids = [await repo.enqueue(s, kind=TEST_DM, lane=f"dm:{user}", at=now,
                                  payload={"user": user, "by": actor.user_id})]
        for pager in pagers_for(ctx, user):
            ids.append(await repo.enqueue(
                s, kind=PAGER_EVENT, lane=f"pager:{pager}", at=now,
                payload={"pager": pager, "action": "test", "person": user}))
        audit.record(s, now, actor.user_id, Action.TEST_PAGE,
                     team=teams[0] if len(teams) == 1 else None, target=f"user:{user}",
                     after={"pagers": pagers_for(ctx, user)})
    ctx.wake_delivery()
    return ids
