"""Queries for the digests: cost items held for the hourly digest, and the windows claimed."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.digests import DigestItem, Window
from bot.store import repo
from bot.store.models import AlertRow, DigestItemRow, DigestRun


async def cost_item(s: AsyncSession, alert_id: int, route_key: str) -> DigestItemRow | None:
    query = select(DigestItemRow).where(DigestItemRow.alert_id == alert_id,
                                        DigestItemRow.route_key == route_key)
    return (await s.exec(query)).first()


async def cost_items(s: AsyncSession, window: Window, team: str | None = None,
                     ) -> list[DigestItemRow]:
    """The items first received in [start, end), for one team or all, oldest first."""
    query = select(DigestItemRow).where(col(DigestItemRow.fired_at) >= window.start,
                                        col(DigestItemRow.fired_at) < window.end)
    if team is not None:
        query = query.where(DigestItemRow.team == team)
    return list((await s.exec(query.order_by(col(DigestItemRow.fired_at),
                                             col(DigestItemRow.id)))).all())


async def item_moments(s: AsyncSession, since: datetime,
                       until: datetime) -> list[tuple[str, datetime]]:
    """(team, fired_at) of every item in [since, until): which windows have something to say."""
    query = select(DigestItemRow.team, DigestItemRow.fired_at).where(
        col(DigestItemRow.fired_at) >= since, col(DigestItemRow.fired_at) < until)
    return [(team, at) for team, at in (await s.exec(query)).all()]


async def claimed_windows(s: AsyncSession, kind: str, since: datetime) -> set[tuple[str, datetime]]:
    """(team, window_start) of the windows of `kind` already sent since `since`."""
    query = select(DigestRun.team, DigestRun.window_start).where(
        DigestRun.kind == kind, col(DigestRun.window_start) >= since)
    return {(team, start) for team, start in (await s.exec(query)).all()}


async def claim(s: AsyncSession, kind: str, team: str, window: Window, now: datetime) -> bool:
    """Insert the window's run row; False when another tick, replica or life already did."""
    return await repo.insert_ignore(s, DigestRun, {
        "kind": kind, "team": team, "window_start": window.start, "window_end": window.end,
        "sent_at": now}, ["kind", "team", "window_start"])


async def digest_items(s: AsyncSession, window: Window, team: str) -> list[DigestItem]:
    """The window's items as the domain reads them; firing is the alert's status right now."""
    query = (select(DigestItemRow, AlertRow.status)
             .join(AlertRow, col(AlertRow.id) == DigestItemRow.alert_id)
             .where(col(DigestItemRow.fired_at) >= window.start,
                    col(DigestItemRow.fired_at) < window.end, DigestItemRow.team == team))
    return [_as_domain(row, status == "firing") for row, status in (await s.exec(query)).all()]


def _as_domain(row: DigestItemRow, firing: bool) -> DigestItem:
    return DigestItem(service=row.service, model=row.model, alertname=row.alertname,
                      value=row.value, baseline=row.baseline, ratio=row.ratio,
                      fired_at=row.fired_at, still_firing=firing,
                      flagged_missing_ratio=row.flagged)
