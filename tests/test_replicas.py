"""Replicas on one database: transitions decided by compare-and-set, ticks run once, migrations
one after the other, and a dead replica's delivery lease taken over when it expires.

Races on PostgreSQL are made deterministic: a blocker transaction holds the incident's row
lock while both contenders read it and queue on their UPDATE (seen in pg_stat_activity);
PostgreSQL grants the row to the first in the queue, and the second re-checks its WHERE on
the winner's row. On SQLite one process writes at a time (BEGIN IMMEDIATE), so there the
second click simply reads the first one's result.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from bot.config import parse_config
from bot.domain.alerts import Alert, AlertStatus
from bot.domain.errors import NothingToDo
from bot.services import budgets, incidents, outbox, paging
from bot.services.context import ServiceContext
from bot.services.coordination import once_across_replicas
from bot.services.ingest import ingest_alerts
from bot.slack.transport.rate import RateLimiter
from bot.store.db import Database, migrate, sync_engine
from bot.store.models import IncidentRow, OutboxIntent, PageRow, RateBudget, TimelineEvent
from tests.appkit import FakeClock

CONFIG = """
teams:
  platform: {channel: "#platform-oncall", schedule: platform, escalation_policy: standard,
             responders: [U0ALICE001, U0BOBBY002]}
route:
  receiver: platform
  group_by: [alertname]
schedules:
  platform: {time_zone: UTC, start: "2026-11-02 09:00", rotation: weekly,
             members: [U0ALICE001, U0BOBBY002]}
escalation_policies:
  standard: {levels: [{notify: [primary], after: 0m}, {notify: [secondary], after: 5m}]}
