"""Button and modal listeners: ack within Slack's 3 s, decode the typed value, one service call.

Buttons that need more input open a modal at once with the trigger id (it expires in 3 s);
the submission commits before it is acknowledged.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.errors import DomainError
from bot.domain.permissions import Action as Do
from bot.services import handoff, incidents
from bot.services.context import ServiceContext
from bot.slack.action_ids import ActionId, BadActionValue, IncidentRef
from bot.slack.modals import (
    ModalMeta,
    ViewId,
    escalate_modal,
    handoff_modal,
    progress_view,
    resolve_modal,
    submitted,
)

log = logging.getLogger(__name__)

def register(app: AsyncApp) -> None:
    app.action(ActionId.INCIDENT_ACK.value)(handle_incident_ack)
    app.action(ActionId.INCIDENT_RESOLVE.value)(handle_incident_resolve)
    app.action(ActionId.INCIDENT_ESCALATE.value)(handle_incident_escalate)
    app.action(ActionId.INCIDENT_ROUTE_TO_HUMANS.value)(handle_incident_route_to_humans)
    app.action(ActionId.INCIDENT_RESTORE_AI.value)(handle_incident_restore_ai)
    app.view_submission(ViewId.ESCALATE)(handle_escalate_submitted)
    app.view_submission(ViewId.HANDOFF)(handle_handoff_submitted)
    app.view_submission(ViewId.RESOLVE)(handle_resolve_submitted)


async def handle_incident_ack(ack: AsyncAck, action: dict, body: dict, context: dict,
                              respond: AsyncRespond) -> None:
    ctx: ServiceContext = context["services"]
    actor = await context["actor_for"](body["user"]["id"])
    await _act(ack, respond, action, lambda ref: incidents.acknowledge(
        ctx, ref.incident_id, actor))


async def handle_incident_resolve(ack: AsyncAck, action: dict, body: dict, context: dict,
                                  client: AsyncWebClient, respond: AsyncRespond) -> None:
    await _open(ack, respond, action, context, client, body, lambda ref, info: resolve_modal(
        ref.incident_id, info.title, info.firing), Do.RESOLVE)


async def handle_incident_escalate(ack: AsyncAck, action: dict, body: dict, context: dict,
                                   client: AsyncWebClient, respond: AsyncRespond) -> None:
    groups = sorted(_known_usergroups(context["services"].config))
    await _open(ack, respond, action, context, client, body,
                lambda ref, info: escalate_modal(ref.incident_id, info.title, groups),
                Do.ESCALATE)


async def handle_incident_route_to_humans(ack: AsyncAck, action: dict, body: dict,
                                          context: dict, client: AsyncWebClient,
                                          respond: AsyncRespond) -> None:
    await _open(ack, respond, action, context, client, body,
                lambda ref, info: _handoff_modal(context, ref, info, "humans"),
                Do.ROUTE_TO_HUMANS)


async def handle_incident_restore_ai(ack: AsyncAck, action: dict, body: dict, context: dict,
                                     client: AsyncWebClient, respond: AsyncRespond) -> None:
    await _open(ack, respond, action, context, client, body,
                lambda ref, info: _handoff_modal(context, ref, info, "ai"), Do.RESTORE_AI)


def _known_usergroups(config) -> set[str]:
    """User groups oncall.yaml names: responders, policy targets, human handoff teams."""
    groups = {r for team in config.teams.values() for r in team.responders if r[0] == "S"}
    groups |= {t.value for p in config.escalation_policies.values() for level in p.levels
               for t in level.notify if t.kind.value == "usergroup"}
    groups |= {h.notify.usergroup for h in config.handoff.values() if h.notify.usergroup}
    return groups


def _handoff_modal(context: dict, ref: IncidentRef, info, mode: str):
    spec = context["services"].config.handoff.get(info.service)
    if spec is None:
        raise DomainError(f"No handoff is configured for service '{info.service or '(none)'}': "
                          f"add handoff.{info.service or '<service>'} to oncall.yaml.")
    who = [f"<#{spec.notify.channel.removeprefix('#')}>" if spec.notify.channel else "",
           f"<!subteam^{spec.notify.usergroup}>" if spec.notify.usergroup else ""]
    humans = " and ".join(w for w in who if w) or "the team channel"
    return handoff_modal(ref.incident_id, info.title, info.service, mode, humans)


async def handle_escalate_submitted(ack: AsyncAck, body: dict, view: dict, context: dict) -> None:
    ctx: ServiceContext = context["services"]
    meta = ModalMeta.decode(view["private_metadata"])
    how = submitted(view, "how")
    person = submitted(view, "person") if how == "person" else None
    group = submitted(view, "usergroup") if how == "usergroup" else None
    if how == "person" and not person:
        await ack(response_action="errors", errors={"person": "Pick the person to page."})
        return
    if how == "usergroup" and not group:
        await ack(response_action="errors", errors={"usergroup": "Pick the group to page."})
        return
    actor = await context["actor_for"](body["user"]["id"])
    await _submit(ack, lambda: incidents.escalate(ctx, meta.incident_id, actor, to_user=person,
                                                  to_usergroup=group,
                                                  reason=submitted(view, "reason")))


async def handle_handoff_submitted(ack: AsyncAck, body: dict, view: dict, context: dict) -> None:
    ctx: ServiceContext = context["services"]
    meta = ModalMeta.decode(view["private_metadata"])
    actor = await context["actor_for"](body["user"]["id"])
    title = "Route to humans" if meta.mode == "humans" else "Restore AI"
    await _submit(ack, lambda: handoff.request(ctx, meta.incident_id, actor, meta.mode,
                                               submitted(view, "reason"), view_id=view["id"]),
                  then=progress_view(title, ":hourglass_flowing_sand: Calling the handoff "
                                            "webhook. This window shows the answer."))


async def handle_resolve_submitted(ack: AsyncAck, body: dict, view: dict, context: dict) -> None:
    ctx: ServiceContext = context["services"]
    meta = ModalMeta.decode(view["private_metadata"])
    actor = await context["actor_for"](body["user"]["id"])
    await _submit(ack, lambda: incidents.resolve(ctx, meta.incident_id, actor,
                                                 note=submitted(view, "reason")))


async def _open(ack: AsyncAck, respond: AsyncRespond, action: dict, context: dict,
                client: AsyncWebClient, body: dict, build, may: Do) -> None:
    """Open the modal first (the trigger id dies in 3 s), then acknowledge the click; someone
    who may not act hears so at once instead of filling in a form for nothing."""
    try:
        ref = IncidentRef.decode(action.get("value", ""))
        actor = await context["actor_for"](body["user"]["id"])
        await incidents.ensure_may_act(context["services"], ref.incident_id, actor, may)
        info = await incidents.describe(context["services"], ref.incident_id)
        await client.views_open(trigger_id=body["trigger_id"], view=build(ref, info))
    except (DomainError, BadActionValue) as exc:
        await ack()
        await respond(text=str(exc), response_type="ephemeral", replace_original=False)
        return
    await ack()


async def _submit(ack: AsyncAck, service: Callable[[], Awaitable[object]], then=None) -> None:
    """Commit, then close the modal (or show `then`); a refusal is shown inside the modal."""
    try:
        await service()
    except DomainError as exc:
        await ack(response_action="errors", errors={"reason": str(exc)[:2000]})
        return
    if then is not None:
        await ack(response_action="update", view=then)
    else:
        await ack()


async def _act(ack: AsyncAck, respond: AsyncRespond, action: dict,
               service: Callable[[IncidentRef], Awaitable[object]]) -> None:
    """Commit first, then ack; a refusal reaches only the clicker, as an ephemeral reply."""
    try:
        await service(IncidentRef.decode(action.get("value", "")))
    except (DomainError, BadActionValue) as exc:
        await ack()
        await respond(text=str(exc), response_type="ephemeral", replace_original=False)
        return
    except Exception:
        error_id = uuid.uuid4().hex[:8]
        log.exception("action %s failed (error id %s)", action.get("action_id"), error_id)
        await ack()
        await respond(text=f"Something went wrong on our side (error id {error_id}). "
                           "Nothing was changed.", response_type="ephemeral",
                      replace_original=False)
        return
    await ack()
