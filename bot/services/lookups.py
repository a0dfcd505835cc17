"""Reads the adapters need, each in its own short read: senders and commands open no session.

A sender renders from what is committed; these hand it the rows it renders from.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from bot.domain.alerts import IncidentView
from bot.domain.changes import plain_line
from bot.domain.schedules import OnCall
from bot.services.context import ServiceContext
from bot.services.paging import on_call_now
from bot.services.views import changes_of, incident_view
from bot.store import repo

# Re-exported: "the database is not there right now", which adapters answer with a 503.
from bot.store.db import UNAVAILABLE as UNAVAILABLE
from bot.store.models import AlertRow, IncidentRow, OutboxIntent, RunbookRun, SlackMessage


async def incident(ctx: ServiceContext, incident_id: int) -> IncidentRow | None:
    async with ctx.db.reader() as s:
        return await repo.incident(s, incident_id)


async def incident_with_alerts(ctx: ServiceContext, incident_id: int,
                               ) -> tuple[IncidentRow, list[AlertRow]]:
    async with ctx.db.reader() as s:
        return (await repo.incident(s, incident_id),
                await repo.alerts_of_incident(s, incident_id))


async def changes_text(ctx: ServiceContext, incident_id: int) -> str:
    """An incident's recent changes as one line (a runbook's `{{ changes }}`)."""
    async with ctx.db.reader() as s:
        row = await repo.incident(s, incident_id)
        if row is None:
            return ""
        alerts = await repo.alerts_of_incident(s, incident_id)
        started = min((a.starts_at for a in alerts), default=row.opened_at)
        found = await changes_of(s, row, started, ctx.config.changes.window)
    return "; ".join(plain_line(c, started) for c in reversed(found))


async def posted_message(ctx: ServiceContext, incident_id: int, kind: str,
                         recipient: str = "") -> SlackMessage | None:
    """The bot's message of this kind for the incident, if it was posted."""
    async with ctx.db.reader() as s:
        return await repo.slack_message(s, incident_id, kind, recipient)


async def incident_and_message(ctx: ServiceContext, incident_id: int, kind: str,
                               recipient: str = "") -> tuple[IncidentRow, SlackMessage | None]:
    async with ctx.db.reader() as s:
        return (await repo.incident(s, incident_id),
                await repo.slack_message(s, incident_id, kind, recipient))


async def incident_and_view(ctx: ServiceContext, incident_id: int,
                            ) -> tuple[IncidentRow, IncidentView]:
    """An incident and what its message shows now (what a pager event tells the pager)."""
    async with ctx.db.reader(quick=True) as s:  # bounded (views load 50 alerts)
        row = await repo.incident(s, incident_id)
        return row, await incident_view(s, row, ctx.config.handoff,
                                        ctx.config.hidden_labels(row.team),
                                        ctx.config.changes.window,
                                        statuspage=ctx.config.statuspage is not None)


async def view_and_message(ctx: ServiceContext, incident_id: int, kind: str, recipient: str = "",
                           ) -> tuple[IncidentRow, IncidentView, SlackMessage | None]:
    """What an incident's message shows now, and the message to update if there is one."""
    async with ctx.db.reader(quick=True) as s:  # bounded (views load 50 alerts)
        row = await repo.incident(s, incident_id)
        view = await incident_view(s, row, ctx.config.handoff, ctx.config.hidden_labels(row.team),
                                   ctx.config.changes.window,
                                   statuspage=ctx.config.statuspage is not None)
        return row, view, await repo.slack_message(s, incident_id, kind, recipient)


async def runbook_step(ctx: ServiceContext, run_id: int, incident_id: int, parent_kind: str,
                       step_kind: str, step_recipient: str,
                       ) -> tuple[RunbookRun | None, list[AlertRow], SlackMessage | None,
                                  SlackMessage | None]:
    """A runbook step's run, the incident's alerts, its alert message and the step's message."""
    async with ctx.db.reader() as s:
        return (await s.get(RunbookRun, run_id), await repo.alerts_of_incident(s, incident_id),
                await repo.slack_message(s, incident_id, parent_kind),
                await repo.slack_message(s, incident_id, step_kind, step_recipient))


async def message_of_intent(ctx: ServiceContext, kind: str, intent_id: int,
                            ) -> SlackMessage | None:
    """The message an earlier attempt of this intent posted (and recorded), if any."""
    async with ctx.db.reader() as s:
        return (await s.exec(select(SlackMessage).where(
            SlackMessage.kind == kind, SlackMessage.intent_id == intent_id))).first()


async def remember_message(ctx: ServiceContext, message: SlackMessage) -> None:
    async with ctx.db.transaction() as s:
        s.add(message)


async def first_sight_of_event(ctx: ServiceContext, event_id: str) -> bool:
    """Record a Slack event id; False when it was seen before (Slack retried it)."""
    async with ctx.db.transaction() as s:
        return await repo.remember_event(s, f"event:{event_id}", ctx.clock.now())


async def intents(ctx: ServiceContext, ids: list[int]) -> list[OutboxIntent]:
    async with ctx.db.reader() as s:
        return [await s.get(OutboxIntent, i) for i in ids]


async def on_call(ctx: ServiceContext, teams: list[str], now: datetime,
                  ) -> list[tuple[str, OnCall | None]]:
    """Who holds each team's schedule at `now`."""
    async with ctx.db.reader() as s:
        return [(team, await on_call_now(ctx, s, team, now)) for team in teams]
