"""What a confirmed runbook action does: the same services as the buttons, or a named hook."""

from __future__ import annotations

from bot.domain.errors import DomainError
from bot.domain.permissions import Action
from bot.domain.runbooks import (
    ActionNode,
    Escalate,
    Notify,
    Remediate,
    Resolve,
    RouteToHumans,
    assert_manual,
)
from bot.domain.text import escape_mrkdwn
from bot.services import audit, handoff, incidents, outbox
from bot.services.context import ServiceContext
from bot.services.incidents import Actor, check_allowed, recording_denials
from bot.services.notify import queue_thread_note
from bot.store import repo

REMEDIATION_HOOK = "remediation_hook"


async def perform(ctx: ServiceContext, incident_id: int, runbook_id: str, node_id: str,
                  node: ActionNode, actor: Actor) -> None:
    """Run the effect a responder just confirmed; never called on an automatic path."""
    do, why = node.do, f"runbook {runbook_id}, step {node_id}"
    match do:
        case Escalate(escalate=target):
            user = target.target if target.target and target.target[0] in "UW" else None
            group = target.target if target.target and target.target.startswith("S") else None
            await incidents.escalate(ctx, incident_id, actor, reason=why, to_user=user,
                                     to_usergroup=group)
        case RouteToHumans():
            await handoff.request(ctx, incident_id, actor, "humans", reason=why)
        case Resolve(resolve=resolve):
            await incidents.resolve(ctx, incident_id, actor, note=resolve.note or why)
        case Notify(notify=whom):
            await _notify(ctx, incident_id, whom.channel, whom.usergroup, why)
        case Remediate():
            assert_manual(node, automatic=False)
            await _request_hook(ctx, incident_id, do.remediate.hook, runbook_id, node_id, actor)


async def _notify(ctx: ServiceContext, incident_id: int, channel: str | None,
                  usergroup: str | None, why: str) -> None:
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        incident = await repo.incident(s, incident_id)
        text = f"#{incident.id} {escape_mrkdwn(incident.title)} needs you ({escape_mrkdwn(why)})."
        if usergroup:
            await queue_thread_note(s, incident, f"<!subteam^{usergroup}> {text}", now)
        if channel:
            await queue_thread_note(s, incident, text, now, channel=channel)
    ctx.wake_delivery()


async def _request_hook(ctx: ServiceContext, incident_id: int, hook: str, runbook_id: str,
                        node_id: str, actor: Actor) -> None:
    if hook not in ctx.config.hooks:
        raise DomainError(f"Remediation hook '{hook}' is not configured: add hooks.{hook} "
                          "to oncall.yaml.")
    now = ctx.clock.now()
    async with recording_denials(ctx, incident_id, actor, Action.RUNBOOK), \
            ctx.db.transaction() as s:
        incident = await check_allowed(ctx, s, incident_id, actor, Action.RUNBOOK)
        labels = (await repo.alerts_of_incident(s, incident_id) or [None])[0]
        payload = {"hook": hook, "incident_id": incident_id, "actor": actor.user_id,
                   "runbook": runbook_id, "step": node_id,
                   "labels": labels.labels if labels else {}}
        await repo.enqueue(s, kind=REMEDIATION_HOOK, lane=f"hook:{hook}", at=now,
                           incident_id=incident_id, payload=payload)
        repo.timeline(s, incident_id=incident_id, at=now, kind="remediation_requested",
                      actor=actor.user_id,
                      text=f"<@{actor.user_id}> confirmed {escape_mrkdwn(hook)}",
                      data=payload, mrkdwn=True)
        audit.record(s, now, actor.user_id, "remediation_hook", team=incident.team,
                     target=f"hook:{hook}", incident_id=incident_id,
                     after={"runbook": runbook_id, "step": node_id}, detail="requested")
        await queue_thread_note(s, incident, f":gear: Calling {hook} (confirmed by "
                                f"<@{actor.user_id}>)…", now)
    ctx.wake_delivery()


async def hook_result(ctx: ServiceContext, payload: dict, error: str | None,
                      intent_id: int | None = None) -> None:
    """Record how the hook answered, in the timeline and the thread."""
    now, hook = ctx.clock.now(), payload["hook"]
    async with ctx.db.transaction() as s:
        if intent_id is not None:
            await outbox.mark_done(s, intent_id, now)
        incident = await repo.incident(s, payload["incident_id"])
        kind = "remediation_failed" if error else "remediation_ok"
        text = (f"{escape_mrkdwn(hook)} failed: {escape_mrkdwn(error)}" if error
                else f"{escape_mrkdwn(hook)} accepted the request")
        repo.timeline(s, incident_id=incident.id, at=now, kind=kind, actor="bot", text=text,
                      data={"hook": hook, "error": error}, mrkdwn=True)
        audit.record(s, now, audit.SYSTEM, "remediation_hook", team=incident.team,
                     target=f"hook:{hook}", incident_id=incident.id,
                     after={"ok": error is None}, detail=text)
        emoji = ":x:" if error else ":white_check_mark:"
        await queue_thread_note(s, incident, f"{emoji} {text}.", now)
    ctx.wake_delivery()
