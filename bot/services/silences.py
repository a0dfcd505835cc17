"""Silences and maintenance windows: quiet on purpose, for a while, on the record."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import Alert, AlertStatus
from bot.domain.durations import format_duration
from bot.domain.errors import DomainError
from bot.domain.matchers import Matcher, parse_matcher
from bot.domain.permissions import Action
from bot.domain.quiet_scope import silence_scope, silences
from bot.services import audit
from bot.services.actors import Actor, as_actor
from bot.services.context import ServiceContext
from bot.services.notify import CHANNEL_POST
from bot.services.privacy import visible_to
from bot.store import repo
from bot.store.models import AlertRow, MaintenanceRow, SilenceRow


async def create_silence(ctx: ServiceContext, matchers: list[Matcher], duration: timedelta,
                         comment: str, actor: Actor | str) -> SilenceRow:
    """Scoped to a team by a `team="..."` matcher (admins may go without), capped in length,
    announced in the team's channel with an End now button, and audited."""
    actor = as_actor(actor)
    scope = silence_scope(matchers, ctx.config.teams)
    what = ", ".join(str(m) for m in matchers)
    action = Action.SILENCE if scope.team and not scope.broad else Action.UNSCOPED_SILENCE
    facts = audit.team_facts(ctx, actor, [scope.team] if scope.team else [])
    if action is Action.UNSCOPED_SILENCE:
        facts = replace(facts, target=f"{scope.team or 'any team'} (scope it with "
                                      'team="NAME" and a matcher that narrows it)')
    await audit.authorize(ctx, action, actor, facts, team=scope.team, target=f"silence:{what}")
    _cap(duration, ctx.config.permissions.max_silence, "permissions.max_silence")
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        silence = SilenceRow(matchers=[str(m) for m in matchers], starts_at=now,
                             ends_at=now + duration, comment=comment, created_by=actor.user_id,
                             team=scope.team)
        s.add(silence)
        await s.flush()
        audit.record(s, now, actor.user_id, Action.SILENCE, team=scope.team,
                     target=f"silence:{silence.id}", after=_silence_state(silence),
                     detail=comment)
        for channel in _channels(ctx, scope.team):
            await _announce(s, channel, now, kind="silence", id=silence.id, by=actor.user_id,
                            what=silence.matchers, ends_at=silence.ends_at.isoformat(),
                            comment=comment)
    ctx.wake_delivery()
    return silence


async def active_silences(ctx: ServiceContext, viewer: Actor | None = None
                          ) -> list[SilenceRow]:
    """Active silences; with `viewer`, without those of private teams it may not see."""
    async with ctx.db.reader() as s:
        rows = (await s.exec(select(SilenceRow).where(
            col(SilenceRow.ends_at) > ctx.clock.now()).order_by(col(SilenceRow.id)))).all()
    return [r for r in rows
            if viewer is None or r.team is None or visible_to(ctx, r.team, viewer)]


async def end_silence(ctx: ServiceContext, silence_id: int, actor: Actor | str) -> SilenceRow:
    """End it now; what it held is released by the next tick."""
    actor, now = as_actor(actor), ctx.clock.now()
    async with ctx.db.reader() as s:
        silence = await s.get(SilenceRow, silence_id)
    if silence is None or silence.ends_at <= now:
        raise DomainError(f"No active silence {silence_id}. `/oncall silences` lists them.")
    action = Action.UNSILENCE if silence.team else Action.UNSCOPED_SILENCE
    await audit.authorize(ctx, action, actor,
                          audit.team_facts(ctx, actor, [silence.team] if silence.team else []),
                          team=silence.team, target=f"silence:{silence_id}")
    async with ctx.db.transaction() as s:
        silence = await s.get(SilenceRow, silence_id)
        before = _silence_state(silence)
        silence.ends_at = now
        silence.comment = f"{silence.comment} (ended early by {actor.user_id})".strip()
        s.add(silence)
        audit.record(s, now, actor.user_id, Action.UNSILENCE, team=silence.team,
                     target=f"silence:{silence_id}", before=before,
                     after=_silence_state(silence))
        for channel in _channels(ctx, silence.team):
            await _post(s, channel, now, f":loud_sound: Silence {silence_id} was ended early "
                                         f"by <@{actor.user_id}>.")
    ctx.wake_delivery()
    return silence


async def silence_for(s: AsyncSession, labels: dict[str, str], now: datetime,
                      teams: Iterable[str] = ()) -> SilenceRow | None:
    """The active silence an alert falls under, if any (every matcher of it must match).

    `teams` are the teams the alert routes to: a silence's `team="X"` scope matches an alert
    routed to X even when the alert carries no `team` label."""
    teams = set(teams)
    for silence in (await s.exec(select(SilenceRow).where(
            col(SilenceRow.starts_at) <= now, col(SilenceRow.ends_at) > now))).all():
        if silences([parse_matcher(m) for m in silence.matchers], silence.team, labels, teams):
            return silence
    return None


async def hold(s: AsyncSession, row: AlertRow, silence: SilenceRow) -> None:
    row.silenced_by = silence.id
    silence.suppressed += 1
    s.add(row)
    s.add(silence)


