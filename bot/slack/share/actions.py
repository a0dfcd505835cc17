"""The Publish to status page button: ack, decode, one service call; the message re-renders."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.services import statuspage
from bot.slack.action_ids import ActionId, IncidentRef
from bot.slack.transport.answers import answered


def register(app: AsyncApp) -> None:
    app.action(ActionId.INCIDENT_PUBLISH.value)(answered(handle_incident_publish))


async def handle_incident_publish(ack: AsyncAck, action: dict, body: dict,
                                  context: dict) -> None:
    await ack()
    ref = IncidentRef.decode(action.get("value", ""))
    actor = await context["actor_for"](body["user"]["id"])
    await statuspage.publish(context["services"], ref.incident_id, actor)
