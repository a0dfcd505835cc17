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
from bot.domain.durations import format_duration
from bot.metrics import Metrics
from bot.services import delivery_failures, lookups, outbox
from bot.services.context import ServiceContext
from bot.store.models import OutboxIntent

log = logging.getLogger(__name__)

Sender = Callable[[OutboxIntent], Awaitable[None]]


@dataclass(frozen=True)
class Group:
    """The intents that go to one far side (Slack). After an outage, one answer from it (a
    delivery, or the `probe`) sends every intent that backed off from the outage at once."""

    name: str
    outage_errors: frozenset[str]
    probe: Callable[[], Awaitable[bool]] | None = None


@dataclass(frozen=True)
class DeliveryPolicy:
    """Slack's published limits and our retry pacing, adjustable for tests."""

    # chat.postMessage: ~1 per second per channel; we pace just under it, with a burst of
    # two (Slack allows "short bursts" of unpublished size; a 429 drops it to one).
    post_interval_per_channel: float = 1.05
    post_burst: int = 2
    updates_per_minute: float = 48.0           # chat.update, dnd.info: Tier 3 (50+/min), just under
    burst: int = 5
    base_backoff: float = 1.0
    max_backoff: float = 300.0
    jitter: float = 0.5                        # a retry waits (1 - jitter..1) x its backoff
    history_lookback: int = 100                # messages searched before re-posting
    call_timeout: float = 10.0                 # seconds before a call's outcome is unknown
    idle_poll: float = 1.0
    outage_probe_interval: float = 5.0         # while intents wait out an outage, ask this often


class DeliveryWorker:
    """Owns nothing but the loop: senders do the talking, outbox.* does the bookkeeping."""

    def __init__(self, ctx: ServiceContext, metrics: Metrics, policy: DeliveryPolicy):
        self.ctx, self.metrics, self.policy = ctx, metrics, policy
        self.senders: dict[str, Sender] = {}
        self.groups: dict[str, Group] = {}  # kind -> its group
        self._by_name: dict[str, Group] = {}
        self._kinds: dict[str, set[str]] = {}  # group name -> kinds
        # Groups that may have intents waiting out an outage (after a restart: maybe).
        self._outage: set[str] = set()
        self._last_try: dict[str, float] = {}  # group name -> clock seconds of its last call
        self._wake = asyncio.Event()
        self._stopping = False

    def register(self, kind: str, sender: Sender, group: Group | None = None) -> None:
        self.senders[kind] = sender
        if group is not None:
            self.groups[kind] = self._by_name[group.name] = group
            self._kinds.setdefault(group.name, set()).add(kind)
            self._outage.add(group.name)

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
        await self._probe_outages()
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
        failed = await outbox.failed_by_kind(self.ctx.db)
        for kind in set(self.senders) | set(failed):
            self.metrics.outbox_failed.labels(kind).set(failed.get(kind, 0))

    async def _deliver(self, intent: OutboxIntent) -> None:
        """Deliver under the lease just claimed; a lease lost meanwhile (our call was slower
        than the lease, another replica claimed the intent) leaves the intent to its owner."""
        with outbox.holding(intent):
            try:
                await self._deliver_held(intent)
            except outbox.LeaseLost:
                return  # logged by the outbox; the new owner finishes the intent

    async def _deliver_held(self, intent: OutboxIntent) -> None:
        sender, group = self.senders.get(intent.kind), self.groups.get(intent.kind)
        if group is not None:
            self._last_try[group.name] = self.ctx.clock.now().timestamp()
        try:
            if sender is None:
                raise Undelivered(Outcome(f"no sender for {intent.kind}", fatal=True))
            await sender(intent)
        except Undelivered as exc:
            await self._settle_failure(intent, exc.outcome)
            return
        except outbox.LeaseLost:
            raise
        except Exception as exc:  # a bug in a sender: keep the intent, retry with backoff
            log.exception("intent %s (%s) failed unexpectedly", intent.id, intent.kind)
            await self._settle_failure(intent, Outcome(type(exc).__name__, maybe_sent=True))
            return
        latency = (self.ctx.clock.now() - intent.created_at).total_seconds()
        self.metrics.delivery_latency.labels(intent.kind).observe(max(latency, 0.0))
        if group is not None:
            await self._release(group)

    async def _release(self, group: Group) -> None:
        """The far side is back: what waited out its outage goes now (the success proves it)."""
        if group.name not in self._outage:
            return
        self._outage.discard(group.name)
        released = await outbox.release(self.ctx.db, self.ctx.clock.now(),
                                        self._kinds[group.name], group.outage_errors)
        if released:
            log.info("%s answers again: %d waiting intent(s) released", group.name, released)

    async def _probe_outages(self) -> None:
        """While intents wait out an outage and nothing was tried for a while, ask the far side
        (cheaply, no intent spends an attempt): recovery is noticed within seconds."""
        now = self.ctx.clock.now().timestamp()
        for name in list(self._outage):
            group = self._by_name[name]
            last = self._last_try.get(name)
            if group.probe is None or (
                    last is not None and now - last < self.policy.outage_probe_interval):
                continue
            self._last_try[name] = now
            if not await outbox.waiting_on(self.ctx.db, self.ctx.clock.now(), self._kinds[name],
                                           group.outage_errors):
                self._outage.discard(name)
            elif await group.probe():
                await self._release(group)

    async def _settle_failure(self, intent: OutboxIntent, outcome: Outcome) -> None:
        group = self.groups.get(intent.kind)
        if group is not None and outcome.label in group.outage_errors:
            self._outage.add(group.name)
        error = outcome.label if outcome.fatal else self._cap_reached(intent, outcome.label)
        if error is not None:
            log.warning("intent %s (%s) failed for good: %s", intent.id, intent.kind, error)
            self.metrics.delivery_failed.labels(intent.kind, outcome.label).inc()
            await delivery_failures.record(self.ctx, intent.id, error)
            return
        delay = outcome.delay if outcome.delay is not None else self._backoff(intent.attempts)
        await outbox.retry(self.ctx.db, intent.id, self.ctx.clock.now(),
                           timedelta(seconds=delay), outcome.label,
                           maybe_sent=intent.maybe_sent or outcome.maybe_sent)

    def _cap_reached(self, intent: OutboxIntent, label: str) -> str | None:
        """The error to fail with when a retryable failure has used up its attempts or age."""
        limits = self.ctx.config.delivery
        if intent.attempts >= limits.max_attempts:
            return f"{label} (gave up after {intent.attempts} attempts)"
        age = self.ctx.clock.now() - intent.created_at
        if age >= limits.max_age:
            whole = timedelta(seconds=int(age.total_seconds()))
            return f"{label} (gave up after {format_duration(whole)})"
        return None

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self.policy.max_backoff, self.policy.base_backoff * 2 ** (attempts - 1))
        return ceiling * (1 - self.policy.jitter * random.random())
