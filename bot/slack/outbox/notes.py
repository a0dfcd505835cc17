"""Slack senders beyond the incident message: page DMs, thread notes, ephemerals, modal results."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from slack_sdk.models.blocks import SectionBlock
from slack_sdk.models.views import View

from bot.delivery.outcome import Outcome, Undelivered
from bot.services import lookups, outbox, page_outcomes, storms
from bot.slack.incident.blocks import MarkdownTextObject, PlainTextObject
from bot.slack.incident.messages import page_dm
from bot.slack.outbox.sender import SlackSender
from bot.slack.quiet.blocks import quiet_announcement
from bot.store.models import ALERT_MESSAGE, OutboxIntent, SlackMessage

log = logging.getLogger(__name__)
DM_MESSAGE = "dm"
NOTE_MESSAGE, CHANNEL_MESSAGE = "thread_note", "channel_post"
NOTE_EVENT_TYPE = "oncall_note"


class SlackNotes:
    """Uses SlackSender's paced, counted calls; each method settles its intent on success."""

    def __init__(self, sender: SlackSender):
        self.sender = sender
        self.ctx = sender.ctx
        self._dm_channels: dict[str, str] = {}

    async def sync_dm(self, intent: OutboxIntent) -> None:
        """One DM per person and incident, updated in place; a page (again) posts a fresh one
        so it notifies; a re-render never creates one. A page Slack refuses for good is
        recorded by the worker (delivery_failures.record) as a failed page."""
        user = intent.payload["user"]
        incident, view, posted = await lookups.view_and_message(self.ctx, intent.incident_id,
                                                                DM_MESSAGE, recipient=user)
        if posted is None and intent.payload.get("page") is False:
            # A re-render of a DM never posted: the page posts it (or failed, and says so).
            await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now())
            return
        text, blocks = page_dm(view, user)
        if posted is not None and intent.payload.get("page"):
            await self._repage(intent, incident.id, user, posted, text, blocks)
            return
        if posted is not None:
            await self.sender.call("chat.update", channel=posted.channel_id, ts=posted.ts,
                                   text=text, blocks=blocks)
            await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now())
            return
        channel = await self._dm_channel(user)
        if intent.maybe_sent and (found := await self._find(channel, None, intent.id)):
            ts = found
        else:
            await self._check_dnd(incident.id, user)
            response = await self.sender.call(
                "chat.postMessage", channel=channel, text=text, blocks=blocks,
                metadata=_metadata(incident.id, intent.id))
            ts = response["ts"]
        await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now(), message=SlackMessage(
            incident_id=incident.id, kind=DM_MESSAGE, recipient=user, channel_id=channel, ts=ts,
            intent_id=intent.id, posted_at=self.ctx.clock.now()),
            timeline_kind="dm_sent", timeline_text=f"paged <@{user}> by DM")

    async def _repage(self, intent: OutboxIntent, incident_id: int, user: str,
                      posted: SlackMessage, text: str, blocks: list) -> None:
        """Paged again: an edit makes no sound, so post a new DM and keep that one current;
        the old one is pointed at it (best effort)."""
        ts = intent.maybe_sent and await self._find(posted.channel_id, None, intent.id)
        if not ts:
            await self._check_dnd(incident_id, user)
            response = await self.sender.call(
                "chat.postMessage", channel=posted.channel_id, text=f"Paged again. {text}",
                blocks=blocks, metadata=_metadata(incident_id, intent.id))
            ts = response["ts"]
        await page_outcomes.record_repage_dm(self.ctx, intent.id, incident_id, user,
                                             posted.channel_id, ts)
        try:
            await self.sender.call("chat.update", channel=posted.channel_id, ts=posted.ts,
                                   text=f"You were paged again for #{incident_id}: "
                                        "see the newer message below.", blocks=[])
        except Undelivered as exc:
            log.warning("could not point the old page DM at the new one: %s",
                        exc.outcome.label)

    async def _dm_channel(self, user: str) -> str:
        if user not in self._dm_channels:
            response = await self.sender.call("conversations.open", users=user)
            self._dm_channels[user] = response["channel"]["id"]
        return self._dm_channels[user]

    async def _check_dnd(self, incident_id: int, user: str) -> None:
        """A DM does not wake anyone in Do Not Disturb: find out and say so on the message."""
        try:
            info = await self.sender.call("dnd.info", user=user)
        except Undelivered as exc:
            log.warning("dnd.info for %s failed: %s", user, exc.outcome.label)
            return
        until = _dnd_until(info, self.ctx.clock.now())
        if until is not None:
            await page_outcomes.record_dnd(self.ctx, incident_id, user, until)

    async def thread_note(self, intent: OutboxIntent) -> None:
        """A reply in the incident's thread, or a post in another channel."""
        payload = intent.payload
        incident, parent = await lookups.incident_and_message(self.ctx, intent.incident_id,
                                                              ALERT_MESSAGE)
        if payload.get("channel"):
            channel, thread_ts = await self.sender.resolve_channel(payload["channel"]), None
        elif parent is not None:
            channel, thread_ts = parent.channel_id, parent.ts
        elif await storms.member_of(self.ctx, incident.id) is not None:
            await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now())
            return  # folded into a storm: the timeline has it, the channel gets no post
        else:
            channel, thread_ts = await self.sender.resolve_channel(incident.channel), None
        ts = intent.maybe_sent and await self._find(channel, thread_ts, intent.id)
        if not ts:
            response = await self.sender.call(
                "chat.postMessage", channel=channel, thread_ts=thread_ts, text=payload["text"],
                reply_broadcast=payload.get("broadcast"),
                metadata=_metadata(incident.id, intent.id, NOTE_EVENT_TYPE))
            ts = response["ts"]
        await self._record(intent, NOTE_MESSAGE, channel, ts, thread_ts)

    async def _record(self, intent: OutboxIntent, kind: str, channel: str, ts: str,
                      thread_ts: str | None = None) -> None:
        """Every message the bot posts is recorded, so it can be found and updated later."""
        await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now(), message=SlackMessage(
            incident_id=intent.incident_id, kind=kind, recipient=f"intent:{intent.id}",
            channel_id=channel, ts=ts, thread_ts=thread_ts, intent_id=intent.id,
            posted_at=self.ctx.clock.now()))

    async def channel_post(self, intent: OutboxIntent) -> None:
        """A post of its own in a channel (a rotation handoff), found again before re-posting."""
        channel = await self.sender.resolve_channel(intent.payload["channel"])
        ts = intent.maybe_sent and await self._find(channel, None, intent.id)
        if not ts:
            text, blocks = intent.payload["text"], None
            if "quiet" in intent.payload:  # a silence or maintenance, with its End now button
                text, blocks = quiet_announcement(intent.payload["quiet"])
            response = await self.sender.call(
                "chat.postMessage", channel=channel, text=text, blocks=blocks,
                metadata=_metadata(0, intent.id, NOTE_EVENT_TYPE))
            ts = response["ts"]
        await self._record(intent, CHANNEL_MESSAGE, channel, ts)

    async def test_dm(self, intent: OutboxIntent) -> None:
        """A test page by DM, saying whether Do Not Disturb would have silenced a real one."""
        user, by = intent.payload["user"], intent.payload["by"]
        channel = await self._dm_channel(user)
        if intent.maybe_sent and await self._find(channel, None, intent.id):
            await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now())
            return
        try:
            until = _dnd_until(await self.sender.call("dnd.info", user=user), self.ctx.clock.now())
        except Undelivered:
            until = None
        dnd = (f" You are in Do Not Disturb until {until:%H:%M} UTC, so a real page would "
               "not make a sound: check your notification settings." if until else "")
        await self.sender.call("chat.postMessage", channel=channel,
                               text=f":pager: Test page from oncall-bot, requested by <@{by}>. "
                                    f"If this reached you, Slack paging works.{dnd}",
                               metadata=_metadata(0, intent.id, NOTE_EVENT_TYPE))
        await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now())

    async def file_upload(self, intent: OutboxIntent) -> None:
        """A file in the incident's thread (a postmortem draft)."""
        payload = intent.payload
        parent = await lookups.posted_message(self.ctx, intent.incident_id, ALERT_MESSAGE)
        if parent is None:
            raise Undelivered(Outcome("the incident message is not posted yet"))
        if not (intent.maybe_sent and await self._uploaded_before(intent, parent)):
            await self.sender.call("files.upload_v2", channel=parent.channel_id,
                                   thread_ts=parent.ts, content=payload["content"],
                                   filename=payload["filename"], title=payload["title"])
        await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now())

    async def _uploaded_before(self, intent: OutboxIntent, parent: SlackMessage) -> bool:
        """Whether a timed-out upload landed: the thread holds more files of this name than
        the uploads of it already settled (a file carries no metadata to match on)."""
        name = intent.payload["filename"]
        replies = await self.sender.call("conversations.replies", channel=parent.channel_id,
                                         ts=parent.ts, limit=200)
        in_thread = sum(1 for message in replies.get("messages", [])
                        for file in message.get("files") or [] if file.get("name") == name)
        settled = await outbox.done_of(self.ctx.db, intent.incident_id, intent.kind)
        return in_thread > sum(1 for done in settled if done.payload.get("filename") == name)

    async def ephemeral(self, intent: OutboxIntent) -> None:
        incident, parent = await lookups.incident_and_message(self.ctx, intent.incident_id,
                                                              ALERT_MESSAGE)
        channel = (parent.channel_id if parent
                   else await self.sender.resolve_channel(incident.channel))
        await self.sender.call("chat.postEphemeral", channel=channel,
                               user=intent.payload["user"], text=intent.payload["text"])
        await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now())

    async def view_update(self, intent: OutboxIntent) -> None:
        """Best effort: a modal closed meanwhile is not worth retrying."""
        payload = intent.payload
        view = View(type="modal", title=PlainTextObject(text=payload["title"][:24]),
                    close=PlainTextObject(text="Close"),
                    blocks=[SectionBlock(text=MarkdownTextObject(text=payload["text"][:3000]))])
        try:
            await self.sender.call("views.update", view_id=payload["view_id"], view=view)
        except Undelivered as exc:
            raise Undelivered(Outcome(exc.outcome.label, fatal=True)) from exc
        await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now())

    async def _find(self, channel: str, thread_ts: str | None, intent_id: int) -> str | None:
        """The ts of a message this intent already posted, from its metadata, if any."""
        return await self.sender.find_posted(channel, {"intent_id": intent_id},
                                             thread_ts=thread_ts)


def _metadata(incident_id: int, intent_id: int, event_type: str = "oncall_page") -> dict:
    return {"event_type": event_type,
            "event_payload": {"incident_id": incident_id, "intent_id": intent_id}}


def _dnd_until(info: dict, now: datetime) -> datetime | None:
    """The end of the user's current Do Not Disturb (scheduled or snoozed), if in it now."""
    ts = now.timestamp()
    ends = []
    if info.get("dnd_enabled") and info.get("next_dnd_start_ts", 0) <= ts < info.get(
            "next_dnd_end_ts", 0):
        ends.append(info["next_dnd_end_ts"])
    if info.get("snooze_enabled") and info.get("snooze_endtime", 0) > ts:
        ends.append(info["snooze_endtime"])
    return datetime.fromtimestamp(max(ends), UTC) if ends else None
