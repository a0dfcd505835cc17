"""Listener of the cost digest's **Open incident** button: ack, decode, one service call."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.config import SLACK_CHANNEL_ID
from bot.domain.digests import Window
from bot.services import digest_incidents
from bot.slack.action_ids import DIGEST_OPEN_INCIDENT_PATTERN
from bot.slack.digest.blocks import DigestLineRef
from bot.slack.transport.answers import answered


def register(app: AsyncApp) -> None:
    app.action(DIGEST_OPEN_INCIDENT_PATTERN)(answered(handle_digest_open_incident))


async def handle_digest_open_incident(ack: AsyncAck, action: dict, body: dict, context: dict,
                                      respond: AsyncRespond) -> None:
    """Ack, open (or find) the incident; the clicker alone hears where it is."""
    await ack()
    ref = DigestLineRef.decode(action.get("value", ""))
    actor = await context["actor_for"](body["user"]["id"])
    opened = await digest_incidents.open_incident(context["services"], _line(ref), actor)
    text = (f"Opened #{opened.incident_id}" if opened.new
            else f"#{opened.incident_id} is already open for this line")
    await respond(text=f"{text} in {_channel(opened.channel)}.", response_type="ephemeral",
                  replace_original=False)


def _line(ref: DigestLineRef) -> digest_incidents.DigestLine:
    return digest_incidents.DigestLine(team=ref.team, service=ref.service, model=ref.model,
                                       window=Window(*ref.window))


def _channel(channel: str) -> str:
    """A channel id becomes a link; a configured name is shown as written."""
    return f"<#{channel}>" if SLACK_CHANNEL_ID.match(channel) else f"#{channel.lstrip('#')}"
