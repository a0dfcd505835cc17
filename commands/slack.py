"""Where /oncall meets Bolt: the slash command, `@oncall ...` in threads, the message shortcut.

Slack does not allow slash commands in threads, so in an alert's thread the same words work by
mentioning the bot; the thread names the incident.
"""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.errors import DomainError
from bot.services import records
from bot.services.records import AmbiguousIncident, Where
from bot.slack.transport.answers import answered, user_text, within_budget
from commands.arguments import strip_bot_mention
from commands.handlers import run
from commands.parsing import ParseError, parse
from commands.picker import (
    PICK_FOR_TIMELINE,
    CopiedMessage,
    pick_for_timeline_modal,
    pick_incident_blocks,
)
from commands.reply import Invocation, Reply

log = logging.getLogger(__name__)
SHORTCUT_ADD_TO_TIMELINE = "timeline.add"
SHORTCUT_SHOW_TIMELINE = "timeline.show"


def register(app: AsyncApp, command_name: str = "/oncall") -> None:
    app.command(command_name)(answered(handle_oncall_command))
    app.event("app_mention")(answered(handle_app_mention))
    app.shortcut(SHORTCUT_ADD_TO_TIMELINE)(answered(handle_add_to_timeline))
    app.shortcut(SHORTCUT_SHOW_TIMELINE)(answered(handle_show_timeline))
    app.view_submission(PICK_FOR_TIMELINE)(answered(handle_timeline_pick_submitted))


async def handle_oncall_command(ack: AsyncAck, command: dict, context: dict,
                                respond: AsyncRespond) -> None:
    """The answer rides on the ack when it is ready within ACK_BUDGET; otherwise the ack says
    "working on it" and the answer follows through the response_url."""
    where = Where(channel_id=command.get("channel_id", ""))
    pending = await within_budget(answer(context, command.get("text", ""), command["user_id"],
                                         where))
    if not pending.done():
        await ack(text=":hourglass_flowing_sand: Working on it…", response_type="ephemeral")
        reply = await pending
        await respond(text=reply.text, blocks=reply.blocks, replace_original=False,
                      response_type="in_channel" if reply.in_channel else "ephemeral")
        return
    reply = pending.result()
    await ack(text=reply.text, blocks=reply.blocks,
              response_type="in_channel" if reply.in_channel else "ephemeral")


async def handle_app_mention(event: dict, body: dict, context: dict,
                             client: AsyncWebClient) -> None:
    """`@oncall ack` in a thread: same words as the command; the answer only to its author.
    Bolt acked the event already; a delivery Slack retried is recognised and dropped."""
    if not await context["first_delivery"](body):
        return
    words = strip_bot_mention(event.get("text", ""), context.get("bot_user_id") or "")
    where = Where(channel_id=event["channel"], thread_ts=event.get("thread_ts"))
    reply = await answer(context, words, event["user"], where)
    await _tell(client, event["channel"], event["user"], reply.text, event.get("thread_ts"))


async def handle_add_to_timeline(ack: AsyncAck, shortcut: dict, context: dict,
                                 client: AsyncWebClient) -> None:
    """Copy a Slack message (text, author, permalink) into the timeline of its incident, or of
    the one the user picks when the message is in no incident's thread."""
    await ack()
    message, channel = shortcut["message"], shortcut["channel"]["id"]
    copied = CopiedMessage(channel=channel, ts=message["ts"], author=message.get("user", ""),
                           text=message.get("text", "")[:1500])
    try:
        incident_id = await records.target_incident(context["services"], None,
                                                     _thread_of(shortcut))
    except AmbiguousIncident:
        actor = await context["actor_for"](shortcut["user"]["id"])
        open_now = await records.open_incidents(context["services"], actor)
        await client.views_open(trigger_id=shortcut["trigger_id"],
                                view=pick_for_timeline_modal(copied, open_now))
        return
    text = await _copy(context, client, shortcut["user"]["id"], incident_id, copied)
    await _tell(client, channel, shortcut["user"]["id"], text)


async def handle_show_timeline(ack: AsyncAck, shortcut: dict, context: dict,
                               respond: AsyncRespond) -> None:
    """The timeline of the incident a message belongs to (the alert or any thread reply),
    shown to the clicker alone, like `/oncall timeline` typed in that thread."""
    await ack()
    reply = await answer(context, "timeline", shortcut["user"]["id"], _thread_of(shortcut))
    await respond(text=reply.text, blocks=reply.blocks, response_type="ephemeral",
                  replace_original=False)


def _thread_of(shortcut: dict) -> Where:
    message = shortcut["message"]
    return Where(channel_id=shortcut["channel"]["id"],
                 thread_ts=message.get("thread_ts") or message.get("ts"))


async def handle_timeline_pick_submitted(ack: AsyncAck, body: dict, view: dict, context: dict,
                                         client: AsyncWebClient) -> None:
    copied = CopiedMessage.model_validate_json(view["private_metadata"])
    picked = view["state"]["values"]["incident"]["value"]["selected_option"]["value"]
    await ack()
    text = await _copy(context, client, body["user"]["id"], int(picked), copied)
    await _tell(client, copied.channel, body["user"]["id"], text)


async def _copy(context: dict, client: AsyncWebClient, user: str, incident_id: int,
                copied: CopiedMessage) -> str:
    try:
        link = await _permalink(client, copied.channel, copied.ts)
        actor = await context["actor_for"](user)
        await records.add_note(context["services"], incident_id, actor, copied.text,
                               kind="slack_message", quoting=copied.author,
                               data={"author": copied.author, "ts": copied.ts, "permalink": link})
    except DomainError as exc:
        return str(exc)
    return f"Added to #{incident_id}'s timeline."


async def _tell(client: AsyncWebClient, channel: str, user: str, text: str,
                thread_ts: str | None = None) -> None:
    """An ephemeral answer after the ack; if Slack refuses it (a channel the bot cannot post
    in), log it: the work is done and an exception here would only confuse Bolt."""
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=text,
                                        thread_ts=thread_ts)
    except SlackApiError as exc:
        log.warning("could not tell %s in %s: %s", user, channel, exc.response.get("error"))


async def _permalink(client: AsyncWebClient, channel: str, ts: str) -> str | None:
    """Best effort: the note is worth keeping even when Slack cannot give a link."""
    try:
        return (await client.chat_getPermalink(channel=channel, message_ts=ts))["permalink"]
    except SlackApiError as exc:
        log.info("no permalink for %s/%s: %s", channel, ts, exc.response.get("error"))
        return None


async def answer(context: dict, text: str, user_id: str, where: Where) -> Reply:
    """Parse, run, and turn every refusal into words; never a stack trace, never silence."""
    try:
        parsed = parse(text, today=await records.local_today(context["services"], where))
        if isinstance(parsed, ParseError):
            return Reply(parsed.as_text())
        actor = await context["actor_for"](user_id)
        return await run(context["services"], parsed, Invocation(actor=actor, where=where))
    except AmbiguousIncident as exc:
        return Reply(str(exc), blocks=pick_incident_blocks(parsed.name, exc))
    except Exception as exc:  # a refusal in its own words, anything else as an error id
        return Reply(user_text(exc))
