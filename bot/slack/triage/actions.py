"""Triage and confidence buttons: ack first, decode the typed value, one service call.

Confirm / Dismiss answer by re-rendering the message (the outbox does it); a refusal or a
second click is answered ephemerally by the one error handler (bot/slack/transport/answers.py).
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import auto_runbook, decisions, triage
from bot.slack.action_ids import ActionId, IncidentRef
from bot.slack.transport.answers import answered
from bot.slack.triage.blocks import why_modal


def register(app: AsyncApp) -> None:
    app.action(ActionId.TRIAGE_CONFIRM.value)(answered(handle_confirm))
    app.action(ActionId.TRIAGE_DISMISS.value)(answered(handle_dismiss))
    app.action(ActionId.AUTO_RUNBOOK_CANCEL.value)(answered(handle_cancel))
    app.action(ActionId.INCIDENT_WHY.value)(answered(handle_why))


async def handle_confirm(ack: AsyncAck, action: dict, body: dict, context: dict) -> None:
    await ack()
    ref = IncidentRef.decode(action.get("value", ""))
    actor = await context["actor_for"](body["user"]["id"])
    await triage.confirm(context["services"], ref.incident_id, actor)


async def handle_dismiss(ack: AsyncAck, action: dict, body: dict, context: dict) -> None:
    await ack()
    ref = IncidentRef.decode(action.get("value", ""))
    actor = await context["actor_for"](body["user"]["id"])
    await triage.dismiss(context["services"], ref.incident_id, actor)


async def handle_cancel(ack: AsyncAck, action: dict, body: dict, context: dict) -> None:
    await ack()
    ref = IncidentRef.decode(action.get("value", ""))
    actor = await context["actor_for"](body["user"]["id"])
    await auto_runbook.cancel(context["services"], ref.incident_id, actor)


async def handle_why(ack: AsyncAck, action: dict, body: dict, context: dict,
                     client: AsyncWebClient) -> None:
    """Read-only: anyone who may run `route test` may see why (private teams' rules apply)."""
    await ack()
    ref = IncidentRef.decode(action.get("value", ""))
    actor = await context["actor_for"](body["user"]["id"])
    found = await decisions.explain_incident(context["services"], ref.incident_id, actor)
    await client.views_open(trigger_id=body["trigger_id"],
                            view=why_modal(ref.incident_id, found.title, found.why, found.report))
