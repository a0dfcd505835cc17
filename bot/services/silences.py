"""Silences and maintenance windows: quiet on purpose, for a while, on the record."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import Alert, AlertStatus
from bot.domain.errors import DomainError
from bot.domain.matchers import Matcher, parse_matcher
from bot.services.context import ServiceContext
from bot.store.models import AlertRow, MaintenanceRow, SilenceRow


async def create_silence(ctx: ServiceContext, matchers: list[Matcher], duration: timedelta,
                         comment: str, actor: str) -> SilenceRow:
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        silence = SilenceRow(matchers=[str(m) for m in matchers], starts_at=now,
                             ends_at=now + duration, comment=comment, created_by=actor)
        s.add(silence)
        await s.flush()
    return silence


async def active_silences(ctx: ServiceContext) -> list[SilenceRow]:
    async with ctx.db.reader() as s:
        return list((await s.exec(select(SilenceRow).where(
            col(SilenceRow.ends_at) > ctx.clock.now()).order_by(col(SilenceRow.id)))).all())


async def end_silence(ctx: ServiceContext, silence_id: int, actor: str) -> SilenceRow:
    """End it now; what it held is released by the next tick."""
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        silence = await s.get(SilenceRow, silence_id)
        if silence is None or silence.ends_at <= now:
            raise DomainError(f"No active silence {silence_id}. `/oncall silences` lists them.")
        silence.ends_at = now
        silence.comment = f"{silence.comment} (ended early by {actor})".strip()
        s.add(silence)
    return silence


async def silence_for(s: AsyncSession, labels: dict[str, str], now: datetime) -> SilenceRow | None:
    """The active silence an alert falls under, if any (every matcher of it must match)."""
    for silence in (await s.exec(select(SilenceRow).where(
            col(SilenceRow.starts_at) <= now, col(SilenceRow.ends_at) > now))).all():
        if all(parse_matcher(m).matches(labels) for m in silence.matchers):
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
                             actor: str) -> MaintenanceRow:
    if team not in ctx.config.teams:
        raise DomainError(f"No team {team!r}; teams: {', '.join(sorted(ctx.config.teams))}.")
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        window = MaintenanceRow(team=team, starts_at=now, ends_at=now + duration,
                                comment=comment, created_by=actor)
        s.add(window)
        await s.flush()
    return window


async def maintenance_for(s: AsyncSession, team: str, now: datetime) -> MaintenanceRow | None:
    return (await s.exec(select(MaintenanceRow).where(
        MaintenanceRow.team == team, col(MaintenanceRow.starts_at) <= now,
        col(MaintenanceRow.ends_at) > now).order_by(col(MaintenanceRow.ends_at).desc()))).first()


