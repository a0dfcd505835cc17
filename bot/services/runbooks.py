"""Walking a runbook in an incident's thread: start, answer, back, restart, and the effects.

Progress lives in RunbookRun; every transition is a compare-and-set on `seq`, so two people
clicking the same step get one transition, and a restart of the bot resumes where it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.errors import DomainError
from bot.domain.permissions import Action
from bot.domain.runbook_walk import Step, Walk, back, choose, find_runbook, restart, start
from bot.domain.runbooks import ActionNode, Runbook, StaleStep
from bot.domain.text import escape_mrkdwn
from bot.services import audit
from bot.services.context import ServiceContext
from bot.services.incidents import Actor, as_actor, check_allowed, recording_denials
from bot.store import repo
from bot.store.models import IncidentRow, RunbookRun

RUNBOOK_POST = "runbook_post"
RUNBOOK_CLOSE = "runbook_close"


@dataclass(frozen=True)
class Transition:
    """What a click did: the run after it, and the action node it confirmed, if any."""

    run: RunbookRun
    confirmed: ActionNode | None = None


def runbook_of(ctx: ServiceContext, runbook_id: str) -> Runbook:
    runbook = find_runbook(ctx.runbooks, runbook_id)
    if runbook is None:
        known = ", ".join(sorted(r.id for r in ctx.runbooks)) or "none are loaded"
        raise DomainError(f"There is no runbook '{runbook_id}' (known: {known}).")
    return runbook


async def start_run(ctx: ServiceContext, incident_id: int, actor: Actor | str,
                    runbook_id: str | None = None) -> RunbookRun:
    """Start (or show again) a runbook for the incident: the first step goes in its thread."""
    actor, now = as_actor(actor), ctx.clock.now()
    async with recording_denials(ctx, incident_id, actor, Action.RUNBOOK), \
            ctx.db.transaction() as s:
        incident = await check_allowed(ctx, s, incident_id, actor, Action.RUNBOOK)
        runbook = runbook_of(ctx, runbook_id or incident.runbook or "")
        run = await _open_run(s, incident_id, runbook.id)
        if run is None:
            walk = start(runbook)
            run = RunbookRun(incident_id=incident_id, runbook_id=runbook.id, current=walk.current,
                             started_by=actor.user_id, started_at=now, updated_at=now)
            s.add(run)
            await s.flush()
            repo.timeline(s, incident_id=incident_id, at=now, kind="runbook_started",
                          actor=actor.user_id, text=f"<@{actor.user_id}> started runbook "
                          f"{escape_mrkdwn(runbook.title)}",
                          data={"runbook": runbook.id, "run": run.id}, mrkdwn=True)
            audit.record(s, now, actor.user_id, Action.RUNBOOK, team=incident.team,
                         target=f"incident:{incident_id}", incident_id=incident_id,
                         after={"runbook": runbook.id, "run": run.id}, detail="started")
        await _post_current(s, incident, run, now)
    ctx.wake_delivery()
    return run


async def answer(ctx: ServiceContext, run_id: int, seq: int, node_id: str, option: int,
                 actor: Actor | str) -> Transition:
    """Record one click on the current step and post the next one."""
    actor = as_actor(actor)

    def step(runbook: Runbook, walk: Walk) -> Walk:
        return choose(runbook, walk, node_id, option, actor.user_id)

    return await _transition(ctx, run_id, seq, actor, step, verb="answered")


async def go_back(ctx: ServiceContext, run_id: int, seq: int, node_id: str,
                  actor: Actor | str) -> Transition:
    return await _transition(ctx, run_id, seq, as_actor(actor),
                             lambda _runbook, walk: back(walk, node_id=node_id), verb="back")


async def start_over(ctx: ServiceContext, run_id: int, seq: int,
                     actor: Actor | str) -> Transition:
    return await _transition(ctx, run_id, seq, as_actor(actor), restart, verb="restarted")


async def _transition(ctx: ServiceContext, run_id: int, seq: int, actor: Actor, step,
                      verb: str) -> Transition:
    async with ctx.db.reader() as s:
        run = await s.get(RunbookRun, run_id)
    if run is None:
        raise DomainError("This runbook run no longer exists.")
    async with recording_denials(ctx, run.incident_id, actor, Action.RUNBOOK):
        return await _apply(ctx, run_id, seq, actor, step, verb)


async def _apply(ctx: ServiceContext, run_id: int, seq: int, actor: Actor, step,
                 verb: str) -> Transition:
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        run = await s.get(RunbookRun, run_id)
        if run is None:
            raise DomainError("This runbook run no longer exists.")
        incident = await check_allowed(ctx, s, run.incident_id, actor, Action.RUNBOOK)
        runbook = runbook_of(ctx, run.runbook_id)
        if run.seq != seq:
            raise StaleStep("Someone already answered this step; the runbook has moved on.")
        before = _walk(run)
        after = step(runbook, before)
        won = await repo.set_where(s, RunbookRun, [RunbookRun.id == run_id, RunbookRun.seq == seq],
                                   {"seq": seq + 1, "current": after.current,
                                    "path": [p.model_dump() for p in after.path],
                                    "finished": after.finished, "updated_at": now})
        if not won:
            raise StaleStep("Someone already answered this step; the runbook has moved on.")
        await s.refresh(run)
        confirmed = _record(s, incident, runbook, before, after, actor, verb, now)
        await _close_step(s, incident, run, seq, before, _closing_text(after, actor, verb), now)
        if not after.finished:
            await _post_current(s, incident, run, now)
    ctx.wake_delivery()
    return Transition(run=run, confirmed=confirmed)


def _record(s: AsyncSession, incident: IncidentRow, runbook: Runbook, before: Walk, after: Walk,
            actor: Actor, verb: str, now: datetime) -> ActionNode | None:
    """One timeline row per step taken; returns the action node a click confirmed."""
    node = runbook.nodes[before.current]
    label = after.path[-1].answer if verb == "answered" else verb
    repo.timeline(s, incident_id=incident.id, at=now, kind="runbook_step", actor=actor.user_id,
                  text=f"runbook {runbook.id}, step {before.current}: {label}",
                  data={"runbook": runbook.id, "node": before.current, "answer": label,
                        "actor": actor.user_id})
    audit.record(s, now, actor.user_id, Action.RUNBOOK, team=incident.team,
                 target=f"incident:{incident.id}", incident_id=incident.id,
                 before={"node": before.current}, after={"node": after.current}, detail=label)
    return node if verb == "answered" and isinstance(node, ActionNode) else None


def _closing_text(after: Walk, actor: Actor, verb: str) -> str:
    if verb == "answered":
        return f":white_check_mark: *{after.path[-1].answer}*, chosen by <@{actor.user_id}>"
    if verb == "back":
        return f":leftwards_arrow_with_hook: <@{actor.user_id}> went back a step"
    return f":arrows_counterclockwise: <@{actor.user_id}> restarted the runbook"


async def _post_current(s: AsyncSession, incident: IncidentRow, run: RunbookRun,
                        now: datetime) -> None:
    await repo.enqueue(s, kind=RUNBOOK_POST, lane=f"channel:{incident.channel}", at=now,
                       incident_id=incident.id,
                       payload={"run": run.id, "seq": run.seq, "node": run.current,
                                "steps": len(run.path)})


async def _close_step(s: AsyncSession, incident: IncidentRow, run: RunbookRun, seq: int,
                      before: Walk, text: str, now: datetime) -> None:
    await repo.enqueue(s, kind=RUNBOOK_CLOSE, lane=f"channel:{incident.channel}", at=now,
                       incident_id=incident.id,
                       payload={"run": run.id, "seq": seq, "node": before.current, "text": text,
                                "step_no": len(before.path) + 1})


async def _open_run(s: AsyncSession, incident_id: int, runbook_id: str) -> RunbookRun | None:
    query = (select(RunbookRun).where(RunbookRun.incident_id == incident_id,
                                      RunbookRun.runbook_id == runbook_id,
                                      col(RunbookRun.finished).is_(False))
             .order_by(col(RunbookRun.id).desc()))
    return (await s.exec(query)).first()


def _walk(run: RunbookRun) -> Walk:
    return Walk(runbook=run.runbook_id, current=run.current,
                path=tuple(Step(**p) for p in run.path), finished=run.finished)