"""
ALICE, BOB = "U0ALICE001", "U0BOBBY002"
START = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path) -> str:
    url = (request.getfixturevalue("postgres_url") if request.param == "postgres"
           else f"sqlite:///{tmp_path}/oncall.db")
    migrate(url)
    return url


@pytest.fixture
async def replicas(url):
    """`make()`: one more bot process (its own engine and pool) on the shared database."""
    made: list[ServiceContext] = []
    clock = FakeClock(START)

    def make() -> ServiceContext:
        made.append(ServiceContext(db=Database(url), config=parse_config(CONFIG), clock=clock))
        return made[-1]

    yield make
    for ctx in made:
        await ctx.db.dispose()


def firing(name: str = "ModelDown") -> Alert:
    return Alert(source="alertmanager", status=AlertStatus.FIRING, fingerprint=f"fp-{name}",
                 labels={"alertname": name, "severity": "critical"},
                 starts_at=START - timedelta(minutes=1))


async def rows(ctx: ServiceContext, model, *where) -> list:
    async with ctx.db.reader() as s:
        return list((await s.exec(select(model).where(*where).order_by(col(model.id)))).all())


async def incident_row(ctx: ServiceContext, incident_id: int) -> IncidentRow:
    [row] = await rows(ctx, IncidentRow, IncidentRow.id == incident_id)
    return row


@contextlib.asynccontextmanager
async def row_locked(url: str, incident_id: int):
    """Hold the incident's row lock (PostgreSQL); yields `queued(n)`, which waits until n
    other transactions wait for a lock. The lock is released when the block ends."""
    engine = sync_engine(url)
    conn = engine.connect()
    conn.execute(sa.text("select id from incident where id = :id for update"), {"id": incident_id})
    pid = conn.execute(sa.text("select pg_backend_pid()")).scalar_one()

    async def queued(n: int) -> None:
        for _ in range(400):
            with engine.connect() as probe:
                waiting = probe.execute(sa.text(
                    "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                    "and pid <> :pid"), {"pid": pid}).scalar_one()
            if waiting >= n:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{n} transactions never queued on the row")

    try:
        yield queued
    finally:
        conn.commit()
        conn.close()
        engine.dispose()


async def race(url: str, ctx: ServiceContext, incident_id: int, first, second) -> list:
    """Run two transitions so that both read the same state and `first` wins the row."""
    if ctx.db.dialect != "postgresql":
        return [await _outcome(first()), await _outcome(second())]
    async with row_locked(url, incident_id) as queued:
        one = asyncio.create_task(_outcome(first()))
        await queued(1)
        two = asyncio.create_task(_outcome(second()))
        await queued(2)
    return [await one, await two]


async def _outcome(call):
    try:
        return await call
    except NothingToDo as exc:
        return exc


# -- compare-and-set transitions -----------------------------------------------------------


async def test_resolve_winning_over_escalate_leaves_it_resolved_and_tells_the_escalator(
        replicas, url):
    one, two = replicas(), replicas()
    [incident_id] = (await ingest_alerts(one, [firing()])).opened

    resolved, escalated = await race(url, one, incident_id,
                                     lambda: incidents.resolve(one, incident_id, ALICE),
                                     lambda: incidents.escalate(two, incident_id, BOB))

    assert isinstance(resolved, IncidentRow)
    assert isinstance(escalated, NothingToDo)
    assert str(escalated) == f"#{incident_id} is already resolved (by <@{ALICE}>)."
    row = await incident_row(one, incident_id)
    assert (row.status, row.resolved_by, row.escalation_step, row.version) == (
        "resolved", ALICE, 1, 1)
    kinds = [e.kind for e in await rows(one, TimelineEvent, TimelineEvent.incident_id ==
                                        incident_id)]
    assert "escalated" not in kinds and kinds.count("resolved") == 1
    assert [p.level for p in await rows(one, PageRow)] == [1]  # level 2 never paged


async def test_escalate_winning_over_resolve_pages_once_then_resolves(replicas, url):
    one, two = replicas(), replicas()
    [incident_id] = (await ingest_alerts(one, [firing()])).opened

    escalated, resolved = await race(url, one, incident_id,
                                     lambda: incidents.escalate(two, incident_id, BOB),
                                     lambda: incidents.resolve(one, incident_id, ALICE))

    assert isinstance(escalated, IncidentRow) and isinstance(resolved, IncidentRow)
    row = await incident_row(one, incident_id)
    assert (row.status, row.resolved_by, row.escalation_step, row.next_step_at) == (
        "resolved", ALICE, 2, None)
    assert [p.level for p in await rows(one, PageRow)] == [1, 2]
    kinds = [e.kind for e in await rows(one, TimelineEvent, TimelineEvent.incident_id ==
                                        incident_id)]
    assert kinds.index("escalated") < kinds.index("resolved")


async def test_ack_winning_over_the_escalation_tick_stops_the_next_page(replicas, url):
    one, two = replicas(), replicas()
    [incident_id] = (await ingest_alerts(one, [firing()])).opened
    one.clock.advance(minutes=6)  # level 2 is due

    acked, ticked = await race(url, one, incident_id,
                               lambda: incidents.acknowledge(one, incident_id, ALICE),
                               lambda: paging.tick(two))

    assert isinstance(acked, IncidentRow) and ticked == 0
    row = await incident_row(one, incident_id)
    assert (row.status, row.acked_by, row.escalation_step) == ("acknowledged", ALICE, 1)
    assert [p.level for p in await rows(one, PageRow)] == [1]


async def test_the_escalation_tick_winning_over_ack_pages_then_the_ack_holds(replicas, url):
    one, two = replicas(), replicas()
    [incident_id] = (await ingest_alerts(one, [firing()])).opened
    one.clock.advance(minutes=6)

    ticked, acked = await race(url, one, incident_id, lambda: paging.tick(two),
                               lambda: incidents.acknowledge(one, incident_id, ALICE))

    assert ticked == 1 and isinstance(acked, IncidentRow)
    row = await incident_row(one, incident_id)
    assert (row.status, row.acked_by, row.escalation_step, row.next_step_at) == (
        "acknowledged", ALICE, 2, None)  # no ack_timeout in the policy: nothing more is due
    assert [p.level for p in await rows(one, PageRow)] == [1, 2]


async def test_two_acks_on_two_replicas_one_wins_the_other_is_told_who(replicas, url):
    one, two = replicas(), replicas()
    [incident_id] = (await ingest_alerts(one, [firing()])).opened

    first, second = await race(url, one, incident_id,
                               lambda: incidents.acknowledge(one, incident_id, ALICE),
                               lambda: incidents.acknowledge(two, incident_id, BOB))

    assert isinstance(first, IncidentRow)
    assert str(second) == f"#{incident_id} is already acknowledged by <@{ALICE}>."
    assert len(await rows(one, TimelineEvent, TimelineEvent.kind == "acked")) == 1


async def test_a_refire_reaching_two_replicas_at_once_reopens_and_pages_once(replicas, url):
    one, two = replicas(), replicas()
    [incident_id] = (await ingest_alerts(one, [firing()])).opened
    await incidents.resolve(one, incident_id, ALICE)
    one.clock.advance(minutes=10)
    refire = [firing().model_copy(update={"fingerprint": f"fp-{n}", "starts_at": one.clock.now()})
              for n in (1, 2)]

    results = await race(url, one, incident_id, lambda: ingest_alerts(one, [refire[0]]),
                         lambda: ingest_alerts(two, [refire[1]]))

    assert [r.accepted for r in results] == [1, 1] and [r.opened for r in results] == [[], []]
    row = await incident_row(one, incident_id)
    assert (row.status, row.open_key is not None) == ("triggered", True)
    kinds = [e.kind for e in await rows(one, TimelineEvent, TimelineEvent.incident_id ==
                                        incident_id)]
    assert kinds.count("reopened") == 1 and kinds.count("paged") == 2  # the open, the reopen
    assert len(await rows(one, IncidentRow)) == 1


# -- ticks, migrations, leases ---------------------------------------------------------------


async def test_a_tick_running_on_one_replica_is_skipped_on_the_other(replicas):
    one, two = replicas(), replicas()
    started, release, runs = asyncio.Event(), asyncio.Event(), []

    async def slow(ctx: ServiceContext) -> None:
        runs.append(ctx)
        started.set()
        await release.wait()

    async def quick(ctx: ServiceContext) -> None:
        runs.append(ctx)

    first = asyncio.create_task(once_across_replicas(one, "escalation", slow))
    await started.wait()
    concurrent = await once_across_replicas(two, "escalation", quick)
    other_tick = await once_across_replicas(two, "digests", quick)
    release.set()
    assert await first is True
    after = await once_across_replicas(two, "escalation", quick)

    if one.db.dialect == "postgresql":
        assert (concurrent, other_tick, after) == (False, True, True)
        assert runs == [one, two, two]
    else:  # SQLite: one process, nothing to coordinate
        assert (concurrent, other_tick, after) == (True, True, True)


def test_two_replicas_migrating_at_once_both_come_up(postgres_url):
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [f.result(timeout=120) for f in [pool.submit(migrate, postgres_url)
                                                   for _ in range(2)]]
    assert results == [None, None]
    engine = sync_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select version_num from alembic_version")).all() == [
            (Database(postgres_url).head(),)]
    engine.dispose()


async def test_a_dead_replicas_lane_is_taken_over_when_its_lease_expires(replicas):
    one, two = replicas(), replicas()
    await ingest_alerts(one, [firing()])
    now = one.clock.now()
    claimed = {i.lane: i for i in await outbox.claim(one.db, now)}  # then replica one dies
    lane = "channel:#platform-oncall"
    assert lane in claimed

    assert await outbox.claim(two.db, now + timedelta(seconds=30)) == []
    later = now + outbox.LEASE + timedelta(seconds=1)
    taken = {i.lane: i for i in await outbox.claim(two.db, later)}

    assert taken.keys() == claimed.keys()  # every lane replica one held, none twice
    assert (taken[lane].id, taken[lane].attempts, taken[lane].maybe_sent) == (
        claimed[lane].id, 2, True)
    [row] = await rows(two, OutboxIntent, OutboxIntent.id == claimed[lane].id)
    assert (row.state, row.claimed_until) == ("inflight", later + outbox.LEASE)


# -- Slack's budget, shared ------------------------------------------------------------------


async def test_replicas_spend_one_shared_slack_budget(replicas):
    """Two replicas asking for chat.update at once get the workspace's burst between them,
    not each: the bucket is a row both lock (on SQLite the one process keeps it in memory)."""
    one, two = replicas(), replicas()
    takers = [budgets.shared_taker(one), budgets.shared_taker(two)]
    if one.db.dialect != "postgresql":
        assert takers == [None, None]
        return
    waits = await asyncio.gather(*(takers[n % 2]("update", 50 / 60, 5) for n in range(10)))

    assert sum(1 for wait in waits if wait == 0.0) == 5
    assert all(0 < wait <= 60 / 50 * 6 for wait in waits if wait)
    async with one.db.reader() as s:
        [bucket] = (await s.exec(select(RateBudget))).all()
    assert (bucket.key, bucket.tokens < 1) == ("update", True)


async def test_a_retry_after_given_to_one_replica_holds_back_the_other(replicas):
    """Slack answered replica one's chat.update with 429 and `Retry-After: 3`: replica two's
    next token in that scope comes only then (before, it would have called at once, during
    the Retry-After, as its cooldown was in replica one's memory)."""
    one, two = replicas(), replicas()
    hold, take = budgets.shared_holder(one), budgets.shared_taker(two)
    if one.db.dialect != "postgresql":
        assert (hold, take) == (None, None)
        return
    rate = 50 / 60
    assert await take("update", rate, 5) == 0.0  # a full bucket: the call would go

    await RateLimiter(shared_hold=hold).hold("update", rate, 3.0)

    wait = await take("update", rate, 5)
    assert 2.5 < wait <= 3.0
    assert [await take("post:C0OTHER", 1.0, 2) for _ in range(2)] == [0.0, 0.0]  # not held


async def test_a_shared_limiter_waits_for_the_other_replicas_spending():
    spent: list[str] = []

    async def shared(key: str, rate: float, burst: int) -> float:
        spent.append(key)
        return 0.0 if len(spent) > 2 else 0.01  # the other replica took the tokens: wait

    await RateLimiter(shared=shared).acquire("dnd.info", 50 / 60, 5)

    assert spent == ["dnd.info"] * 3


async def test_webhooks_racing_on_the_same_groups_across_replicas_are_never_503(postgres_url):
    """64 webhooks of 10 alerts over the same 20 groups, 32 at once on each of two replicas
    (the receiver's cap): they wait on each other's rows, and each holds a pooled connection
    meanwhile. The pool fits every admitted webhook, so none times out into a 503 (with
    SQLAlchemy's default pool of 15, some did). PostgreSQL only: SQLite is one process."""
    migrate(postgres_url)
    one, two = (ServiceContext(db=Database(postgres_url), config=parse_config(CONFIG),
                               clock=FakeClock(START)) for _ in range(2))
    start = START - timedelta(minutes=1)

    async def webhook(n: int):
        alerts = [Alert(source="alertmanager", status=AlertStatus.FIRING, fingerprint=f"{n}-{k}",
                        labels={"alertname": f"Group{(n + k) % 20}", "severity": "warning"},
                        starts_at=start) for k in range(10)]
        try:
            return await ingest_alerts((one, two)[n % 2], alerts)
        except Exception as exc:  # DatabaseUnavailable is what the receiver answers 503 for
            return exc

    try:
        results = await asyncio.gather(*(webhook(n) for n in range(64)))

        assert [type(r).__name__ for r in results] == ["IngestResult"] * 64
        assert sum(r.accepted for r in results) == 640 and not any(r.refused for r in results)
        assert len(await rows(one, IncidentRow)) == 20
    finally:
        await one.db.dispose()
        await two.db.dispose()
