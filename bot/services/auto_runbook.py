"""High confidence with `auto_runbook: true`: the route's runbook starts by itself after a
posted 60-second cancel window, and runs its action steps marked `auto: true`.

The window lives on the incident (`auto_state = 'pending'`, `auto_due_at`); Cancel and the tick
each claim it with one conditional UPDATE, so a Cancel in the window always stops it and a
Cancel racing the start has one outcome. The run is started by the actor "system" and walks
forward only through `auto: true` action steps from the runbook's start; the first step that
needs a person (a check, a question, an action without `auto`, or a `never_auto` remediation)
is posted and waits. Every automatic step is on the timeline and the audit trail.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from bot.domain.alerts import IncidentStatus
from bot.domain.errors import DomainError, NothingToDo
from bot.domain.permissions import Action as Do
from bot.domain.runbooks import ActionNode, Remediate, may_run_automatically
from bot.services import audit, runbook_effects, runbooks
from bot.services.actors import Actor, as_actor
from bot.services.context import ServiceContext
from bot.services.incidents import check_allowed, recording_denials
from bot.services.notify import queue_thread_note, sync_everywhere
from bot.store import repo
from bot.store.models import IncidentRow, RunbookRun

PENDING, CANCELLED, STARTED = "pending", "cancelled", "started"
SYSTEM = Actor(audit.SYSTEM)
MAX_AUTO_STEPS = 20  # a runbook loop of auto steps stops here


async def cancel(ctx: ServiceContext, incident_id: int, actor: Actor | str) -> IncidentRow:
    """Stop the automatic runbook while its window is open (a person may still start it)."""
    actor, now = as_actor(actor), ctx.clock.now()
    async with recording_denials(ctx, incident_id, actor, Do.CANCEL_AUTO), \
            ctx.db.transaction() as s:
        incident = await check_allowed(ctx, s, incident_id, actor, Do.CANCEL_AUTO)
        won = await repo.set_where(s, IncidentRow, [
            IncidentRow.id == incident_id, IncidentRow.auto_state == PENDING],
            {"auto_state": CANCELLED, "auto_due_at": None})
        if not won:
            said = "already started" if incident.auto_state == STARTED else "not waiting"
            raise NothingToDo(f"#{incident_id}'s automatic runbook is {said}.")
        await s.refresh(incident)
        repo.timeline(s, incident_id=incident_id, at=now, kind="auto_runbook_cancelled",
                      actor=actor.user_id, mrkdwn=True,
                      text=f"<@{actor.user_id}> cancelled the automatic runbook "
                           f"{incident.runbook}")
        audit.record(s, now, actor.user_id, Do.CANCEL_AUTO, team=incident.team,
                     target=f"incident:{incident_id}", incident_id=incident_id,
                     before={"auto": PENDING}, after={"auto": CANCELLED})
        await sync_everywhere(s, incident, now)
    ctx.wake_delivery()
    return incident


async def tick(ctx: ServiceContext) -> int:
    """Start every automatic runbook whose cancel window has passed, once."""
    now = ctx.clock.now()
    async with ctx.db.reader() as s:
        due = list((await s.exec(select(IncidentRow.id).where(
            IncidentRow.auto_state == PENDING, col(IncidentRow.auto_due_at) <= now))).all())
    started = 0
    for incident_id in due:
        started += await _start(ctx, incident_id, now)
    return started


async def _start(ctx: ServiceContext, incident_id: int, now: datetime) -> int:
    async with ctx.db.transaction() as s:
        won = await repo.set_where(s, IncidentRow, [
            IncidentRow.id == incident_id, IncidentRow.auto_state == PENDING,
            col(IncidentRow.auto_due_at) <= now,
            IncidentRow.status != IncidentStatus.RESOLVED.value],
            {"auto_state": STARTED, "auto_due_at": None})
        incident = await repo.incident(s, incident_id)
        if not won:
            if incident is not None and incident.auto_state == PENDING:  # resolved meanwhile
                incident.auto_state, incident.auto_due_at = CANCELLED, None
                s.add(incident)
            return 0
        repo.timeline(s, incident_id=incident_id, at=now, kind="auto_runbook_started",
                      actor=audit.SYSTEM, text=f"the cancel window passed: starting runbook "
                                               f"{incident.runbook} automatically")
        await sync_everywhere(s, incident, now)
    run = await runbooks.start_run(ctx, incident_id, SYSTEM)
    await _walk_auto_steps(ctx, incident_id, run.id)
    ctx.wake_delivery()
    return 1


async def _walk_auto_steps(ctx: ServiceContext, incident_id: int, run_id: int) -> None:
    """Confirm and perform `auto: true` steps until one needs a person."""
    for _ in range(MAX_AUTO_STEPS):
        async with ctx.db.reader() as s:
            run = await s.get(RunbookRun, run_id)
        runbook = runbooks.runbook_of(ctx, run.runbook_id)
        if run.finished:
            return
        node = runbook.nodes.get(run.current)
        if not may_run_automatically(node):
            await _waits(ctx, incident_id, run.current, node)
            return
        done = await runbooks.answer(ctx, run.id, run.seq, run.current, 0, SYSTEM)
        try:
            await runbook_effects.perform(ctx, incident_id, run.runbook_id, run.current,
                                          done.confirmed or node, SYSTEM)
        except DomainError as exc:
            await _note(ctx, incident_id, f"automatic step {run.current} failed: {exc}")
            return


async def _waits(ctx: ServiceContext, incident_id: int, node_id: str, node) -> None:
    if isinstance(node, ActionNode):
        never = isinstance(node.do, Remediate) and node.do.remediate.never_auto
        why = "never runs automatically" if never else "is not marked auto: it waits"
        await _note(ctx, incident_id, f"runbook step {node_id} {why}: a responder must "
                                      "confirm it in the thread")


async def _note(ctx: ServiceContext, incident_id: int, text: str) -> None:
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        incident = await repo.incident(s, incident_id)
        repo.timeline(s, incident_id=incident_id, at=now, kind="auto_runbook_waits",
                      actor=audit.SYSTEM, text=text)
        await queue_thread_note(s, incident, text, now)
