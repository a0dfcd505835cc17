"""The dead-man's switch: an always-firing alert that stops arriving means the path is broken."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import Alert
from bot.domain.durations import format_elapsed
from bot.domain.text import escape_mrkdwn
from bot.services.context import ServiceContext
from bot.services.notify import (
    paged_pagers,
    queue_pager_event,
    queue_thread_note,
    sync_everywhere,
)
from bot.store import repo
from bot.store.models import HeartbeatRow, IncidentRow, PageRow


def is_heartbeat(ctx: ServiceContext, alert: Alert) -> bool:
    beat = ctx.config.heartbeat
    return beat is not None and alert.labels.get("alertname") == beat.alertname


async def watch(ctx: ServiceContext) -> None:
    """Start the clock at start-up, so a heartbeat that never arrives is noticed too."""
    beat_config = ctx.config.heartbeat
    if beat_config is None:
        return
    async with ctx.db.transaction() as s:
        await repo.insert_ignore(s, HeartbeatRow, {"name": beat_config.alertname,
                                                   "watching_since": ctx.clock.now()}, ["name"])


async def beat(ctx: ServiceContext, s: AsyncSession, alert: Alert, now: datetime) -> None:
    """Record the heartbeat; if it had gone missing, resolve the incident that said so."""
    row = await s.get(HeartbeatRow, ctx.config.heartbeat.alertname)
    if row is None:
        s.add(HeartbeatRow(name=ctx.config.heartbeat.alertname, last_seen=now,
                           watching_since=now))
        return
    row.last_seen = now
    if row.missing_since is not None:
        row.missing_since = None
        incident = await repo.open_incident(s, _key(row.name))
        if incident is not None:
            incident.status, incident.resolved_at, incident.open_key = "resolved", now, None
            repo.timeline(s, incident_id=incident.id, at=now, kind="resolved", actor="source",
                          text=f"{row.name} arrived again: the alert path works")
            for page in await paged_pagers(s, incident.id):
                await queue_pager_event(s, incident, page, "resolve", now)
            await sync_everywhere(s, incident, now)
    s.add(row)


async def check(ctx: ServiceContext) -> bool:
    """Page the bot's owners once when the heartbeat has been silent too long."""
    beat_config = ctx.config.heartbeat
    if beat_config is None:
        return False
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        row = await s.get(HeartbeatRow, beat_config.alertname)
        if row is None:  # not watched yet (start-up does it): the clock starts now
            s.add(HeartbeatRow(name=beat_config.alertname, watching_since=now))
            return False
        since = row.last_seen or row.watching_since or now
        if row.missing_since is not None or now - since < beat_config.missing_after:
            return False
        row.missing_since = now
        s.add(row)
        await _open_incident(ctx, s, row, now)
    ctx.wake_delivery()
    return True


async def _open_incident(ctx: ServiceContext, s: AsyncSession, row: HeartbeatRow,
                         now: datetime) -> None:
    beat_config = ctx.config.heartbeat
    team = beat_config.team
    title, reason = _what_is_missing(row, now)
    incident = IncidentRow(
        open_key=_key(row.name), group_key=_key(row.name), route_key="heartbeat", team=team,
        channel=ctx.config.channel_of(team), action="page", severity="critical",
        title=title, status="triggered", opened_at=now,
        started_at=row.last_seen or row.watching_since or now, first_paged_at=now,
        rationale={"reasons": [reason]})
    s.add(incident)
    await s.flush()
    repo.timeline(s, incident_id=incident.id, at=now, kind="heartbeat_missing", actor="bot",
                  text=incident.title)
    for target in beat_config.notify:
        s.add(PageRow(incident_id=incident.id, step=1, level=1, target_kind=target.kind.value,
                      target=target.value, at=now))
        if target.kind.value == "pager":
            await queue_pager_event(s, incident, target.value, "trigger", now, level=1)
        elif target.kind.value == "channel":
            await queue_thread_note(s, incident, f"<!here> {escape_mrkdwn(incident.title)}", now,
                                    channel=target.value)
    await sync_everywhere(s, incident, now)


def _key(name: str) -> str:
    return f"heartbeat:{name}"


def _what_is_missing(row: HeartbeatRow, now: datetime) -> tuple[str, str]:
    """The incident's title, with the real time it has been missing (`20s`, `1h5m`)."""
    if row.last_seen is None:
        since = row.watching_since or now
        waited = format_elapsed(now - since)
        return (f"Alert path down: {row.name} never arrived in {waited} of watching",
                f"heartbeat {row.name} not received since the bot started watching at "
                f"{since:%H:%M:%S} UTC")
    return (f"Alert path down: no {row.name} for {format_elapsed(now - row.last_seen)}",
            f"heartbeat {row.name} last seen {row.last_seen:%H:%M:%S} UTC")
