"""Listeners of the **End now** buttons on silence and maintenance announcements."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.domain.errors import DomainError
from bot.services import silences
from bot.slack.action_ids import ActionId, BadActionValue, QuietRef


def register(app: AsyncApp) -> None:
    app.action(ActionId.SILENCE_END.value)(handle_silence_end)
    app.action(ActionId.MAINTENANCE_END.value)(handle_maintenance_end)


async def handle_silence_end(ack: AsyncAck, action: dict, body: dict, context: dict,
                             respond: AsyncRespond) -> None:
    await _end(ack, respond, action, body, context, silences.end_silence, "Silence")


async def handle_maintenance_end(ack: AsyncAck, action: dict, body: dict, context: dict,
                                 respond: AsyncRespond) -> None:
    await _end(ack, respond, action, body, context, silences.end_maintenance, "Maintenance")


async def _end(ack: AsyncAck, respond: AsyncRespond, action: dict, body: dict, context: dict,
               service, what: str) -> None:
    """Commit, then ack (like every button); the service checks who may and posts the
    channel note; the clicker alone hears the outcome or the refusal."""
    try:
        ref = QuietRef.decode(action.get("value", ""))
        actor = await context["actor_for"](body["user"]["id"])
        await service(context["services"], ref.id, actor)
        text = f"{what} {ref.id} ended."
    except (DomainError, BadActionValue) as exc:
        text = str(exc)
    await ack()
    await respond(text=text, response_type="ephemeral", replace_original=False)
