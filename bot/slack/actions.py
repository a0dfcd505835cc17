"""Button listeners: ack within Slack's 3 s, decode the typed value, one service call."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.domain.errors import DomainError
from bot.services import incidents
from bot.services.context import ServiceContext
from bot.slack.action_ids import ActionId, BadActionValue, IncidentRef

log = logging.getLogger(__name__)

NOT_YET = {
    ActionId.INCIDENT_ESCALATE: "Escalation policies are not configured in this version of the "
                                "bot yet. Mention the next responder in the thread.",
    ActionId.INCIDENT_ROUTE_TO_HUMANS: "No handoff webhook is configured in this version of the "
                                       "bot yet. Switch the workflow to humans by hand.",
    ActionId.INCIDENT_RUNBOOK_START: "Runbook walking is not available in this version of the "
                                     "bot yet. Open the runbook link on the alert.",
}


def register(app: AsyncApp) -> None:
    app.action(ActionId.INCIDENT_ACK.value)(handle_incident_ack)
    app.action(ActionId.INCIDENT_RESOLVE.value)(handle_incident_resolve)
    for action_id in NOT_YET:
        app.action(action_id.value)(handle_unavailable_action)


async def handle_incident_ack(ack: AsyncAck, action: dict, body: dict, context: dict,
                              respond: AsyncRespond) -> None:
    ctx: ServiceContext = context["services"]
    await _act(ack, respond, action, lambda ref: incidents.acknowledge(
        ctx, ref.incident_id, body["user"]["id"]))


async def handle_incident_resolve(ack: AsyncAck, action: dict, body: dict, context: dict,
                                  respond: AsyncRespond) -> None:
    ctx: ServiceContext = context["services"]
    await _act(ack, respond, action, lambda ref: incidents.resolve(
        ctx, ref.incident_id, body["user"]["id"]))


async def handle_unavailable_action(ack: AsyncAck, action: dict, respond: AsyncRespond) -> None:
    await ack()
    await respond(text=NOT_YET[ActionId(action["action_id"])], response_type="ephemeral",
                  replace_original=False)


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
