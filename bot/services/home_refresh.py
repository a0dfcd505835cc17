"""When an incident changes, the App Homes that show it are re-published (through the outbox).

Only people who have opened the Home are refreshed: the acker, the resolver, whoever was paged
or wrote on the timeline, and the responders of the incident's team (the teams are remembered
when the Home is opened, since user-group membership is known only to the Slack adapter).
One pending publish per person: a burst of changes coalesces into one views.publish.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store import repo
from bot.store.models import HomeViewer, IncidentRow, OutboxIntent, PageRow, TimelineEvent

HOME_PUBLISH = "home_publish"


async def queue_home(s: AsyncSession, user: str, at: datetime) -> None:
    await repo.enqueue(s, kind=HOME_PUBLISH, lane=f"home:{user}", at=at,
                       payload={"user": user}, pending_key=f"home:{user}")


async def involved(s: AsyncSession, incident: IncidentRow) -> set[str]:
    """Slack users who acted on, were paged for, or wrote on the incident."""
    paged = (await s.exec(select(PageRow.target).where(
        PageRow.incident_id == incident.id, PageRow.target_kind == "user"))).all()
    actors = (await s.exec(select(TimelineEvent.actor).where(
        TimelineEvent.incident_id == incident.id, col(TimelineEvent.actor).is_not(None))
        .distinct())).all()
    people = {incident.acked_by, incident.resolved_by, *paged, *actors}
    return {p for p in people if p and p[0] in "UW"}


async def queue_homes_of(s: AsyncSession, incident: IncidentRow, at: datetime) -> None:
    """Queue the Homes showing this incident, skipping those already waiting to be published
    (they will render the latest state): one read of the viewers, one of pending publishes."""
    viewers = (await s.exec(select(HomeViewer.user_id, HomeViewer.teams))).all()
    if not viewers:
        return
    people = await involved(s, incident)
    wanted = [user for user, teams in viewers if user in people or incident.team in (teams or [])]
    if not wanted:
        return
    waiting = set((await s.exec(select(OutboxIntent.pending_key).where(
        col(OutboxIntent.pending_key).in_([f"home:{user}" for user in wanted])))).all())
    for user in wanted:
        if f"home:{user}" not in waiting:
            await queue_home(s, user, at)