async def ended_silences(ctx: ServiceContext, now: datetime) -> list[int]:
    async with ctx.db.reader() as s:
        return list((await s.exec(select(SilenceRow.id).where(
            col(SilenceRow.ends_at) <= now, col(SilenceRow.released_at).is_(None)))).all())


async def held_alerts(s: AsyncSession, silence_id: int) -> list[Alert]:
    """Alerts a silence held that are still firing, to be routed now (Alertmanager will not
    send them again before its repeat interval)."""
    rows = (await s.exec(select(AlertRow).where(AlertRow.silenced_by == silence_id,
                                                AlertRow.status == "firing"))).all()
    return [Alert(source=r.source, status=AlertStatus.FIRING, labels=r.labels,
                  annotations=r.annotations, starts_at=r.starts_at, ends_at=r.ends_at,
                  generator_url=r.generator_url, fingerprint=r.fingerprint) for r in rows]


async def create_maintenance(ctx: ServiceContext, team: str, duration: timedelta, comment: str,
                             actor: Actor | str) -> MaintenanceRow:
    actor = as_actor(actor)
    if team not in ctx.config.teams:
        raise DomainError(f"No team {team!r}; teams: {', '.join(sorted(ctx.config.teams))}.")
    await audit.authorize(ctx, Action.MAINTENANCE, actor, audit.team_facts(ctx, actor, [team]),
                          team=team, target=f"team:{team}")
    _cap(duration, ctx.config.permissions.max_maintenance, "permissions.max_maintenance")
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        window = MaintenanceRow(team=team, starts_at=now, ends_at=now + duration,
                                comment=comment, created_by=actor.user_id)
        s.add(window)
        await s.flush()
        audit.record(s, now, actor.user_id, Action.MAINTENANCE, team=team,
                     target=f"maintenance:{window.id}",
                     after={"starts_at": now, "ends_at": window.ends_at}, detail=comment)
        await _announce(s, ctx.config.channel_of(team), now, kind="maintenance", id=window.id,
                        by=actor.user_id, what=[team], ends_at=window.ends_at.isoformat(),
                        comment=comment)
    ctx.wake_delivery()
    return window


async def end_maintenance(ctx: ServiceContext, window_id: int,
                          actor: Actor | str) -> MaintenanceRow:
    """End now: pages page again; what is still open pages at the next tick."""
    actor, now = as_actor(actor), ctx.clock.now()
    async with ctx.db.reader() as s:
        window = await s.get(MaintenanceRow, window_id)
    if window is None or window.ends_at <= now:
        raise DomainError(f"Maintenance window {window_id} is not active any more.")
    await audit.authorize(ctx, Action.END_MAINTENANCE, actor,
                          audit.team_facts(ctx, actor, [window.team]), team=window.team,
                          target=f"maintenance:{window_id}")
    async with ctx.db.transaction() as s:
        window = await s.get(MaintenanceRow, window_id)
        before = {"ends_at": window.ends_at}
        window.ends_at = now
        s.add(window)
        audit.record(s, now, actor.user_id, Action.END_MAINTENANCE, team=window.team,
                     target=f"maintenance:{window_id}", before=before,
                     after={"ends_at": now})
        await _post(s, ctx.config.channel_of(window.team), now,
                    f":wrench: Maintenance of {window.team} was ended early by "
                    f"<@{actor.user_id}>.")
    ctx.wake_delivery()
    return window


def _cap(duration: timedelta, cap: timedelta, key: str) -> None:
    if duration > cap:
        raise DomainError(f"That is longer than {format_duration(cap)}, the most allowed "
                          f"({key} in oncall.yaml). Make it shorter, and renew it if needed.")


def _channels(ctx: ServiceContext, team: str | None) -> list[str]:
    """Where a silence is announced: its team's channel; an unscoped one, every team's."""
    teams = [team] if team else sorted(ctx.config.teams)
    return list(dict.fromkeys(ctx.config.channel_of(t) for t in teams))


async def _announce(s: AsyncSession, channel: str, now: datetime, **quiet) -> None:
    """The channel post with who, what, until when and an End now button (built by Slack's
    sender from these fields, so the comment is escaped there)."""
    await repo.enqueue(s, kind=CHANNEL_POST, lane=f"channel:{channel}", at=now,
                       payload={"channel": channel, "text": "", "quiet": quiet})


async def _post(s: AsyncSession, channel: str, now: datetime, text: str) -> None:
    await repo.enqueue(s, kind=CHANNEL_POST, lane=f"channel:{channel}", at=now,
                       payload={"channel": channel, "text": text})


def _silence_state(silence: SilenceRow) -> dict:
    return {"matchers": silence.matchers, "starts_at": silence.starts_at,
            "ends_at": silence.ends_at, "team": silence.team}


async def maintenance_for(s: AsyncSession, team: str, now: datetime) -> MaintenanceRow | None:
    return (await s.exec(select(MaintenanceRow).where(
        MaintenanceRow.team == team, col(MaintenanceRow.starts_at) <= now,
        col(MaintenanceRow.ends_at) > now).order_by(col(MaintenanceRow.ends_at).desc()))).first()


