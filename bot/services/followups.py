"""Postmortem action items, and shift overrides taken from Slack."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.errors import DomainError
from bot.domain.permissions import Action
from bot.domain.text import escape_mrkdwn, user_mention
from bot.services import audit, incidents
from bot.services.actors import Actor, as_actor
from bot.services.context import ServiceContext
from bot.services.privacy import visible_to
from bot.services.test_page import teams_of_person
from bot.store import repo
from bot.store.models import ActionItemRow, IncidentRow, OverrideRow


async def add_action(ctx: ServiceContext, owner: str, text: str, due: date | None,
                     incident_id: int | None, actor: Actor | str) -> ActionItemRow:
    actor, now = as_actor(actor), ctx.clock.now()
    if incident_id is not None:
        await incidents.ensure_may_act(ctx, incident_id, actor, Action.ADD_ACTION_ITEM)
    else:  # about no one incident: anyone on a team (responder, rotation or policy)
        teams = audit.teams_of(ctx, actor) or teams_of_person(ctx, actor.user_id)
        await audit.authorize(ctx, Action.ADD_ACTION_ITEM, actor, replace(
            audit.team_facts(ctx, actor, teams), responder=bool(teams), target="any team"),
            target="action items")
    async with ctx.db.transaction() as s:
        item = ActionItemRow(incident_id=incident_id, owner=owner, text=text, due=due,
                             created_by=actor.user_id, created_at=now)
        s.add(item)
        await s.flush()
        team = await _team_of(s, incident_id)
        audit.record(s, now, actor.user_id, Action.ADD_ACTION_ITEM, team=team,
                     target=f"action_item:{item.id}", incident_id=incident_id,
                     after={"owner": owner, "due": str(due) if due else None}, detail=text)
        if incident_id is not None:
            repo.timeline(s, incident_id=incident_id, at=now, kind="action_item",
                          actor=actor.user_id,
                          text=f"action for {user_mention(owner)}: {escape_mrkdwn(text)}"
                               + (f" (due {due})" if due else ""),
                          data={"action_id": item.id}, mrkdwn=True)
    return item


async def open_actions(ctx: ServiceContext, incident_id: int | None = None,
                       viewer: Actor | None = None) -> list[ActionItemRow]:
    """Open action items; with `viewer`, without those of private teams' incidents it may not
    see (their text is that team's private channel content)."""
    async with ctx.db.reader() as s:
        query = (select(ActionItemRow, IncidentRow.team)
                 .join(IncidentRow, col(IncidentRow.id) == ActionItemRow.incident_id,
                       isouter=True)
                 .where(col(ActionItemRow.done_at).is_(None)))
        if incident_id is not None:
            query = query.where(ActionItemRow.incident_id == incident_id)
        rows = (await s.exec(query.order_by(col(ActionItemRow.id)))).all()
    return [item for item, team in rows
            if viewer is None or team is None or visible_to(ctx, team, viewer)]


async def actions_of(ctx: ServiceContext, incident_id: int) -> list[ActionItemRow]:
    async with ctx.db.reader() as s:
        return list((await s.exec(select(ActionItemRow).where(
            ActionItemRow.incident_id == incident_id).order_by(col(ActionItemRow.id)))).all())


async def mark_done(ctx: ServiceContext, action_id: int, actor: Actor | str) -> ActionItemRow:
    """The owner or whoever wrote it may close it; anyone else needs the team's say-so."""
    actor, now = as_actor(actor), ctx.clock.now()
    async with ctx.db.reader() as s:
        item = await s.get(ActionItemRow, action_id)
        team = await _team_of(s, item.incident_id) if item else None
    if item is None:
        raise DomainError(f"No action item {action_id}. `/oncall actions` lists them.")
    own = actor.user_id in (item.owner, item.created_by)
    await audit.authorize(ctx, Action.CLOSE_ACTION_ITEM, actor,
                          audit.team_facts(ctx, actor, [team] if team else [], own=own),
                          team=team, target=f"action_item:{action_id}",
                          incident_id=item.incident_id)
    async with ctx.db.transaction() as s:
        item = await s.get(ActionItemRow, action_id)
        if item.done_at is not None:
            raise DomainError(f"Action item {action_id} is already done.")
        item.done_at = now
        s.add(item)
        audit.record(s, now, actor.user_id, Action.CLOSE_ACTION_ITEM, team=team,
                     target=f"action_item:{action_id}", incident_id=item.incident_id,
                     before={"done_at": None}, after={"done_at": now}, detail=item.text)
        if item.incident_id is not None:
            repo.timeline(s, incident_id=item.incident_id, at=now, kind="action_done",
                          actor=actor.user_id, text=f"done: {escape_mrkdwn(item.text)}",
                          data={"action_id": item.id}, mrkdwn=True)
    return item


async def take_shift(ctx: ServiceContext, user: str, duration: timedelta, team: str | None,
                     actor: Actor | str) -> tuple[str, OverrideRow]:
    """An override from now: the person holds the team's primary role until it ends."""
    actor = as_actor(actor)
    team, schedule = _schedule_of(ctx, team)
    await audit.authorize(ctx, Action.OVERRIDE, actor, audit.team_facts(ctx, actor, [team]),
                          team=team, target=f"schedule:{schedule}")
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        row = OverrideRow(schedule=schedule, user=user, role="primary", start=now,
                          end=now + duration, created_by=actor.user_id, created_at=now)
        s.add(row)
        await s.flush()
        audit.record(s, now, actor.user_id, Action.OVERRIDE, team=team,
                     target=f"schedule:{schedule}",
                     after={"user": user, "role": "primary", "start": now, "end": row.end})
    return schedule, row


async def _team_of(s: AsyncSession, incident_id: int | None) -> str | None:
    incident = await repo.incident(s, incident_id) if incident_id is not None else None
    return incident.team if incident else None


def _schedule_of(ctx: ServiceContext, team: str | None) -> tuple[str, str]:
    with_schedules = {name: t.schedule for name, t in ctx.config.teams.items() if t.schedule}
    if team is not None:
        if team not in ctx.config.teams:
            raise DomainError(f"No team {team!r}; teams: {', '.join(sorted(ctx.config.teams))}.")
        if team not in with_schedules:
            raise DomainError(f"Team {team} has no schedule to override.")
        return team, with_schedules[team]
    if len(with_schedules) == 1:
        return next(iter(with_schedules.items()))
    raise DomainError("Which team? Add it: `/oncall override @user for 2h TEAM` "
                      f"(teams with schedules: {', '.join(sorted(with_schedules)) or 'none'}).")
