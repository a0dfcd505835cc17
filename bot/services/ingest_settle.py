"""After a chunk of ingest: what the touched incidents need, for all of them at once.

Source truncation is recorded, an incident whose alerts all resolved resolves (and its pagers
hear so), and one re-render of each incident's message and page DMs is queued, in one INSERT.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import statuspage_queue, storms
from bot.services.context import ServiceContext
from bot.services.home_refresh import queue_homes_of
from bot.services.ingest_routing import resolve_at_source
from bot.services.notify import SYNC_DM, queue_pager_event
from bot.services.outbox import SYNC_MESSAGE, lane_of
from bot.store import repo
from bot.store.models import HomeViewer, IncidentRow, OutboxIntent, StatusPublication

MAX_TRUNCATED = 2**31 - 1  # incident.truncated_at_source is a 32-bit INTEGER on PostgreSQL


async def settle(ctx: ServiceContext, s: AsyncSession, touched: dict[int, int],
                 now: datetime, known: dict[int, IncidentRow] | None = None) -> None:
    """After a chunk: record source truncation (`touched`: incident id -> how many alerts
    the sender left out of the webhook that touched it), resolve incidents whose alerts all
    resolved, and queue one re-render of each touched incident (and of its page DMs)."""
    if not touched:
        return
    known = known or {}
    await s.flush()
    ids = sorted(touched)
    incidents = {i: known[i] for i in ids if i in known}  # read or made by this transaction
    incidents.update(await repo.incidents_by_id(s, [i for i in ids if i not in incidents]))
    firing = await repo.firing_counts(s, ids)
    for incident_id in ids:
        incident = incidents.get(incident_id)
        if incident is None:
            continue
        truncated = min(touched[incident_id], MAX_TRUNCATED)
        if truncated != incident.truncated_at_source:
            incident.truncated_at_source = truncated
        if (incident.status != "resolved" and firing.get(incident_id, 0) == 0
                and await resolve_at_source(s, incident, now)):
            for pager in (await repo.page_targets(s, [incident_id], "pager")).get(
                    incident_id, []):
                await queue_pager_event(s, incident, pager, "resolve", now)
        s.add(incident)
    await s.flush()
    await queue_syncs(s, [incidents[i] for i in ids if i in incidents], now)


async def queue_syncs(s: AsyncSession, incidents: list[IncidentRow], now: datetime) -> None:
    """`sync_everywhere` for many incidents: one INSERT of their message and DM re-renders
    (a waiting re-render of the same thing absorbs the new one, as `enqueue` does). What
    `sync_everywhere` does besides, it does here only where it applies: an incident without a
    message in a channel's storm joins the summary, a published one syncs its status page, and
    the Homes showing it are refreshed (each a read or two, only when there is such a thing)."""
    absorbed = await storms.absorb_many(s, incidents, now)
    own = [i for i in incidents if i.id not in absorbed]
    people = await repo.page_targets(s, [i.id for i in incidents], "user")
    rows = [repo.intent_values(kind=SYNC_MESSAGE, lane=lane_of(i), at=now, incident_id=i.id,
                               pending_key=f"sync:{i.id}") for i in own]
    rows += [repo.intent_values(kind=SYNC_DM, lane=f"dm:{person}", at=now, incident_id=i.id,
                                payload={"user": person, "page": False},
                                pending_key=f"dm:{i.id}:{person}")
             for i in incidents for person in people.get(i.id, [])]
    await repo.insert_many_ignoring(s, OutboxIntent, rows, ["pending_key"])
    published = set((await s.exec(select(StatusPublication.incident_id).where(
        col(StatusPublication.incident_id).in_([i.id for i in incidents])))).all())
    for incident in incidents:
        if incident.id in published:
            await statuspage_queue.queue(s, incident.id, now)
    if (await s.exec(select(HomeViewer.user_id).limit(1))).first() is not None:
        for incident in incidents:
            await queue_homes_of(s, incident, now)
