"""Postmortem action items, and shift overrides taken from Slack."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import col, select

from bot.domain.errors import DomainError
from bot.domain.text import escape_mrkdwn, user_mention
from bot.services.context import ServiceContext
from bot.store import repo
from bot.store.models import ActionItemRow, OverrideRow


async def add_action(ctx: ServiceContext, owner: str, text: str, due: date | None,
                     incident_id: int | None, actor: str) -> ActionItemRow:
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        item = ActionItemRow(incident_id=incident_id, owner=owner, text=text, due=due,
                             created_by=actor, created_at=now)
        s.add(item)
        await s.flush()
        if incident_id is not None:
            repo.timeline(s, incident_id=incident_id, at=now, kind="action_item", actor=actor,
                          text=f"action for {user_mention(owner)}: {escape_mrkdwn(text)}"
                               + (f" (due {due})" if due else ""),
                          data={"action_id": item.id}, mrkdwn=True)
    return item


async def open_actions(ctx: ServiceContext, incident_id: int | None = None) -> list[ActionItemRow]:
    async with ctx.db.reader() as s:
        query = select(ActionItemRow).where(col(ActionItemRow.done_at).is_(None))
        if incident_id is not None:
            query = query.where(ActionItemRow.incident_id == incident_id)
        return list((await s.exec(query.order_by(col(ActionItemRow.id)))).all())


async def actions_of(ctx: ServiceContext, incident_id: int) -> list[ActionItemRow]:
    async with ctx.db.reader() as s:
        return list((await s.exec(select(ActionItemRow).where(
            ActionItemRow.incident_id == incident_id).order_by(col(ActionItemRow.id)))).all())


async def mark_done(ctx: ServiceContext, action_id: int, actor: str) -> ActionItemRow:
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        item = await s.get(ActionItemRow, action_id)
        if item is None:
            raise DomainError(f"No action item {action_id}. `/oncall actions` lists them.")
        if item.done_at is not None:
            raise DomainError(f"Action item {action_id} is already done.")
        item.done_at = now
        s.add(item)
        if item.incident_id is not None:
            repo.timeline(s, incident_id=item.incident_id, at=now, kind="action_done",
                          actor=actor, text=f"done: {escape_mrkdwn(item.text)}",
                          data={"action_id": item.id}, mrkdwn=True)
    return item


async def take_shift(ctx: ServiceContext, user: str, duration: timedelta, team: str | None,
                     actor: str) -> tuple[str, OverrideRow]:
    """An override from now: the person holds the team's primary role until it ends."""
    schedule = _schedule_of(ctx, team)
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        row = OverrideRow(schedule=schedule, user=user, role="primary", start=now,
                          end=now + duration, created_by=actor, created_at=now)
        s.add(row)
        await s.flush()
    return schedule, row


def _schedule_of(ctx: ServiceContext, team: str | None) -> str:
    with_schedules = {name: t.schedule for name, t in ctx.config.teams.items() if t.schedule}
    if team is not None:
        if team not in ctx.config.teams:
            raise DomainError(f"No team {team!r}; teams: {', '.join(sorted(ctx.config.teams))}.")
        if team not in with_schedules:
            raise DomainError(f"Team {team} has no schedule to override.")
        return with_schedules[team]
    if len(with_schedules) == 1:
        return next(iter(with_schedules.values()))
    raise DomainError("Which team? Add it: `/oncall override @user for 2h TEAM` "
                      f"(teams with schedules: {', '.join(sorted(with_schedules)) or 'none'}).")
