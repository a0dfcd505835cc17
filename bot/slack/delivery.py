"""The outbox worker: render from the database, call Slack, settle the intent. Never twice."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import Metrics
from bot.services import outbox
from bot.services.context import ServiceContext
from bot.services.views import incident_view
from bot.slack.action_ids import MESSAGE_METADATA_EVENT_TYPE
from bot.slack.blocks import alert_message
from bot.slack.directory import ChannelDirectory
from bot.slack.errors import Outcome, RateLimitedLocally, classify
from bot.slack.rate import RateLimiter
from bot.store import repo
from bot.store.models import OutboxIntent, SlackMessage

log = logging.getLogger(__name__)
ALERT_MESSAGE = "alert"


@dataclass(frozen=True)
class DeliveryPolicy:
    """Slack's published limits, adjustable for tests and for Enterprise Grid."""

    post_interval_per_channel: float = 1.0     # chat.postMessage: ~1 per second per channel
    updates_per_minute: float = 50.0           # chat.update: Tier 3, whole workspace
    burst: int = 5
    base_backoff: float = 1.0
    max_backoff: float = 300.0
    history_lookback: int = 100                # messages searched before re-posting
    call_timeout: float = 10.0                 # seconds before a Slack call's outcome is unknown
    idle_poll: float = 1.0


