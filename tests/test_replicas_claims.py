"""Delivery claims on PostgreSQL: replicas claim at once with `FOR UPDATE SKIP LOCKED`, without
waiting for each other, and still never work one lane twice: each lane's oldest intent, once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bot.services import outbox
from bot.store import repo
from bot.store.db import Database, migrate, sync_engine

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
LANES = [f"channel:#lane-{n}" for n in range(8)]
LATER_LANE = LANES[-1]  # its oldest intent is not due yet: nothing of it may go


async def fill(db: Database, per_lane: int = 3) -> dict[str, list[int]]:
    """Intents in every lane, interleaved (ids of a lane are not adjacent), oldest first."""
    ids: dict[str, list[int]] = {lane: [] for lane in LANES}
    async with db.transaction() as s:
        for n in range(per_lane):
            for lane in LANES:
                due = NOW + timedelta(minutes=5) if lane == LATER_LANE and n == 0 else NOW
                ids[lane].append(await repo.enqueue(s, kind="test", lane=lane, at=due))
    return ids


async def settle_all(db: Database, intents) -> None:
    for intent in intents:
        async with db.transaction() as s:
            with outbox.holding(intent):
                await outbox.mark_done(s, intent.id, NOW)


async def test_concurrent_claims_take_each_idle_lanes_oldest_once(postgres_url):
    migrate(postgres_url)
    replicas = [Database(postgres_url) for _ in range(6)]
    try:
        ids = await fill(replicas[0])
        for round_ in range(3):
            claims = await asyncio.gather(*(outbox.claim(db, NOW) for db in replicas))
            taken = [intent for claim in claims for intent in claim]
            lanes = [intent.lane for intent in taken]

            assert len(set(i.id for i in taken)) == len(taken)  # never one intent twice
            assert len(set(lanes)) == len(lanes)  # never two intents of one lane
            assert sorted(i.id for i in taken) == sorted(
                ids[lane][round_] for lane in LANES if lane != LATER_LANE)
            await settle_all(replicas[0], taken)
    finally:
        for db in replicas:
            await db.dispose()


async def test_a_claim_does_not_wait_for_a_lane_another_replica_is_claiming(postgres_url):
    """Another replica is mid-claim on lane 0 (it holds its oldest intent's row lock): this
    claim goes on at once with the other lanes, and leaves lane 0 alone, its oldest and the
    ones behind it. (With one global claim lock, or without SKIP LOCKED, it would wait.)"""
    migrate(postgres_url)
    db = Database(postgres_url)
    engine = sync_engine(postgres_url)
    try:
        ids = await fill(db)
        with engine.connect() as other:
            other.execute(sa.text("select id from outbox_intent where id = :id for update"),
                          {"id": ids[LANES[0]][0]})
            taken = await asyncio.wait_for(outbox.claim(db, NOW), timeout=10)
            other.rollback()

        assert sorted(i.id for i in taken) == sorted(
            ids[lane][0] for lane in LANES[1:-1])
        assert sorted(i.id for i in await outbox.claim(db, NOW)) == [ids[LANES[0]][0]]
    finally:
        await db.dispose()
        engine.dispose()
