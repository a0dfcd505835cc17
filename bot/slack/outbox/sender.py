"""Slack senders for the outbox: render from the database, call Slack, record what was posted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery.outcome import Undelivered
from bot.delivery.worker import DeliveryPolicy
from bot.metrics import Metrics
from bot.services import budgets, lookups, outbox, storms
from bot.services.context import ServiceContext
from bot.slack.action_ids import MESSAGE_METADATA_EVENT_TYPE
from bot.slack.incident.messages import incident_message
from bot.slack.transport.directory import ChannelDirectory
from bot.slack.transport.errors import RateLimitedLocally, classify
from bot.slack.transport.rate import RateLimiter
from bot.store.models import ALERT_MESSAGE, OutboxIntent, SlackMessage

log = logging.getLogger(__name__)


class SlackSender:
    """Every Slack call of the outbox: paced, held back during a Retry-After, counted."""

    def __init__(self, ctx: ServiceContext, client: AsyncWebClient, directory: ChannelDirectory,
                 metrics: Metrics, policy: DeliveryPolicy):
        self.ctx, self.client, self.directory = ctx, client, directory
        self.metrics, self.policy = metrics, policy
        self.limiter = RateLimiter(shared=budgets.shared_taker(ctx),
                                   shared_hold=budgets.shared_holder(ctx))
        self._cooldowns: dict[str, datetime] = {}  # scope -> when Slack's Retry-After ends
        self._call_locks: dict[str, asyncio.Lock] = {}  # scope -> its one call in flight

    async def sync_message(self, intent: OutboxIntent) -> None:
        """Post the incident's message the first time, update it in place afterwards."""
        incident, view, posted = await lookups.view_and_message(self.ctx, intent.incident_id,
                                                                ALERT_MESSAGE)
        if posted is None and intent.maybe_sent:
            posted = await self._find_earlier_post(incident.channel, incident.id, intent)
        if posted is None and await storms.fold_if_flooded(self.ctx, intent):
            return  # the channel is in a storm: its summary names the incident
        text, blocks = incident_message(view)
        if posted is not None:
            await self.call("chat.update", channel=posted.channel_id, ts=posted.ts, text=text,
                            blocks=blocks)
            await self._done(intent, posted)
            return
        channel_id = await self.resolve_channel(incident.channel)
        metadata = {"event_type": MESSAGE_METADATA_EVENT_TYPE,
                    "event_payload": {"incident_id": incident.id, "intent_id": intent.id}}
        response = await self.call("chat.postMessage", channel=channel_id, text=text,
                                   blocks=blocks, metadata=metadata, unfurl_links=False)
        message = SlackMessage(incident_id=incident.id, kind=ALERT_MESSAGE,
                               channel_id=response["channel"], ts=response["ts"],
                               intent_id=intent.id, posted_at=self.ctx.clock.now())
        await self._done(intent, message, timeline_kind="posted",
                         timeline_text=f"posted to <#{response['channel']}>")

    async def _done(self, intent: OutboxIntent, message: SlackMessage | None, **timeline) -> None:
        await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now(), message=message,
                              **timeline)

    async def resolve_channel(self, channel: str) -> str:
        try:
            return await self.directory.resolve(channel)
        except Exception as exc:
            raise Undelivered(classify(exc)) from exc

    async def _find_earlier_post(self, channel: str, incident_id: int,
                                 intent: OutboxIntent) -> SlackMessage | None:
        """chat.postMessage has no idempotency key: look for our metadata before posting again."""
        channel_id = await self.resolve_channel(channel)
        ts = await self.find_posted(channel_id, {"incident_id": incident_id},
                                    event_type=MESSAGE_METADATA_EVENT_TYPE)
        if ts is None:
            return None
        log.info("incident %s was already posted as %s; not posting again", incident_id, ts)
        return SlackMessage(incident_id=incident_id, kind=ALERT_MESSAGE, channel_id=channel_id,
                            ts=ts, intent_id=intent.id, posted_at=self.ctx.clock.now())

    async def find_posted(self, channel_id: str, match: dict[str, Any], *,
                          event_type: str | None = None,
                          thread_ts: str | None = None) -> str | None:
        """The ts of a recent message of ours whose metadata matches, if any: the check made
        before repeating a post whose first attempt may have reached Slack."""
        if thread_ts:
            found = await self.call("conversations.replies", channel=channel_id, ts=thread_ts,
                                    limit=200, include_all_metadata=True)
        else:
            found = await self.call("conversations.history", channel=channel_id,
                                    limit=self.policy.history_lookback,
                                    include_all_metadata=True)
        for message in found.get("messages", []):
            meta = message.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if (event_type in (None, meta.get("event_type"))
                    and all(payload.get(k) == v for k, v in match.items())):
                return message["ts"]
        return None

    async def probe(self) -> bool:
        """Whether Slack answers at all (auth.test): the worker asks during an outage."""
        try:
            await self.call("auth.test")
        except Undelivered:
            return False
        return True

    async def call(self, method: str, **kwargs: Any):
        """One Web API call; failures leave as Undelivered with what to do about them."""
        scope, rate, burst = self._bucket(method, kwargs.get("channel", ""))
        self._respect_cooldown(scope)
        await self.limiter.acquire(scope, rate, burst)
        try:
            async with self._one_at_a_time(scope):
                self._respect_cooldown(scope)  # a 429 may have come while this one waited
                response = await getattr(self.client, method.replace(".", "_"))(**kwargs)
        except Undelivered:
            raise
        except Exception as exc:
            outcome = classify(exc)
            if outcome.label == "ratelimited":
                until = self.ctx.clock.now() + timedelta(seconds=outcome.delay or 1.0)
                self._cooldowns[scope] = until
                self.limiter.slow_down(scope)
                await self.limiter.hold(scope, rate, outcome.delay or 1.0)
            self.metrics.slack_calls.labels(method, outcome.label).inc()
            raise Undelivered(outcome) from exc
        self.metrics.slack_calls.labels(method, "ok").inc()
        return response

    def _one_at_a_time(self, scope: str) -> contextlib.AbstractAsyncContextManager:
        """Calls of a workspace-wide method go one at a time, so a 429 holds back the calls
        behind it (concurrent lanes used to be serialised by SQLite's reader lock, by chance);
        posts, paced per channel, go concurrently."""
        if scope.startswith("post:"):
            return contextlib.nullcontext()
        return self._call_locks.setdefault(scope, asyncio.Lock())

    def _respect_cooldown(self, scope: str) -> None:
        """A 429 on a workspace-wide method holds every lane back, not only the one that hit it."""
        until = self._cooldowns.get(scope)
        if until is None:
            return
        remaining = (until - self.ctx.clock.now()).total_seconds()
        if remaining > 0:
            raise Undelivered(classify(RateLimitedLocally(remaining)))
        del self._cooldowns[scope]

    def _bucket(self, method: str, channel: str) -> tuple[str, float, int]:
        if method == "chat.postMessage":
            return (f"post:{channel}", 1.0 / self.policy.post_interval_per_channel,
                    self.policy.post_burst)
        if method == "chat.update":
            return "update", self.policy.updates_per_minute / 60.0, self.policy.burst
        if method == "dnd.info":  # Tier 3 like chat.update (50 a minute), asked before pages
            return method, self.policy.updates_per_minute / 60.0, self.policy.burst
        return method, 1.0, self.policy.burst
