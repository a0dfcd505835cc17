"""Compare-and-set where a replica settles what it read earlier: an incident resolved at the
source, and a handoff webhook's answer. Of two writers racing, one wins; the other leaves the
incident as the winner left it (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.config import parse_config
from bot.domain.alerts import AlertStatus
from bot.services import handoff, incidents
from bot.services.context import ServiceContext
from bot.services.ingest import ingest_alerts
from bot.services.ingest_routing import resolve_at_source
from bot.store import repo
from bot.store.db import Database
from bot.store.models import IncidentRow, OutboxIntent, TimelineEvent
from tests.appkit import FakeClock
from tests.test_replicas import (  # noqa: F401  (url is a fixture)
    ALICE,
    BOB,
    CONFIG,
    START,
    firing,
    incident_row,
    race,
    rows,
    url,
)

HANDOFF = CONFIG + """
handoff:
  voice-agent:
    webhook: {url: "http://127.0.0.1:9/handoff", secret_env: TEST_HANDOFF_SECRET}
    notify: {channel: "#support-humans"}
"""


@pytest.fixture
async def replicas(url, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TEST_HANDOFF_SECRET", "s3cret")
    made: list[ServiceContext] = []
    clock = FakeClock(START)

    def make() -> ServiceContext:
        made.append(ServiceContext(db=Database(url), config=parse_config(HANDOFF), clock=clock))
        return made[-1]

    yield make
    for ctx in made:
        await ctx.db.dispose()


async def kinds(ctx: ServiceContext, incident_id: int) -> list[str]:
    return [e.kind for e in await rows(ctx, TimelineEvent,
                                       TimelineEvent.incident_id == incident_id)]


async def test_resolving_at_the_source_after_an_ack_since_the_read_leaves_it_acked(replicas):
    """The ingest read the incident triggered; an Ack (another replica) commits before its
    resolve: the resolve at the source updates nothing and the Ack stands."""
    one = replicas()
    [incident_id] = (await ingest_alerts(one, [firing()])).opened
    async with one.db.transaction() as s:
        incident = await s.get(IncidentRow, incident_id)  # read: triggered
        await s.exec(update(IncidentRow).where(IncidentRow.id == incident_id).values(
            status="acknowledged", acked_by=ALICE, version=IncidentRow.version + 1)
            .execution_options(synchronize_session=False))  # the other replica's Ack

        assert await resolve_at_source(s, incident, one.clock.now()) is False
        assert (incident.status, incident.acked_by) == ("acknowledged", ALICE)

    row = await incident_row(one, incident_id)
    assert (row.status, row.acked_by, row.resolved_at, row.version) == (
        "acknowledged", ALICE, None, 1)
    assert "resolved" not in await kinds(one, incident_id)


async def test_a_manual_resolve_racing_the_source_resolve_is_resolved_once_by_the_person(
        replicas, url):  # noqa: F811
    one, two = replicas(), replicas()
    [incident_id] = (await ingest_alerts(one, [firing()])).opened
    one.clock.advance(minutes=1)
    cleared = firing().model_copy(update={"status": AlertStatus.RESOLVED,
                                          "ends_at": one.clock.now()})

    await race(url, one, incident_id, lambda: incidents.resolve(one, incident_id, ALICE),
               lambda: ingest_alerts(two, [cleared]))

    row = await incident_row(one, incident_id)
    assert (row.status, row.resolved_by) == ("resolved", ALICE)
    assert (await kinds(one, incident_id)).count("resolved") == 1


async def inflight_intent(ctx: ServiceContext, incident_id: int) -> int:
    async with ctx.db.transaction() as s:
        intent_id = await repo.enqueue(s, kind="handoff_webhook", lane="handoff:voice-agent",
                                       at=ctx.clock.now(), incident_id=incident_id)
        await repo.set_where(s, OutboxIntent, [OutboxIntent.id == intent_id],
                             {"state": "inflight", "attempts": 1,
                              "claimed_until": ctx.clock.now() + timedelta(minutes=1)})
    return intent_id


async def test_two_handoff_answers_settled_at_once_switch_the_incident_once(replicas, url):  # noqa: F811
    """Alice and Bob both asked to route to humans; the receiver said yes to both, and the
    two answers are settled on two replicas at once: one switch, one timeline row."""
    one, two = replicas(), replicas()
    alert = firing().model_copy(update={"labels": {**firing().labels,
                                                   "service": "voice-agent"}})
    [incident_id] = (await ingest_alerts(one, [alert])).opened
    answers = [({"mode": "humans", "actor": who, "incident_id": incident_id, "reason": ""},
                await inflight_intent(one, incident_id)) for who in (ALICE, BOB)]

    await race(url, one, incident_id, lambda: handoff.succeeded(one, *answers[0]),
               lambda: handoff.succeeded(two, *answers[1]))

    row = await incident_row(one, incident_id)
    assert (row.humans_mode, row.humans_by, row.version) == (True, ALICE, 1)
    assert (await kinds(one, incident_id)).count("routed_to_humans") == 1
    settled = await rows(one, OutboxIntent, OutboxIntent.id.in_([i for _, i in answers]))
    assert [i.state for i in settled] == ["done", "done"]


async def test_a_handoff_failure_settled_after_a_switch_does_not_show_an_error(replicas, url):  # noqa: F811
    """A retried request's failure, settled (with the incident read before) after another
    request switched the workflow: the switch stands, without a stale error on it."""
    one, two = replicas(), replicas()
    alert = firing().model_copy(update={"labels": {**firing().labels,
                                                   "service": "voice-agent"}})
    [incident_id] = (await ingest_alerts(one, [alert])).opened
    ok = ({"mode": "humans", "actor": ALICE, "incident_id": incident_id, "reason": ""},
          await inflight_intent(one, incident_id))
    failing = {"mode": "humans", "actor": BOB, "incident_id": incident_id}

    await race(url, one, incident_id, lambda: handoff.succeeded(one, *ok),
               lambda: handoff.failed(two, failing, "HTTP 502", final=False))

    row = await incident_row(one, incident_id)
    assert (row.humans_mode, row.humans_by, row.handoff_error) == (True, ALICE, None)
