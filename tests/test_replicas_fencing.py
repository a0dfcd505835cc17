"""Lease fencing: a replica whose lease expired while its Slack call was slow cannot settle an
intent another replica has claimed since. The claim's `attempts` is the fencing token: a
settle matches only `state = 'inflight' AND attempts = <the token it claimed with>`. And a
429's Retry-After, given to one replica, is waited out by the others too."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.services import budgets, outbox, storms
from bot.services.ingest import ingest_alerts
from bot.store.models import OutboxIntent, SlackMessage, StormRow, TimelineEvent
from tests.appkit import BOT_TOKEN, CHANNELS, BotUnderTest, FakeClock, start_bot
from tests.fakes.slack_api import FakeSlack
from tests.test_faults import alert_in_group, posts_per_incident
from tests.test_replicas import firing, replicas, rows, url  # noqa: F401  (fixtures)

LANE = "channel:#platform-oncall"


async def claimed_twice(replicas):  # noqa: F811
    """Replica one claims the lane's intent and stalls; its lease expires; two claims it."""
    one, two = replicas(), replicas()
    await ingest_alerts(one, [firing()])
    now = one.clock.now()
    [first] = [i for i in await outbox.claim(one.db, now) if i.lane == LANE]
    later = now + outbox.LEASE + timedelta(seconds=1)
    [second] = [i for i in await outbox.claim(two.db, later) if i.lane == LANE]
    return one, two, first, second, later


def posted(intent: OutboxIntent, at) -> SlackMessage:
    return SlackMessage(incident_id=intent.incident_id, kind="alert", channel_id="CPLATFORM1",
                        ts="1.000001", intent_id=intent.id, posted_at=at)


async def test_a_late_settle_after_a_lost_lease_leaves_the_new_owners_state(replicas):  # noqa: F811
    one, two, first, second, later = await claimed_twice(replicas)
    assert (first.id, first.attempts, second.attempts) == (second.id, 1, 2)

    with outbox.holding(first), pytest.raises(outbox.LeaseLost):
        await outbox.complete(one.db, first.id, later, message=posted(first, later),
                              timeline_kind="posted", timeline_text="posted late")

    [row] = await rows(two, OutboxIntent, OutboxIntent.id == second.id)
    assert (row.state, row.attempts, row.claimed_until) == ("inflight", 2, later + outbox.LEASE)
    assert await rows(two, SlackMessage) == []  # the late one's writes were rolled back
    assert await rows(two, TimelineEvent, TimelineEvent.kind == "posted") == []

    with outbox.holding(second):
        await outbox.complete(two.db, second.id, later, message=posted(second, later),
                              timeline_kind="posted", timeline_text="posted")
    for late in (outbox.retry(one.db, first.id, later, timedelta(seconds=1), "timeout", True),
                 _failed(one, first.id, later)):
        with outbox.holding(first), pytest.raises(outbox.LeaseLost):
            await late

    [row] = await rows(two, OutboxIntent, OutboxIntent.id == second.id)
    assert (row.state, row.attempts, row.last_error, row.done_at) == ("done", 2, None, later)
    assert len(await rows(two, SlackMessage)) == 1
    # Nothing is due again: without the fence the late retry would have put it back to pending.
    assert [i.id for i in await outbox.claim(one.db, later + timedelta(hours=1))
            if i.id == second.id] == []


async def _failed(ctx, intent_id: int, now) -> None:
    async with ctx.db.transaction() as s:
        await outbox.mark_failed(s, intent_id, now, "gave up")


async def test_the_new_owner_settles_after_the_late_one_retried_nothing(replicas):  # noqa: F811
    """The late worker timed out on its call and would put the intent back (maybe sent):
    fenced, the new owner's claim stays in flight and its own retry is the one that counts."""
    one, two, first, second, later = await claimed_twice(replicas)
    with outbox.holding(first), pytest.raises(outbox.LeaseLost):
        await outbox.retry(one.db, first.id, later, timedelta(seconds=5), "timeout", True)
    with outbox.holding(second):
        await outbox.retry(two.db, second.id, later, timedelta(seconds=1), "ratelimited", True)
    [row] = await rows(two, OutboxIntent, OutboxIntent.id == second.id)
    assert (row.state, row.last_error, row.due_at) == (
        "pending", "ratelimited", later + timedelta(seconds=1))


