"""The outbox sender of digests: post the message, then (for the review) upload its chart.

The figures travel in the intent, so a retry posts what was decided. The post is recorded
before the upload, so a retried upload never posts the message twice; a post or upload whose
outcome is unknown (a timeout) is looked for in Slack before it is repeated.
"""

from __future__ import annotations

import asyncio
from typing import Any

from slack_sdk.models.blocks import Block

from bot.domain.cost_digest import CostDigest
from bot.domain.noise import NoiseReview
from bot.services import lookups, outbox
from bot.services.digests import ALL_TEAMS, NOISE
from bot.slack.digest.blocks import cost_digest_message
from bot.slack.digest.review import noise_review_message, week_label
from bot.slack.outbox.sender import SlackSender
from bot.store.models import OutboxIntent, SlackMessage

DIGEST_MESSAGE = "digest"
DIGEST_EVENT_TYPE = "oncall_digest"


class DigestSender:
    """Uses SlackSender's paced, counted calls; settles the intent once all of it is in Slack."""

    def __init__(self, sender: SlackSender):
        self.sender = sender
        self.ctx = sender.ctx

    async def digest_post(self, intent: OutboxIntent) -> None:
        payload = intent.payload
        channel = await self.sender.resolve_channel(payload["channel"])
        ts = await self._posted(intent, channel)
        if ts is None:
            text, blocks = render(payload)
            response = await self.sender.call(
                "chat.postMessage", channel=channel, text=text, blocks=blocks,
                unfurl_links=False, metadata={"event_type": DIGEST_EVENT_TYPE,
                                              "event_payload": {"intent_id": intent.id}})
            ts = response["ts"]
            await self._remember(intent, response["channel"], ts)
        if payload["digest"] == NOISE:
            await self._upload_chart(intent, channel, ts)
        await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now())

    async def _posted(self, intent: OutboxIntent, channel: str) -> str | None:
        """The ts of this intent's message if an earlier attempt posted it."""
        found = await lookups.message_of_intent(self.ctx, DIGEST_MESSAGE, intent.id)
        if found is not None:
            return found.ts
        if not intent.maybe_sent:
            return None
        ts = await self.sender.find_posted(channel, {"intent_id": intent.id},
                                           event_type=DIGEST_EVENT_TYPE)
        if ts is not None:
            await self._remember(intent, channel, ts)
        return ts

    async def _remember(self, intent: OutboxIntent, channel: str, ts: str) -> None:
        await lookups.remember_message(self.ctx, SlackMessage(
            incident_id=None, kind=DIGEST_MESSAGE,
            recipient=f"{intent.payload['digest']}:{intent.payload['team']}",
            channel_id=channel, ts=ts, intent_id=intent.id, posted_at=self.ctx.clock.now()))

    async def _upload_chart(self, intent: OutboxIntent, channel: str, ts: str) -> None:
        """Pages per day as a PNG in the message's thread (files_upload_v2: files:write)."""
        review = NoiseReview.model_validate(intent.payload["figures"])
        if not review.pages:
            return  # nothing to draw; the message says so
        filename = f"pages-per-day-{review.week_start:%Y-%m-%d}-{intent.id}.png"
        if intent.maybe_sent and await self._in_thread(channel, ts, filename):
            return
        title = f"Pages per day · {intent.payload['team']} · {week_label(review)}"
        png = await asyncio.to_thread(_chart, review, title)
        await self.sender.call("files.upload_v2", channel=channel, thread_ts=ts, content=png,
                               filename=filename, title=title,
                               alt_txt=f"Bar chart of pages per day by team, {title}")

    async def _in_thread(self, channel: str, ts: str, filename: str) -> bool:
        replies = await self.sender.call("conversations.replies", channel=channel, ts=ts,
                                         limit=200)
        return any(file.get("name") == filename for message in replies.get("messages", [])
                   for file in message.get("files") or [])


def render(payload: dict[str, Any]) -> tuple[str, list[Block]]:
    """The message of a digest intent, from the figures it carries."""
    team, on_demand = payload["team"], bool(payload.get("on_demand"))
    team = "all teams" if team == ALL_TEAMS else team
    if payload["digest"] == NOISE:
        return noise_review_message(team, NoiseReview.model_validate(payload["figures"]),
                                    on_demand=on_demand)
    return cost_digest_message(team, CostDigest.model_validate(payload["figures"]),
                               on_demand=on_demand)


def _chart(review: NoiseReview, title: str) -> bytes:
    from bot.slack.digest.charts import pages_per_day_png  # matplotlib: loaded when first needed

    return pages_per_day_png(review.pages_per_day_by_team, title)
