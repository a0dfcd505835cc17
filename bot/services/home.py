"""What one person's App Home shows: their open incidents, their shifts, their pages, their teams.

Read from the database and the schedules for the person looking; rendered by the Slack adapter
(bot/slack/stakeholders/home.py) and published through the outbox (`home_publish`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import IncidentStatus
from bot.domain.schedules import OnCall
from bot.domain.stakeholders import Shift, shifts_of
from bot.services import audit
from bot.services.actors import Actor
from bot.services.context import ServiceContext
from bot.services.home_refresh import queue_home
from bot.services.paging import on_call_now
from bot.services.privacy import visible_to
from bot.store.models import HomeViewer, IncidentRow, PageRow, TimelineEvent

MAX_INCIDENTS = 15
SHIFTS_AHEAD = timedelta(days=42)


@dataclass(frozen=True)
class HomeIncident:
    id: int
    title: str
    team: str
    severity: str
    status: str
    acked_by: str | None


@dataclass(frozen=True)
class HomeFacts:
    user: str
    incidents: list[HomeIncident] = field(default_factory=list)
    on_call_for: list[tuple[str, str]] = field(default_factory=list)  # (team, primary|secondary)
    next_shifts: list[tuple[str, Shift]] = field(default_factory=list)  # (team, shift)
    pages_this_week: int = 0
    teams: list[tuple[str, OnCall | None]] = field(default_factory=list)


def teams_of(ctx: ServiceContext, actor: Actor) -> list[str]:
    """Teams the person responds for or is in the rotation of (not every team for an admin:
    a Home is about one's own work)."""
    mine = {t for t in ctx.config.teams if audit.is_responder(ctx, actor, t)}
    for name, team in ctx.config.teams.items():
        spec = ctx.config.schedules.get(team.schedule or "")
        if spec and actor.user_id in {*spec.members, *(spec.secondary or [])}:
            mine.add(name)
    return sorted(mine)


async def opened(ctx: ServiceContext, actor: Actor) -> None:
    """The person opened the Home: remember them (and their teams) and publish it now."""
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        viewer = await s.get(HomeViewer, actor.user_id)
        if viewer is None:
            viewer = HomeViewer(user_id=actor.user_id, opened_at=now)
        viewer.opened_at, viewer.teams = now, teams_of(ctx, actor)
        s.add(viewer)
        await queue_home(s, actor.user_id, now)
    ctx.wake_delivery()


async def facts(ctx: ServiceContext, user: str) -> HomeFacts:
    """The Home of `user`, with the teams remembered when they last opened it."""
    now = ctx.clock.now()
    async with ctx.db.reader() as s:
        viewer = await s.get(HomeViewer, user)
        teams = [t for t in (viewer.teams if viewer else []) if t in ctx.config.teams]
        actor = Actor(user)
        incidents = [i for i in await _open_incidents(s, user, teams)
                     if visible_to(ctx, i.team, actor) or i.team not in teams]
        on_call = [(team, await on_call_now(ctx, s, team, now)) for team in teams]
        pages = (await s.exec(select(func.count()).select_from(PageRow).where(
            PageRow.target_kind == "user", PageRow.target == user,
            col(PageRow.at) >= now - timedelta(days=7)))).one()
    holding = [(team, "primary" if who.primary == user else "secondary")
               for team, who in on_call if who and user in (who.primary, who.secondary)]
    return HomeFacts(user=user, incidents=incidents, on_call_for=holding,
                     next_shifts=_next_shifts(ctx, user, teams, now), pages_this_week=pages,
                     teams=on_call)


async def _open_incidents(s: AsyncSession, user: str, teams: list[str]) -> list[HomeIncident]:
    """Open incidents of the person's teams, and any they acked, were paged for or wrote on."""
    paged = select(PageRow.incident_id).where(PageRow.target_kind == "user",
                                              PageRow.target == user)
    wrote = select(TimelineEvent.incident_id).where(TimelineEvent.actor == user)
    rows = (await s.exec(select(IncidentRow).where(
        IncidentRow.status != IncidentStatus.RESOLVED.value,
        or_(col(IncidentRow.team).in_(teams), IncidentRow.acked_by == user,
            col(IncidentRow.id).in_(paged), col(IncidentRow.id).in_(wrote)))
        .order_by(col(IncidentRow.id).desc()).limit(MAX_INCIDENTS))).all()
    return [HomeIncident(id=r.id, title=r.title, team=r.team, severity=r.severity,
                         status=r.status, acked_by=r.acked_by) for r in rows]


def _next_shifts(ctx: ServiceContext, user: str, teams: list[str],
                 now: datetime) -> list[tuple[str, Shift]]:
    found = []
    for team in teams:
        spec = ctx.config.schedules.get(ctx.config.teams[team].schedule or "")
        if spec is not None:
            found += [(team, shift) for shift in shifts_of(spec, user, now, now + SHIFTS_AHEAD)]
    return sorted(found, key=lambda pair: pair[1].start)[:5]
