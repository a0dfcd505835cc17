"""The storm summary's outbox sender: post it once, update it in place, list in its thread.

One intent renders the whole storm from the database (asks coalesce while it waits), so a
thousand joins make a handful of `chat.update`s. The thread gets each incident once, a few
long replies at a time (`storm.thread_chars` each), never one post per incident.
"""

from __future__ import annotations

from bot.domain.storm import thread_chunks
from bot.services import outbox, storms
from bot.slack.outbox.sender import SlackSender
from bot.slack.storm.blocks import STORM_EVENT_TYPE, summary_message, thread_text
from bot.store.models import OutboxIntent


class StormSender:
    def __init__(self, sender: SlackSender):
        self.sender, self.ctx = sender, sender.ctx

    async def storm_sync(self, intent: OutboxIntent) -> None:
        storm_id = int(intent.payload["storm_id"])
        view = await storms.view(self.ctx, storm_id)
        text, blocks = summary_message(view.summary, view.storm.counts)
        channel_id, ts = view.storm.summary_channel_id, view.storm.summary_ts
        if ts is None:
            channel_id = await self.sender.resolve_channel(view.storm.channel)
            ts = intent.maybe_sent and await self.sender.find_posted(
                channel_id, {"storm_id": storm_id}, event_type=STORM_EVENT_TYPE)
            if not ts:
                response = await self.sender.call(
                    "chat.postMessage", channel=channel_id, text=text, blocks=blocks,
                    unfurl_links=False, metadata={"event_type": STORM_EVENT_TYPE,
                                                  "event_payload": {"storm_id": storm_id}})
                channel_id, ts = response["channel"], response["ts"]
            await storms.summary_posted(self.ctx, storm_id, channel_id, ts)
        else:
            await self.sender.call("chat.update", channel=channel_id, ts=ts, text=text,
                                   blocks=blocks)
        for chunk in thread_chunks(view.unlisted, self.ctx.config.storm.thread_chars):
            await self.sender.call("chat.postMessage", channel=channel_id, thread_ts=ts,
                                   text=thread_text(chunk), unfurl_links=False)
            await storms.mark_listed(self.ctx, storm_id, [e.incident_id for e in chunk])
        await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now())
