"""Button and modal listeners: ack first, decode the typed value, one service call.

Whatever a listener raises after its ack is answered by the one error handler
(bot/slack/transport/answers.py). Buttons that need more input check the clicker may act and
open the modal right after the ack, while the trigger id (3 s) is still valid; a submission gets
ACK_BUDGET seconds to commit so a refusal can still be shown inside the modal.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.errors import DomainError
from bot.domain.permissions import Action as Do
from bot.services import handoff, incidents
from bot.services.context import ServiceContext
from bot.services.incidents import Actor
from bot.slack.action_ids import ActionId, IncidentRef
from bot.slack.incident.modals import (
    ModalMeta,
    ViewId,
    escalate_modal,
    handoff_modal,
    progress_view,
    resolve_modal,
    submitted,
)
from bot.slack.text import escape_mrkdwn
from bot.slack.transport.answers import answered, within_budget

log = logging.getLogger(__name__)

def register(app: AsyncApp) -> None:
    app.action(ActionId.INCIDENT_ACK.value)(answered(handle_incident_ack))
    app.action(ActionId.INCIDENT_RESOLVE.value)(answered(handle_incident_resolve))
    app.action(ActionId.INCIDENT_ESCALATE.value)(answered(handle_incident_escalate))
    app.action(ActionId.INCIDENT_ROUTE_TO_HUMANS.value)(answered(handle_incident_route_to_humans))
    app.action(ActionId.INCIDENT_RESTORE_AI.value)(answered(handle_incident_restore_ai))
    app.view_submission(ViewId.ESCALATE)(answered(handle_escalate_submitted))
    app.view_submission(ViewId.HANDOFF)(answered(handle_handoff_submitted))
    app.view_submission(ViewId.RESOLVE)(answered(handle_resolve_submitted))


async def handle_incident_ack(ack: AsyncAck, action: dict, body: dict, context: dict) -> None:
    await ack()
    ref = IncidentRef.decode(action.get("value", ""))
    actor = await context["actor_for"](body["user"]["id"])
    await incidents.acknowledge(context["services"], ref.incident_id, actor)


async def handle_incident_resolve(ack: AsyncAck, action: dict, body: dict, context: dict,
                                  client: AsyncWebClient) -> None:
    await _open(ack, action, context, client, body, Do.RESOLVE, lambda ref, info: resolve_modal(
        ref.incident_id, info.title, info.firing))


async def handle_incident_escalate(ack: AsyncAck, action: dict, body: dict, context: dict,
                                   client: AsyncWebClient) -> None:
    groups = sorted(_known_usergroups(context["services"].config))
    await _open(ack, action, context, client, body, Do.ESCALATE,
                lambda ref, info: escalate_modal(ref.incident_id, info.title, groups))


async def handle_incident_route_to_humans(ack: AsyncAck, action: dict, body: dict,
                                          context: dict, client: AsyncWebClient) -> None:
    await _open(ack, action, context, client, body, Do.ROUTE_TO_HUMANS,
                lambda ref, info: _handoff_modal(context, ref, info, "humans"))


async def handle_incident_restore_ai(ack: AsyncAck, action: dict, body: dict, context: dict,
                                     client: AsyncWebClient) -> None:
    await _open(ack, action, context, client, body, Do.RESTORE_AI,
                lambda ref, info: _handoff_modal(context, ref, info, "ai"))


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
        service = escape_mrkdwn(info.service)
        raise DomainError(f"No handoff is configured for service '{service or '(none)'}': "
                          f"add handoff.{service or '<service>'} to oncall.yaml.")
    who = [f"<#{spec.notify.channel.removeprefix('#')}>" if spec.notify.channel else "",
           f"<!subteam^{spec.notify.usergroup}>" if spec.notify.usergroup else ""]
    humans = " and ".join(w for w in who if w) or "the team channel"
    return handoff_modal(ref.incident_id, info.title, info.service, mode, humans)


async def handle_escalate_submitted(ack: AsyncAck, body: dict, view: dict, context: dict,
                                    client: AsyncWebClient) -> None:
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

    async def escalate(ctx: ServiceContext, actor) -> None:
        await incidents.escalate(ctx, meta.incident_id, actor, to_user=person,
                                 to_usergroup=group, reason=submitted(view, "reason"))
    await _submit(ack, body, context, client, escalate)


async def handle_handoff_submitted(ack: AsyncAck, body: dict, view: dict, context: dict,
                                   client: AsyncWebClient) -> None:
    meta = ModalMeta.decode(view["private_metadata"])
    title = "Route to humans" if meta.mode == "humans" else "Restore AI"
    await _submit(ack, body, context, client, lambda ctx, actor: handoff.request(
        ctx, meta.incident_id, actor, meta.mode, submitted(view, "reason"), view_id=view["id"]),
                  then=progress_view(title, ":hourglass_flowing_sand: Calling the handoff "
                                            "webhook. This window shows the answer."))


async def handle_resolve_submitted(ack: AsyncAck, body: dict, view: dict, context: dict,
                                   client: AsyncWebClient) -> None:
    meta = ModalMeta.decode(view["private_metadata"])
    await _submit(ack, body, context, client, lambda ctx, actor: incidents.resolve(
        ctx, meta.incident_id, actor, note=submitted(view, "reason")))


async def _open(ack: AsyncAck, action: dict, context: dict, client: AsyncWebClient,
                body: dict, may: Do, build) -> None:
    """Ack, check the clicker may act (a stranger hears no at once), then open the modal while
    the trigger id lives; Bolt's error handler answers whatever goes wrong."""
    await ack()
    ref = IncidentRef.decode(action.get("value", ""))
    actor = await context["actor_for"](body["user"]["id"])
    info = await incidents.describe(context["services"], ref.incident_id, actor=actor,
                                   action=may)
    await client.views_open(trigger_id=body["trigger_id"], view=build(ref, info))


async def _submit(ack: AsyncAck, body: dict, context: dict, client: AsyncWebClient,
                  service: Callable[[ServiceContext, Actor], Awaitable[object]],
                  then=None) -> None:
    """Commit, then close the modal (or show `then`); a refusal is shown inside the modal.

    A submission cannot be answered after its ack, so the service gets ACK_BUDGET seconds;
    if the database is slower, the modal says so at once and shows the outcome when it comes.
    """
    async def work() -> None:
        actor = await context["actor_for"](body["user"]["id"])
        await service(context["services"], actor)
    done = await within_budget(work())
    if not done.done():
        await ack(response_action="update", view=progress_view(
            "Working on it", ":hourglass_flowing_sand: The database is busy; this window "
                             "shows the outcome in a moment."))
        await done
        await client.views_update(view_id=body["view"]["id"], view=then or progress_view(
            "Done", ":white_check_mark: Done."))
        return
    if isinstance(done.exception(), DomainError):
        await ack(response_action="errors", errors={"reason": str(done.exception())[:2000]})
        return
    done.result()  # anything else rises to the error handler, which answers in the modal
    if then is not None:
        await ack(response_action="update", view=then)
    else:
        await ack()
