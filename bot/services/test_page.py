"""Test pages: prove, before 3 a.m., that every way of reaching a person actually works."""

from __future__ import annotations

from bot.domain.escalation import TargetKind
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


async def test_page(ctx: ServiceContext, user: str, requested_by: str) -> list[int]:
    """Queue a test DM and a test event on each of the person's pagers; return the intent ids."""
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        ids = [await repo.enqueue(s, kind=TEST_DM, lane=f"dm:{user}", at=now,
                                  payload={"user": user, "by": requested_by})]
        for pager in pagers_for(ctx, user):
            ids.append(await repo.enqueue(
                s, kind=PAGER_EVENT, lane=f"pager:{pager}", at=now,
                payload={"pager": pager, "action": "test", "person": user}))
    ctx.wake_delivery()
    return ids
