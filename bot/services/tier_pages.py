"""A tier that notified outside its hours pages when business hours start, if still open.

The due time is `incident.tier_page_at`. The tick claims each due incident with a conditional
update (due time still set, incident still triggered) inside the transaction that pages, so
two replicas page once and an ack or resolve before then wins. Acknowledged means someone
owns it already: no page, the claim just clears the due time.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from bot.domain.alerts import Action, IncidentStatus
from bot.services import paging
from bot.services.context import ServiceContext
from bot.services.outbox import queue_sync
from bot.store import repo
from bot.store.models import IncidentRow


async def due(ctx: ServiceContext, now: datetime) -> list[int]:
    async with ctx.db.reader() as s:
        return list((await s.exec(select(IncidentRow.id).where(
            col(IncidentRow.tier_page_at) <= now).order_by(col(IncidentRow.tier_page_at))
            .limit(200))).all())


async def tick(ctx: ServiceContext) -> int:
    """Page every incident whose tier page is due and that nobody acked or resolved."""
    now, paged = ctx.clock.now(), 0
    for incident_id in await due(ctx, now):
        paged += await _page_if_open(ctx, incident_id, now)
    if paged:
        ctx.wake_delivery()
    return paged


async def _page_if_open(ctx: ServiceContext, incident_id: int, now: datetime) -> int:
    async with ctx.db.transaction() as s:
        incident = await repo.incident(s, incident_id)
        if incident is None or incident.tier_page_at is None:
            return 0
        due_at = incident.tier_page_at
        claimed = await repo.set_where(s, IncidentRow, [
            IncidentRow.id == incident_id, IncidentRow.tier_page_at == due_at,
            IncidentRow.status == IncidentStatus.TRIGGERED.value], {"tier_page_at": None})
        if not claimed:  # acked, resolved, or another replica paged it
            await repo.set_where(s, IncidentRow, [IncidentRow.id == incident_id,
                                                  IncidentRow.tier_page_at == due_at],
                                 {"tier_page_at": None})
            return 0
        await s.refresh(incident)
        incident.action = Action.PAGE.value
        repo.timeline(s, incident_id=incident_id, at=now, kind="tier_page", actor="bot",
                      text=f"tier {incident.tier or ''}: business hours started and the "
                           "incident is still open: paging",
                      data={"tier": incident.tier, "due": due_at.isoformat()})
        await paging.begin(ctx, s, incident, None, now)
        s.add(incident)
        await queue_sync(s, incident, now)
    return 1