async def test_a_replica_slow_past_its_lease_does_not_settle_over_the_new_owner(postgres_url):
    """Two bots on one PostgreSQL: replica one's chat.postMessage reaches Slack but answers
    after the lease (the FakeClock moves past it meanwhile); replica two claims the lane,
    finds the post in the channel's history and settles. One's late answer is fenced off:
    one post, the intent settled once, by its second claim, nothing due again."""
    clock, slack = FakeClock(), FakeSlack(bot_token=BOT_TOKEN)
    for channel_id, name in CHANNELS.items():
        slack.add_channel(channel_id, name)
    await slack.start()
    one = await start_bot(postgres_url, slack=slack, clock=clock)
    two = await start_bot(postgres_url, slack=slack, clock=clock)
    try:
        slack.hang_next("chat.postMessage", seconds=1.5)
        assert (await one.post_alerts(alert_in_group(1)))[0] == 202
        slow = asyncio.create_task(one.parts.worker.run_once())
        await until(lambda: slack.calls_to("chat.postMessage"))
        clock.advance(seconds=outbox.LEASE.total_seconds() + 1)

        await two.drain()
        [owned] = [i for i in await two.intents() if i.kind == outbox.SYNC_MESSAGE]
        assert (owned.state, owned.attempts, owned.maybe_sent) == ("done", 2, True)
        await slow  # the late answer arrives: its settle finds the lease gone

        assert posts_per_incident(slack, "CAIENG0001") == {1: 1}
        [row] = [i for i in await one.intents() if i.id == owned.id]
        assert (row.state, row.attempts, row.done_at) == ("done", 2, owned.done_at)
        assert len(await rows_of(two, SlackMessage)) == 1
        assert "posted" not in await two.timeline_kinds(1)  # the late one's row rolled back
        calls = len(slack.calls)
        await one.drain()
        await two.drain()
        assert len(slack.calls) == calls  # nothing left to deliver twice
    finally:
        for bot in (one, two):
            await bot.close()
        await slack.stop()


async def until(check, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.02)


async def rows_of(bot: BotUnderTest, model) -> list:
    async with bot.parts.db.reader() as s:
        return list((await s.exec(select(model).order_by(col(model.id)))).all())


async def test_a_429_on_one_replica_holds_the_shared_budget_for_the_other(postgres_url):
    """The delivery worker that got Slack's 429 writes its Retry-After into the shared
    bucket: the other replica's next chat.update waits it out instead of calling into it."""
    clock, slack = FakeClock(), FakeSlack(bot_token=BOT_TOKEN)
    for channel_id, name in CHANNELS.items():
        slack.add_channel(channel_id, name)
    await slack.start()
    one = await start_bot(postgres_url, slack=slack, clock=clock)
    try:
        await one.post_alerts(alert_in_group(1))
        await one.drain()
        slack.fail_next("chat.update", status=429, retry_after=3)
        assert await one.click("incident.ack", 1) == 200
        await one.drain()
        assert [c.method for c in slack.calls].count("chat.update") == 1

        take = budgets.shared_taker(one.parts.services)
        rate = one.parts.worker.policy.updates_per_minute / 60
        wait = await take("update", rate, one.parts.worker.policy.burst)
        assert 2.5 < wait <= 3.0
    finally:
        await one.close()
        await slack.stop()


async def test_a_lost_lease_folds_nothing_into_a_storm(replicas):  # noqa: F811
    """Folding a flooded lane settles the claimed intent too: fenced like any settle, so a
    replica whose lease expired cannot fold (and mark done) what another claim now owns."""
    one, two = replicas(), replicas()
    await ingest_alerts(one, [firing(f"Flood{n}") for n in range(8)])  # 8 first posts waiting
    now = one.clock.now()
    [first] = [i for i in await outbox.claim(one.db, now) if i.lane == LANE]
    later = now + outbox.LEASE + timedelta(seconds=1)
    [second] = [i for i in await outbox.claim(two.db, later) if i.lane == LANE]

    with outbox.holding(first), pytest.raises(outbox.LeaseLost):
        await storms.fold_if_flooded(one, first)

    assert await rows(two, StormRow) == []
    [row] = await rows(two, OutboxIntent, OutboxIntent.id == second.id)
    assert (row.state, row.attempts) == ("inflight", 2)
    waiting = await rows(two, OutboxIntent, OutboxIntent.lane == LANE,
                         OutboxIntent.kind == "sync_message", OutboxIntent.state == "pending")
    assert len(waiting) == 7  # the backlog is still there for the owner to post or fold

    with outbox.holding(second):
        assert await storms.fold_if_flooded(two, second)
    assert len(await rows(two, StormRow)) == 1