class DeliveryWorker:
    def __init__(self, ctx: ServiceContext, client: AsyncWebClient, directory: ChannelDirectory,
                 metrics: Metrics, policy: DeliveryPolicy | None = None):
        self.ctx, self.client, self.directory, self.metrics = ctx, client, directory, metrics
        self.policy = policy or DeliveryPolicy()
        self.limiter = RateLimiter()
        self._cooldowns: dict[str, datetime] = {}  # scope -> when Slack's Retry-After ends
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped; wake on new intents or when the next retry is due."""
        while not self._stopping:
            try:
                delivered = await self.run_once()
            except Exception:  # keep delivering: one bad pass must not stop the worker
                log.exception("delivery pass failed")
                delivered = 0
            if delivered == 0:
                await self._sleep()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _sleep(self) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self.policy.idle_poll)

    async def run_once(self) -> int:
        """One pass: claim the head of every ready lane and deliver those concurrently."""
        intents = await outbox.claim(self.ctx.db, self.ctx.clock.now())
        await asyncio.gather(*(self._deliver(intent) for intent in intents))
        await self.refresh_gauges()
        return len(intents)

    async def refresh_gauges(self) -> None:
        count, age = await outbox.depth(self.ctx.db, self.ctx.clock.now())
        self.metrics.outbox_depth.set(count)
        self.metrics.outbox_oldest_age.set(age)

    async def _deliver(self, intent: OutboxIntent) -> None:
        try:
            await self._sync_message(intent)
        except Exception as exc:  # classify() re-raises anything that is not a Slack outcome
            await self._settle_failure(intent, classify(exc))

    async def _settle_failure(self, intent: OutboxIntent, outcome: Outcome) -> None:
        now = self.ctx.clock.now()
        if outcome.fatal:
            log.warning("intent %s failed for good: %s", intent.id, outcome.label)
            self.metrics.delivery_failed.labels(intent.kind, outcome.label).inc()
            await outbox.fail(self.ctx.db, intent.id, now, outcome.label)
            return
        delay = outcome.delay if outcome.delay is not None else self._backoff(intent.attempts)
        await outbox.retry(self.ctx.db, intent.id, now, timedelta(seconds=delay), outcome.label,
                           maybe_sent=intent.maybe_sent or outcome.maybe_sent)

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self.policy.max_backoff, self.policy.base_backoff * 2 ** (attempts - 1))
        return ceiling * (0.5 + random.random() / 2)

    async def _sync_message(self, intent: OutboxIntent) -> None:
        async with self.ctx.db.reader() as s:
            incident = await repo.incident(s, intent.incident_id)
            view = await incident_view(s, incident)
            posted = await repo.slack_message(s, incident.id, ALERT_MESSAGE)
        text, blocks = alert_message(view)
        if posted is None and intent.maybe_sent:
            posted = await self._find_earlier_post(incident.channel, incident.id, intent)
        if posted is not None:
            await self._call("chat.update", channel=posted.channel_id, ts=posted.ts, text=text,
                             blocks=blocks)
            await self._done(intent, posted)
            return
        channel_id = await self.directory.resolve(incident.channel)
        metadata = {"event_type": MESSAGE_METADATA_EVENT_TYPE,
                    "event_payload": {"incident_id": incident.id, "intent_id": intent.id}}
        response = await self._call("chat.postMessage", channel=channel_id, text=text,
                                    blocks=blocks, metadata=metadata, unfurl_links=False)
        message = SlackMessage(incident_id=incident.id, kind=ALERT_MESSAGE,
                               channel_id=response["channel"], ts=response["ts"],
                               intent_id=intent.id, posted_at=self.ctx.clock.now())
        await self._done(intent, message, timeline_kind="posted",
                         timeline_text=f"posted to <#{response['channel']}>")

    async def _done(self, intent: OutboxIntent, message: SlackMessage, **timeline) -> None:
        now = self.ctx.clock.now()
        await outbox.complete(self.ctx.db, intent.id, now, message=message, **timeline)
        latency = (now - intent.created_at).total_seconds()
        self.metrics.delivery_latency.labels(intent.kind).observe(max(latency, 0.0))

    async def _find_earlier_post(self, channel: str, incident_id: int,
                                 intent: OutboxIntent) -> SlackMessage | None:
        """chat.postMessage has no idempotency key: look for our metadata before posting again."""
        channel_id = await self.directory.resolve(channel)
        history = await self._call("conversations.history", channel=channel_id,
                                   limit=self.policy.history_lookback, include_all_metadata=True)
        for message in history.get("messages", []):
            meta = message.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if (meta.get("event_type") == MESSAGE_METADATA_EVENT_TYPE
                    and payload.get("incident_id") == incident_id):
                log.info("incident %s was already posted as %s; not posting again",
                         incident_id, message["ts"])
                return SlackMessage(incident_id=incident_id, kind=ALERT_MESSAGE,
                                    channel_id=channel_id, ts=message["ts"], intent_id=intent.id,
                                    posted_at=self.ctx.clock.now())
        return None

    async def _call(self, method: str, **kwargs):
        """Every Slack call is paced, held back during a Retry-After, and counted by outcome."""
        scope, rate, burst = self._bucket(method, kwargs.get("channel", ""))
        self._respect_cooldown(scope)
        await self.limiter.acquire(scope, rate, burst)
        try:
            call = getattr(self.client, method.replace(".", "_"))
            response = await call(**kwargs)
        except Exception as exc:
            outcome = classify(exc)
            if outcome.label == "ratelimited":
                until = self.ctx.clock.now() + timedelta(seconds=outcome.delay or 1.0)
                self._cooldowns[scope] = until
            self.metrics.slack_calls.labels(method, outcome.label).inc()
            raise
        self.metrics.slack_calls.labels(method, "ok").inc()
        return response

    def _respect_cooldown(self, scope: str) -> None:
        """A 429 on a workspace-wide method holds every lane back, not only the one that hit it."""
        until = self._cooldowns.get(scope)
        if until is None:
            return
        remaining = (until - self.ctx.clock.now()).total_seconds()
        if remaining > 0:
            raise RateLimitedLocally(remaining)
        del self._cooldowns[scope]

    def _bucket(self, method: str, channel: str) -> tuple[str, float, int]:
        if method == "chat.postMessage":
            return f"post:{channel}", 1.0 / self.policy.post_interval_per_channel, self.policy.burst
        if method == "chat.update":
            return "update", self.policy.updates_per_minute / 60.0, self.policy.burst
        return method, 1.0, self.policy.burst
