"""Queue a status-page sync for a published incident; imported by notify, so it imports little."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store import repo
from bot.store.models import IncidentRow, StatusPublication

STATUSPAGE_SYNC = "statuspage_sync"


async def queue_sync(s: AsyncSession, incident: IncidentRow, at: datetime) -> None:
    """The incident changed (state, a status update): if it is published, sync the page."""
    if await s.get(StatusPublication, incident.id) is not None:
        await queue(s, incident.id, at)


async def queue(s: AsyncSession, incident_id: int, at: datetime) -> None:
    """One pending sync per incident: several changes in a row coalesce into one call."""
    await repo.enqueue(s, kind=STATUSPAGE_SYNC, lane=f"statuspage:{incident_id}", at=at,
                       incident_id=incident_id, pending_key=f"statuspage:{incident_id}")
