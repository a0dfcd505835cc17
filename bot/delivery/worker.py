"""The outbox worker: claim due intents lane by lane, hand each to its sender, settle it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.delivery.outcome import Outcome, Undelivered
from bot.metrics import Metrics
from bot.services import lookups, outbox
from bot.services.context import ServiceContext
from bot.store.models import OutboxIntent

log = logging.getLogger(__name__)

Sender = Callable[[OutboxIntent], Awaitable[None]]


@dataclass(frozen=True)
class DeliveryPolicy:
    """Slack's published limits and our retry pacing, adjustable for tests."""

    post_interval_per_channel: float = 1.0     # chat.postMessage: ~1 per second per channel
    updates_per_minute: float = 50.0           # chat.update: Tier 3, whole workspace
    burst: int = 5
    base_backoff: float = 1.0
    max_backoff: float = 300.0
    history_lookback: int = 100                # messages searched before re-posting
    call_timeout: float = 10.0                 # seconds before a call's outcome is unknown
    idle_poll: float = 1.0


class DeliveryWorker:
    """Owns nothing but the loop: senders do the talking, outbox.* does the bookkeeping."""

    def __init__(self, ctx: ServiceContext, metrics: Metrics, policy: DeliveryPolicy):
        self.ctx, self.metrics, self.policy = ctx, metrics, policy
        self.senders: dict[str, Sender] = {}
        self._wake = asyncio.Event()
        self._stopping = False

    def register(self, kind: str, sender: Sender) -> None:
        self.senders[kind] = sender

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
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

    async def deliver_now(self, ids: list[int], deadline_seconds: float) -> list[OutboxIntent]:
        """Deliver until these intents are done or failed (or time is up): for CLI commands
        that send something now and report what happened to each part."""
        deadline = time.monotonic() + deadline_seconds
        while True:
            await self.run_once()
            intents = await lookups.intents(self.ctx, ids)
            settled = all(i.state in ("done", "failed") for i in intents)
            if settled or time.monotonic() > deadline:
                return intents
            await asyncio.sleep(0.5)

    async def refresh_gauges(self) -> None:
        count, age = await outbox.depth(self.ctx.db, self.ctx.clock.now())
        self.metrics.outbox_depth.set(count)
        self.metrics.outbox_oldest_age.set(age)

    async def _deliver(self, intent: OutboxIntent) -> None:
        sender = self.senders.get(intent.kind)
        try:
            if sender is None:
                raise Undelivered(Outcome(f"no sender for {intent.kind}", fatal=True))
            await sender(intent)
        except Undelivered as exc:
            await self._settle_failure(intent, exc.outcome)
            return
        except Exception as exc:  # a bug in a sender: keep the intent, retry with backoff
            log.exception("intent %s (%s) failed unexpectedly", intent.id, intent.kind)
            await self._settle_failure(intent, Outcome(type(exc).__name__, maybe_sent=True))
            return
        latency = (self.ctx.clock.now() - intent.created_at).total_seconds()
        self.metrics.delivery_latency.labels(intent.kind).observe(max(latency, 0.0))

    async def _settle_failure(self, intent: OutboxIntent, outcome: Outcome) -> None:
        now = self.ctx.clock.now()
        if outcome.fatal:
            log.warning("intent %s (%s) failed for good: %s", intent.id, intent.kind,
                        outcome.label)
            self.metrics.delivery_failed.labels(intent.kind, outcome.label).inc()
            await outbox.fail(self.ctx.db, intent.id, now, outcome.label)
            return
        delay = outcome.delay if outcome.delay is not None else self._backoff(intent.attempts)
        await outbox.retry(self.ctx.db, intent.id, now, timedelta(seconds=delay), outcome.label,
                           maybe_sent=intent.maybe_sent or outcome.maybe_sent)

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self.policy.max_backoff, self.policy.base_backoff * 2 ** (attempts - 1))
        return ceiling * (0.5 + random.random() / 2)
