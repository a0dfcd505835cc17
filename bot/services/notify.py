"""Outbox intents beyond the incident message: DMs, thread notes, pagers, webhooks, ephemerals.

Each is a durable request to the delivery worker, written in the transaction that decided it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import statuspage_queue
from bot.services.home_refresh import queue_homes_of
from bot.services.outbox import queue_sync
from bot.store import repo
from bot.store.models import IncidentRow, PageRow

SYNC_DM = "sync_dm"
THREAD_NOTE = "thread_note"
PAGER_EVENT = "pager_event"
HANDOFF_WEBHOOK = "handoff_webhook"
EPHEMERAL = "ephemeral"
VIEW_UPDATE = "view_update"
CHANNEL_POST = "channel_post"
TEST_DM = "test_dm"
FILE_UPLOAD = "file_upload"
PAGE_USERGROUP = "page_usergroup"


async def queue_dm_sync(s: AsyncSession, incident: IncidentRow, user: str,
                        at: datetime, *, page: bool = False) -> None:
    """Post or update this person's page DM for the incident.

    With `page` the person is being paged (again): a DM they already have gets a fresh one
    that notifies, rather than only a silent edit. Without it the DM is re-rendered in place.
    """
    key = f"{'page' if page else 'dm'}:{incident.id}:{user}"
    await repo.enqueue(s, kind=SYNC_DM, lane=f"dm:{user}", at=at, incident_id=incident.id,
                       payload={"user": user, "page": page}, pending_key=key)


async def queue_usergroup_page(s: AsyncSession, incident: IncidentRow, group: str, step: int,
                               level: int, at: datetime) -> None:
    """Page every member of a user group: the adapter looks them up (usergroups.users.list)
    and hands them back to `paging.page_group_members`, which records and DMs each."""
    await repo.enqueue(s, kind=PAGE_USERGROUP, lane=f"usergroup:{group}", at=at,
                       incident_id=incident.id,
                       payload={"usergroup": group, "step": step, "level": level})


async def queue_thread_note(s: AsyncSession, incident: IncidentRow, text: str, at: datetime,
                            *, channel: str | None = None, broadcast: bool = False) -> None:
    """A reply in the incident's thread (or a post in another channel when `channel` is set).

    Queued on the incident channel's lane, behind the message it replies to.
    """
    await repo.enqueue(s, kind=THREAD_NOTE, lane=f"channel:{channel or incident.channel}", at=at,
                       incident_id=incident.id,
                       payload={"text": text, "channel": channel, "broadcast": broadcast})


async def queue_pager_event(s: AsyncSession, incident: IncidentRow, pager: str, action: str,
                            at: datetime, *, person: str | None = None, level: int | None = None,
                            people: list[str] | None = None) -> None:
    """An external pager event; a trigger names whom to wake (`person`, the level's first,
    and all of the level's `people`) and the level, for the sender to enrich."""
    await repo.enqueue(s, kind=PAGER_EVENT, lane=f"pager:{pager}", at=at,
                       incident_id=incident.id,
                       payload={"pager": pager, "action": action, "person": person,
                                "level": level, "people": people or []})


async def queue_handoff_webhook(s: AsyncSession, incident: IncidentRow, payload: dict[str, Any],
                                at: datetime) -> None:
    await repo.enqueue(s, kind=HANDOFF_WEBHOOK, lane=f"handoff:{payload['service']}", at=at,
                       incident_id=incident.id, payload=payload)


async def queue_ephemeral(s: AsyncSession, incident: IncidentRow, user: str, text: str,
                          at: datetime) -> None:
    """Tell one person something only they should see (the outcome of their own click)."""
    await repo.enqueue(s, kind=EPHEMERAL, lane=f"user:{user}", at=at, incident_id=incident.id,
                       payload={"user": user, "text": text})


async def paged_people(s: AsyncSession, incident_id: int) -> list[str]:
    return await _paged(s, incident_id, "user")


async def paged_pagers(s: AsyncSession, incident_id: int) -> list[str]:
    return await _paged(s, incident_id, "pager")


async def _paged(s: AsyncSession, incident_id: int, kind: str) -> list[str]:
    """Who (or which pager) was notified for the incident, once each, in order."""
    rows = (await s.exec(select(PageRow.target).where(
        PageRow.incident_id == incident_id, PageRow.target_kind == kind))).all()
    return list(dict.fromkeys(rows))


async def sync_everywhere(s: AsyncSession, incident: IncidentRow, at: datetime) -> None:
    """The incident changed: re-render its message, every page DM and the Homes showing it
    (and, when it is published, the status page)."""
    await queue_sync(s, incident, at)
    await statuspage_queue.queue_sync(s, incident, at)
    for person in await paged_people(s, incident.id):
        await queue_dm_sync(s, incident, person, at)
    await queue_homes_of(s, incident, at)


async def queue_view_result(s: AsyncSession, incident: IncidentRow, view_id: str | None,
                            title: str, text: str, at: datetime) -> None:
    """Show a slow result in the modal that asked for it (best effort: it may be closed)."""
    if view_id:
        await repo.enqueue(s, kind=VIEW_UPDATE, lane=f"view:{view_id}", at=at,
                           incident_id=incident.id,
                           payload={"view_id": view_id, "title": title, "text": text})
