"""Route to humans and Restore AI: request through the outbox, record the webhook's answer."""

from __future__ import annotations

from sqlmodel import col

from bot.domain.errors import DomainError, NothingToDo
from bot.domain.handoff import Mode, handoff_body
from bot.domain.permissions import Action
from bot.domain.text import escape_mrkdwn
from bot.services import audit, outbox
from bot.services.context import ServiceContext
from bot.services.incidents import Actor, as_actor, check_allowed, recording_denials
from bot.services.notify import (
    queue_ephemeral,
    queue_handoff_webhook,
    queue_thread_note,
    queue_view_result,
    sync_everywhere,
)
from bot.store import repo
from bot.store.cas import transition, unchanged
from bot.store.models import IncidentRow

VERB = {"humans": "route to humans", "ai": "restore AI handling of"}
ACTION = {"humans": Action.ROUTE_TO_HUMANS, "ai": Action.RESTORE_AI}


async def request(ctx: ServiceContext, incident_id: int, actor: Actor | str, mode: Mode,
                  reason: str = "", view_id: str | None = None) -> IncidentRow:
    """Queue the signed webhook call; the state changes only once the receiver said yes."""
    actor = as_actor(actor)
    async with recording_denials(ctx, incident_id, actor, ACTION[mode]):
        now = ctx.clock.now()
        async with ctx.db.transaction() as s:
            incident = await check_allowed(ctx, s, incident_id, actor, ACTION[mode])
            if incident.service not in ctx.config.handoff:
                service = escape_mrkdwn(incident.service)
                raise DomainError(f"No handoff is configured for service '{service or '(none)'}'"
                                  f": add handoff.{service or '<service>'} to oncall.yaml.")
            if incident.humans_mode == (mode == "humans"):
                raise NothingToDo(f"#{incident_id} is already "
                                  f"{'with humans' if mode == 'humans' else 'on AI handling'}.")
            if not await transition(s, incident, unchanged(incident), {}):
                raise NothingToDo(f"#{incident_id} changed while you clicked: nothing was "
                                  "done. Look at the message and try again if still needed.")
            body = handoff_body(service=incident.service, mode=mode, incident_id=incident_id,
                                actor=actor.user_id, reason=reason)
            await queue_handoff_webhook(s, incident, {**body, "view_id": view_id}, now)
            repo.timeline(s, incident_id=incident_id, at=now, kind="handoff_requested",
                          actor=actor.user_id, text=f"<@{actor.user_id}> asked to "
                          f"{VERB[mode]} {escape_mrkdwn(incident.service)}"
                          + (f": {escape_mrkdwn(reason)}" if reason else ""),
                          data=body, mrkdwn=True)
            audit.record(s, now, actor.user_id, ACTION[mode], team=incident.team,
                         target=f"incident:{incident_id}", incident_id=incident_id,
                         before={"humans_mode": incident.humans_mode},
                         after={"requested": mode}, detail=reason)
    ctx.wake_delivery()
    return incident


async def succeeded(ctx: ServiceContext, payload: dict, intent_id: int) -> None:
    """The receiver switched the workflow: show it, tell the human team, keep the record."""
    now, mode, actor = ctx.clock.now(), payload["mode"], payload["actor"]
    async with ctx.db.transaction() as s:
        await outbox.mark_done(s, intent_id, now)
        incident = await repo.incident(s, payload["incident_id"])
        # A compare-and-set on the mode read: of two answers settled at once (on two
        # replicas), one switches it; the other leaves the incident as the first left it.
        if incident.humans_mode != (mode == "humans") and await transition(
                s, incident, [IncidentRow.humans_mode == incident.humans_mode],
                {"humans_mode": mode == "humans", "humans_by": actor, "humans_at": now,
                 "handoff_error": None}):
            await _switched(ctx, s, incident, payload, now)
        else:
            where = "with humans" if incident.humans_mode else "on AI handling"
            await queue_view_result(s, incident, payload.get("view_id"), "Done",
                                    f":white_check_mark: #{incident.id} is already {where}.", now)
    ctx.wake_delivery()


async def _switched(ctx: ServiceContext, s, incident: IncidentRow, payload: dict, now) -> None:
    mode, actor = payload["mode"], payload["actor"]
    kind = "routed_to_humans" if mode == "humans" else "restored_ai"
    service = escape_mrkdwn(incident.service)
    text = (f"AI workflow for {service} routed to humans by <@{actor}>"
            if mode == "humans" else f"AI handling of {service} restored by <@{actor}>")
    repo.timeline(s, incident_id=incident.id, at=now, kind=kind, actor=actor, text=text,
                  data={"reason": payload.get("reason", "")}, mrkdwn=True)
    audit.record(s, now, audit.SYSTEM, kind, team=incident.team,
                 target=f"incident:{incident.id}", incident_id=incident.id,
                 after={"humans_mode": incident.humans_mode},
                 detail=f"the handoff webhook accepted the request of {actor}")
    await _tell_humans(ctx, s, incident, text, now)
    await queue_view_result(s, incident, payload.get("view_id"), "Done",
                            f":white_check_mark: {text}.", now)
    await sync_everywhere(s, incident, now)


async def _tell_humans(ctx: ServiceContext, s, incident: IncidentRow, text: str, now) -> None:
    notify = ctx.config.handoff[incident.service].notify
    mention = f"<!subteam^{notify.usergroup}> " if notify.usergroup else ""
    await queue_thread_note(s, incident, f"{mention}{text}.", now)
    if notify.channel:
        await queue_thread_note(s, incident, f"{mention}{text} (#{incident.id}: "
                                f"{escape_mrkdwn(incident.title)}).", now,
                                channel=notify.channel)


async def failed(ctx: ServiceContext, payload: dict, error: str, *, final: bool) -> None:
    """Nothing pretends it worked: the message, the timeline and the clicker all hear why."""
    now, actor = ctx.clock.now(), payload["actor"]
    async with ctx.db.transaction() as s:
        incident = await repo.incident(s, payload["incident_id"])
        # Not over a switch to this mode settled before (or, on another replica, since the
        # read): that one cleared the error, and the message must not show this one.
        if incident.humans_mode != (payload["mode"] == "humans"):
            await transition(s, incident, [IncidentRow.humans_mode == incident.humans_mode,
                                           col(IncidentRow.humans_at).is_not_distinct_from(
                                               incident.humans_at)],
                             {"handoff_error": error if final else f"{error} (retrying)"})
        repo.timeline(s, incident_id=incident.id, at=now, kind="handoff_failed" if final
                      else "handoff_retrying", actor="bot",
                      text=f"handoff webhook for {escape_mrkdwn(incident.service)} failed: "
                           f"{escape_mrkdwn(error)}",
                      data={"error": error, "final": final}, mrkdwn=True)
        if final:
            audit.record(s, now, audit.SYSTEM, "handoff_failed", team=incident.team,
                         target=f"incident:{incident.id}", incident_id=incident.id,
                         detail=error)
        verdict = "gave up" if final else "will retry"
        told = (f"Route to humans for #{incident.id} failed: {escape_mrkdwn(error)}. The bot "
                f"{verdict}; the AI workflow is unchanged.")
        await queue_ephemeral(s, incident, actor, told, now)
        await queue_view_result(s, incident, payload.get("view_id"), "Failed",
                                f":warning: {told}", now)
        await sync_everywhere(s, incident, now)
    ctx.wake_delivery()
