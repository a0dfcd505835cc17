"""Services against real databases: the same behaviour on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import parse_config
from bot.domain.alerts import Alert, AlertStatus
from bot.domain.errors import NotAllowed, NothingToDo
from bot.services import incidents, outbox
from bot.services.context import ServiceContext
from bot.services.ingest import ingest_alerts
from bot.store import repo
from bot.store.db import Database, migrate
from tests.appkit import CONFIG, FakeClock

STARTED = datetime(2026, 11, 23, 2, 55, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
async def ctx(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/oncall.db"
    else:
        url = request.getfixturevalue("postgres_url")
    migrate(url)
    db = Database(url)
    yield ServiceContext(db=db, config=parse_config(CONFIG), clock=FakeClock())
    await db.dispose()


def alert(name: str = "FTLHigh", status: AlertStatus = AlertStatus.FIRING, *,
          alert_type: str = "infra", fingerprint: str = "", starts_at: datetime = STARTED,
          **annotations: str) -> Alert:
    return Alert(source="alertmanager", status=status,
                 labels={"alertname": name, "alert_type": alert_type, "severity": "critical"},
                 annotations=annotations, starts_at=starts_at, fingerprint=fingerprint)


async def test_migrations_reach_head(ctx):
    assert await ctx.db.ping()
    assert await ctx.db.at_head()


async def test_ingest_opens_one_incident_per_group_and_dedupes(ctx):
    first = await ingest_alerts(ctx, [alert(fingerprint="a1"), alert(fingerprint="a2")])
    again = await ingest_alerts(ctx, [alert(fingerprint="a1", summary="changed")])

    assert first.new_alerts == 2 and len(first.opened) == 1
    assert again.redeliveries == 1 and again.opened == []
    async with ctx.db.reader() as s:
        [alert_row] = [a for a in await repo.alerts_of_incident(s, first.opened[0])
                       if a.fingerprint == "a1"]
        assert alert_row.annotations == {"summary": "changed"}
        assert alert_row.deliveries == 2


async def test_the_incident_resolves_when_its_last_alert_does(ctx):
    opened = (await ingest_alerts(ctx, [alert(fingerprint="a1"), alert(fingerprint="a2")])).opened
    await ingest_alerts(ctx, [alert(fingerprint="a1", status=AlertStatus.RESOLVED)])
    async with ctx.db.reader() as s:
        assert (await repo.incident(s, opened[0])).status == "triggered"

    await ingest_alerts(ctx, [alert(fingerprint="a2", status=AlertStatus.RESOLVED)])

    async with ctx.db.reader() as s:
        incident = await repo.incident(s, opened[0])
        assert incident.status == "resolved" and incident.open_key is None


async def test_a_refire_more_than_an_hour_after_resolve_opens_a_new_incident(ctx):
    [first] = (await ingest_alerts(ctx, [alert(fingerprint="a1")])).opened
    await incidents.resolve(ctx, first, "U0ADMIN001")
    ctx.clock.advance(hours=2)
    later = STARTED + timedelta(hours=2)

    [second] = (await ingest_alerts(ctx, [alert(fingerprint="a1", starts_at=later)])).opened

    assert second != first


async def test_a_refire_within_an_hour_of_resolve_reopens_the_incident(ctx):
    [first] = (await ingest_alerts(ctx, [alert(fingerprint="a1")])).opened
    await incidents.resolve(ctx, first, "U0ADMIN001")
    ctx.clock.advance(minutes=20)

    result = await ingest_alerts(ctx, [alert(fingerprint="a1",
                                             starts_at=STARTED + timedelta(minutes=20))])

    assert result.opened == []
    async with ctx.db.reader() as s:
        incident = await repo.incident(s, first)
        assert incident.status == "triggered" and incident.reopened_at is not None
        assert "reopened" in [e.kind for e in await repo.timeline_of(s, first)]


async def test_repeats_after_a_manual_resolve_add_one_note_and_page_nobody(ctx):
    [first] = (await ingest_alerts(ctx, [alert(fingerprint="a1")])).opened
    await incidents.resolve(ctx, first, "U0ADMIN001")
    for _ in range(3):
        await ingest_alerts(ctx, [alert(fingerprint="a1")])

    async with ctx.db.reader() as s:
        kinds = [e.kind for e in await repo.timeline_of(s, first)]
        assert (await repo.incident(s, first)).status == "resolved"
    assert kinds.count("still_firing") == 1


async def test_ack_and_resolve_racing_have_one_defined_winner_each(ctx):
    [incident_id] = (await ingest_alerts(ctx, [alert(fingerprint="a1")])).opened

    results = await asyncio.gather(
        *(incidents.acknowledge(ctx, incident_id, "U0PLATFORM1") for _ in range(3)),
        incidents.resolve(ctx, incident_id, "U0ADMIN001"), return_exceptions=True)

    failures = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(f, NothingToDo) for f in failures), failures
    async with ctx.db.reader() as s:
        assert (await repo.incident(s, incident_id)).status == "resolved"
        kinds = [e.kind for e in await repo.timeline_of(s, incident_id)]
    assert kinds.count("resolved") == 1 and kinds.count("acked") <= 1


async def test_a_stranger_is_refused_and_the_refusal_is_on_the_timeline(ctx):
    [incident_id] = (await ingest_alerts(ctx, [alert(fingerprint="a1")])).opened

    with pytest.raises(NotAllowed):
        await incidents.acknowledge(ctx, incident_id, "U0STRANGER1")

    async with ctx.db.reader() as s:
        assert [e.kind for e in await repo.timeline_of(s, incident_id)][-1] == "denied"


async def test_sync_intents_coalesce_while_pending(ctx):
    assert len((await ingest_alerts(ctx, [alert(fingerprint="a1")])).opened) == 1
    for n in range(5):
        await ingest_alerts(ctx, [alert(fingerprint="a1", summary=f"v{n}")])

    count, _ = await outbox.depth(ctx.db, ctx.clock.now())
    assert count == 1


async def test_one_lane_is_claimed_by_one_worker_at_a_time(ctx):
    for n in range(4):  # four incidents in one channel: one lane
        await ingest_alerts(ctx, [alert(f"Alert{n}", fingerprint=f"f{n}")])
    await ingest_alerts(ctx, [alert("Model", alert_type="model", fingerprint="m")])
    now = ctx.clock.now()

    claims = await asyncio.gather(outbox.claim(ctx.db, now), outbox.claim(ctx.db, now))

    lanes = [intent.lane for claim in claims for intent in claim]
    assert sorted(lanes) == ["channel:#ai-eng-oncall", "channel:#platform-oncall"]


async def test_an_expired_lease_is_reclaimed_as_possibly_sent(ctx):
    await ingest_alerts(ctx, [alert(fingerprint="a1")])
    [claimed] = await outbox.claim(ctx.db, ctx.clock.now())
    assert await outbox.claim(ctx.db, ctx.clock.now()) == []

    ctx.clock.advance(seconds=outbox.LEASE.total_seconds() + 1)
    [again] = await outbox.claim(ctx.db, ctx.clock.now())

    assert again.id == claimed.id and again.maybe_sent and again.attempts == 2
