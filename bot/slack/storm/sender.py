"""The storm summary's outbox senders: post it once, edit it in place, list in its thread.

One intent renders the whole storm from the database (asks coalesce while it waits), and edits
are spaced by `storm.update_every`, so a thousand joins make a handful of `chat.update`s. The
thread gets each incident once, a few long replies at a time (`storm.thread_chars` each),
never one post per incident; listing has its own intent, so naming a new incident never
waits for the summary's next edit.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from bot.domain.storm import thread_chunks
from bot.services import outbox, storms
from bot.slack.outbox.sender import SlackSender
from bot.slack.storm.blocks import STORM_EVENT_TYPE, summary_message, thread_text
from bot.store.models import OutboxIntent


class StormSender:
    def __init__(self, sender: SlackSender):
        self.sender, self.ctx = sender, sender.ctx
        # Listing runs from two lanes (the first post, later joins): one at a time per storm,
        # so no incident is listed twice by this process.
        self._listing: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def storm_sync(self, intent: OutboxIntent) -> None:
        """Post the summary the first time (and list what it holds), edit it afterwards."""
        storm_id = int(intent.payload["storm_id"])
        view = await storms.view(self.ctx, storm_id)
        text, blocks = summary_message(view.summary, view.storm.counts)
        if view.storm.summary_ts is None:
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
            await self._list(storm_id, channel_id, ts)
        else:
            await self.sender.call("chat.update", channel=view.storm.summary_channel_id,
                                   ts=view.storm.summary_ts, text=text, blocks=blocks)
            await storms.summary_updated(self.ctx, storm_id)
        await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now())

    async def storm_list(self, intent: OutboxIntent) -> None:
        """Name the storm's new incidents in the summary's thread (before the summary is
        posted there is nothing to do: its first post lists everything it holds)."""
        storm_id = int(intent.payload["storm_id"])
        storm = await storms.storm(self.ctx, storm_id)
        if storm.summary_ts is not None:
            await self._list(storm_id, storm.summary_channel_id, storm.summary_ts)
        await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now())

    async def _list(self, storm_id: int, channel_id: str, ts: str) -> None:
        async with self._listing[storm_id]:
            unlisted = await storms.unlisted(self.ctx, storm_id)
            for chunk in thread_chunks(unlisted, self.ctx.config.storm.thread_chars):
                await self.sender.call("chat.postMessage", channel=channel_id, thread_ts=ts,
                                       text=thread_text(chunk), unfurl_links=False)
                await storms.mark_listed(self.ctx, storm_id, [e.incident_id for e in chunk])
