"""Digest services on SQLite and PostgreSQL: cost items, spikes that page, windows sent once,
and the noise review's figures read from what the database recorded."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from sqlmodel import col, select

from bot.config import ConfigError, parse_config
from bot.domain.alerts import Alert, AlertStatus
from bot.services import digests, incidents
from bot.services.context import ServiceContext
from bot.services.ingest import ingest_alerts
from bot.services.install import record_start
from bot.store import install
from bot.store.db import Database, alembic_config, migrate
from bot.store.models import DigestItemRow, DigestRun, IncidentRow, OutboxIntent
from tests.appkit import FakeClock

CONFIG = """
teams:
  platform: {channel: "#platform-oncall", schedule: platform, escalation_policy: standard,
             time_zone: Europe/Berlin}
  finops: {channel: "#finops"}
route:
  receiver: platform
  group_by: [alertname]
  routes:
    - {matchers: ['alert_type="cost"'], receiver: finops, digest: hourly}
schedules:
  platform: {time_zone: Europe/Berlin, start: "2026-11-02 09:00", rotation: weekly,
             members: [U0ALICE001, U0BOBBY002]}
escalation_policies:
  standard: {levels: [{notify: [primary], after: 0m}]}
digests:
  noise: {schedule: "0 9 * * 1", time_zone: Europe/Berlin}
"""
POST_EMPTY = CONFIG.replace('noise: {schedule: "0 9 * * 1", time_zone: Europe/Berlin}',
                            'noise: {schedule: "0 9 * * 1", time_zone: Europe/Berlin, '
                            'post_empty: true}')
ALICE = "U0ALICE001"
MONDAY = datetime(2026, 11, 16, 10, 5, tzinfo=UTC)  # Monday 11:05 in Berlin


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path) -> str:
    url = (request.getfixturevalue("postgres_url") if request.param == "postgres"
           else f"sqlite:///{tmp_path}/oncall.db")
    migrate(url)
    return url


@pytest.fixture
async def contexts(url):
    """`make(clock)`: a bot process on the database; several may run at once (replicas)."""
    made: list[ServiceContext] = []

    def make(clock: FakeClock, config: str = CONFIG) -> ServiceContext:
        made.append(ServiceContext(db=Database(url), config=parse_config(config), clock=clock))
        return made[-1]

    yield make
    for ctx in made:
        await ctx.db.dispose()


def cost(value: str, *, fingerprint: str = "c1", service: str = "chat-agent",
         status: AlertStatus = AlertStatus.FIRING, **annotations: str) -> Alert:
    return Alert(source="alertmanager", status=status, fingerprint=fingerprint,
                 labels={"alertname": "LLMCostSpike", "alert_type": "cost", "model": "gpt-4o",
                         "service": service, "severity": "warning"},
                 annotations={"value": value, "baseline": "100", **annotations},
                 starts_at=MONDAY - timedelta(minutes=3))


def page(name: str, starts_at: datetime, status: AlertStatus = AlertStatus.FIRING) -> Alert:
    return Alert(source="alertmanager", status=status, fingerprint=f"{name}-{starts_at:%d%H}",
                 labels={"alertname": name, "severity": "critical"}, starts_at=starts_at)


async def rows(ctx: ServiceContext, model, *where) -> list:
    async with ctx.db.reader() as s:
        return list((await s.exec(select(model).where(*where).order_by(col(model.id)))).all())


async def digest_posts(ctx: ServiceContext) -> list[OutboxIntent]:
    return await rows(ctx, OutboxIntent, OutboxIntent.kind == digests.DIGEST_POST)


# -- cost alerts --------------------------------------------------------------------------


async def test_a_cost_alert_is_held_and_pages_only_when_its_ratio_crosses_the_line(contexts):
    ctx = contexts(FakeClock(MONDAY))
    first = await ingest_alerts(ctx, [cost("300")])
    [item] = await rows(ctx, DigestItemRow)
    assert first.digested == 1 and first.opened == []
    assert (item.ratio, item.flagged, item.paged_at, item.fired_at) == (3.0, False, None, MONDAY)

    ctx.clock.advance(minutes=5)
    grown = await ingest_alerts(ctx, [cost("800")])
    ctx.clock.advance(minutes=5)
    again = await ingest_alerts(ctx, [cost("900")])

    [incident] = await rows(ctx, IncidentRow)
    [item] = await rows(ctx, DigestItemRow)
    assert grown.opened == [incident.id] and again.opened == []
    assert (incident.team, incident.action, incident.status) == ("finops", "page", "triggered")
    assert any("ratio 8.0x reached page_if_ratio_at_least 5" in reason
               for reason in incident.rationale["reasons"])
    assert (item.ratio, item.paged_at, item.fired_at) == (9.0, MONDAY + timedelta(minutes=5),
                                                          MONDAY)


async def test_an_alert_without_figures_is_digested_and_flagged(contexts):
    ctx = contexts(FakeClock(MONDAY))
    await ingest_alerts(ctx, [cost("", baseline="")])
    await ingest_alerts(ctx, [cost("", baseline="", ratio="lots")])

    [item] = await rows(ctx, DigestItemRow)
    assert item.flagged and item.ratio is None and "not a number" in item.reason
    assert await rows(ctx, IncidentRow) == []


# -- each window once ---------------------------------------------------------------------


async def test_each_cost_window_is_sent_once_across_restarts_and_late_ticks(contexts):
    clock = FakeClock(MONDAY)
    first = contexts(clock)
    await ingest_alerts(first, [cost("300")])
    for moment, expected in ((11, 0), (61, 0), (62, 1), (63, 0)):  # minutes after 10:00
        clock.current = MONDAY.replace(minute=0) + timedelta(minutes=moment)
        assert await digests.cost_tick(first) == expected, moment
    await first.db.dispose()

    restarted = contexts(clock)  # a new process on the same database
    clock.advance(minutes=20)
    assert await digests.cost_tick(restarted) == 0
    clock.current = MONDAY.replace(hour=11, minute=40)
    await ingest_alerts(restarted, [cost("200", fingerprint="c2")])
    clock.current = MONDAY.replace(hour=14, minute=10)  # down for two hours: late, not lost
    assert await digests.cost_tick(contexts(clock)) == 1

    runs = await rows(restarted, DigestRun)
    assert [(r.kind, r.team, r.window_start.hour) for r in runs] == [("cost", "finops", 10),
                                                                      ("cost", "finops", 11)]
    posts = await digest_posts(restarted)
    assert [p.id for p in posts] == [r.intent_id for r in runs]
    assert posts[0].payload["figures"]["lines"][0]["ratio"] == 3.0


async def test_two_replicas_ticking_together_send_each_window_once(contexts):
    clock = FakeClock(MONDAY)
    one, two = contexts(clock, POST_EMPTY), contexts(clock, POST_EMPTY)
    await record_start(one)
    await ingest_alerts(one, [cost("300")])
    clock.advance(hours=1)
    await ingest_alerts(two, [cost("700", fingerprint="c2", service="voice-agent")])
    clock.current = MONDAY.replace(hour=12, minute=3)
    cost_sent = await asyncio.gather(*(digests.cost_tick(ctx) for ctx in (one, two, one, two)))
    clock.current = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
    noise_sent = await asyncio.gather(*(digests.noise_tick(ctx) for ctx in (one, two, one, two)))

    assert sum(cost_sent) == 2 and sum(noise_sent) == 2  # two hours; two teams
    runs = await rows(one, DigestRun)
    assert sorted((r.kind, r.team) for r in runs) == [("cost", "finops"), ("cost", "finops"),
                                                      ("noise", "finops"), ("noise", "platform")]
    assert len(await digest_posts(one)) == 4


async def test_an_empty_hour_sends_nothing_and_on_demand_claims_nothing(contexts):
    clock = FakeClock(MONDAY)
    ctx = contexts(clock)
    await ingest_alerts(ctx, [cost("300")])
    assert list(await digests.cost_digests_now(ctx)) == ["finops"]
    assert len(await digests.send_cost_digests_now(ctx)) == 1
    assert len(await digests.send_noise_reviews_now(ctx, "platform")) == 1
    assert await rows(ctx, DigestRun) == []

    clock.current = MONDAY.replace(hour=11, minute=2)
    assert await digests.cost_tick(ctx) == 1  # the scheduled window still goes out
    clock.current = MONDAY.replace(hour=12, minute=2)
    assert await digests.cost_tick(ctx) == 0  # 11:00-12:00 had nothing
    assert [p.payload["on_demand"] for p in await digest_posts(ctx)] == [True, True, False]


# -- the noise review ---------------------------------------------------------------------


async def a_week_of_pages(ctx: ServiceContext) -> None:
    """Tue 03:00 Berlin: paged, acked after 5 min, resolved at the source after 30 min.
    Wed 11:00 Berlin: paged, gone at the source after 2 min before anyone acked."""
    night = datetime(2026, 11, 17, 2, tzinfo=UTC)
    ctx.clock.current = night
    [first] = (await ingest_alerts(ctx, [page("DiskFull", night)])).opened
    ctx.clock.advance(minutes=5)
    await incidents.acknowledge(ctx, first, ALICE)
    ctx.clock.advance(minutes=25)
    await ingest_alerts(ctx, [page("DiskFull", night, AlertStatus.RESOLVED)])
    day = datetime(2026, 11, 18, 10, tzinfo=UTC)
    ctx.clock.current = day
    await ingest_alerts(ctx, [page("DiskFull", day)])
    ctx.clock.advance(minutes=2)
    await ingest_alerts(ctx, [page("DiskFull", day, AlertStatus.RESOLVED)])


async def test_the_review_counts_what_the_database_recorded(contexts):
    ctx = contexts(FakeClock(MONDAY))
    await a_week_of_pages(ctx)
    ctx.clock.current = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)

    review = (await digests.noise_reviews_now(ctx, "platform"))["platform"]

    assert (review.week_start, review.week_end) == (datetime(2026, 11, 15, 23, tzinfo=UTC),
                                                    datetime(2026, 11, 22, 23, tzinfo=UTC))
    [rule] = review.rules
    assert (rule.alertname, rule.fired, rule.incidents, rule.paged, rule.pages, rule.acked) == (
        "DiskFull", 2, 2, 2, 2, 1)
    assert (rule.ack_rate, rule.auto_resolved_before_ack, rule.pages_out_of_hours) == (0.5, 1, 1)
    assert rule.time_to_ack_seconds.model_dump() == {"count": 1, "median": 300.0, "p90": 300.0}
    assert rule.duration_seconds.model_dump() == {"count": 2, "median": 960.0, "p90": 1800.0}
    health = review.health
    assert health.pages_per_person == {ALICE: 2} and health.pages_per_rotation == {"platform": 2}
    assert health.after_hours_pages == 1 and health.open_action_items == 0
    assert review.pages_per_day_by_team.teams == {"platform": [0, 1, 1, 0, 0, 0, 0]}


async def test_the_review_lists_open_and_overdue_action_items(contexts):
    from bot.services.followups import add_action, mark_done

    ctx = contexts(FakeClock(MONDAY))
    await add_action(ctx, "U0OWNER001", "add for: 5m to DiskFull", date(2026, 11, 20), None,
                     ALICE)
    await add_action(ctx, "U0OWNER001", "write the runbook", date(2026, 12, 20), None, ALICE)
    done = await add_action(ctx, "U0OWNER001", "done already", None, None, ALICE)
    await mark_done(ctx, done.id, ALICE)
    ctx.clock.current = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)

    health = (await digests.noise_reviews_now(ctx, "platform"))["platform"].health

    assert health.open_action_items == 2
    assert [item.title for item in health.overdue_action_items] == ["add for: 5m to DiskFull"]


async def test_the_weekly_review_goes_out_once_per_week_and_team(contexts):
    clock = FakeClock(MONDAY)
    ctx = contexts(clock)
    assert await digests.noise_tick(ctx) == 0  # first start on a Monday: no review of last week
    await a_week_of_pages(ctx)
    clock.current = datetime(2026, 11, 23, 7, 59, tzinfo=UTC)  # 08:59 in Berlin
    assert await digests.noise_tick(ctx) == 0
    clock.current = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert await digests.noise_tick(contexts(clock)) == 1  # finops had a quiet week
    clock.current = datetime(2026, 11, 25, 12, tzinfo=UTC)  # restarted on Wednesday
    assert await digests.noise_tick(contexts(clock)) == 0

    [post] = await digest_posts(ctx)
    assert (post.payload["team"], post.payload["figures"]["pages"]) == ("platform", 2)
    assert post.lane == "channel:#platform-oncall"
    runs = await rows(ctx, DigestRun)  # the quiet week is decided too, not figured every minute
    assert sorted((r.team, r.window_start.day, r.intent_id) for r in runs) == [
        ("finops", 15, None), ("platform", 15, post.id)]


async def test_quiet_weeks_are_posted_when_the_config_asks_but_never_before_the_first_start(
        contexts):
    clock = FakeClock(MONDAY)
    assert await record_start(contexts(clock)) == MONDAY
    clock.current = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert await record_start(contexts(clock)) == MONDAY  # a later start keeps the first
    ctx = contexts(clock, POST_EMPTY)
    clock.current = MONDAY
    assert await digests.noise_tick(ctx) == 0  # 9-15 Nov ended before the first start

    clock.current = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert await digests.noise_tick(ctx) == 2

    posts = await digest_posts(ctx)
    assert sorted((p.payload["team"], p.payload["figures"]["fired"]) for p in posts) == [
        ("finops", 0), ("platform", 0)]


async def test_one_review_channel_gets_one_review_of_every_team(contexts):
    config = CONFIG.replace('noise: {schedule: "0 9 * * 1", time_zone: Europe/Berlin}',
                            'noise: {time_zone: Europe/Berlin, channel: "#oncall-review"}')
    ctx = contexts(FakeClock(MONDAY), config)
    await record_start(ctx)
    await a_week_of_pages(ctx)
    ctx.clock.current = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    await digests.noise_tick(ctx)

    [run] = [r for r in await rows(ctx, DigestRun) if r.window_start.day == 15]
    [post] = [p for p in await digest_posts(ctx) if p.id == run.intent_id]
    assert (run.team, post.payload["channel"]) == (digests.ALL_TEAMS, "#oncall-review")


@pytest.fixture(params=["sqlite", "postgres"])
def unmigrated_url(request, tmp_path) -> str:
    return (request.getfixturevalue("postgres_url") if request.param == "postgres"
            else f"sqlite:///{tmp_path}/old.db")


async def test_an_install_from_before_0005_started_no_later_than_its_first_incident(
        unmigrated_url):
    command.upgrade(alembic_config(unmigrated_url), "0004")
    # Nobody is paged: the page table of 0004 lacks what later migrations add (0006 outcome).
    unpaged = CONFIG.replace(" escalation_policy: standard,", "")
    ctx = ServiceContext(db=Database(unmigrated_url), config=parse_config(unpaged),
                         clock=FakeClock(MONDAY))
    try:
        await ingest_alerts(ctx, [page("DiskFull", MONDAY - timedelta(hours=1))])
        migrate(unmigrated_url)
        async with ctx.db.reader() as s:
            assert await install.first_start(s) == MONDAY
    finally:
        await ctx.db.dispose()


@pytest.mark.parametrize(("now", "fired"), [
    (datetime(2026, 11, 23, 8, 0, tzinfo=UTC), datetime(2026, 11, 23, 8, 0, tzinfo=UTC)),
    (datetime(2026, 11, 23, 7, 59, tzinfo=UTC), datetime(2026, 11, 16, 8, 0, tzinfo=UTC)),
    (datetime(2026, 3, 30, 7, 0, tzinfo=UTC), datetime(2026, 3, 30, 7, 0, tzinfo=UTC)),  # CEST
])
def test_the_schedule_last_fired_at(now, fired):
    """A standard crontab (1 = Monday) read in the review's zone: 09:00 Berlin, CET or CEST."""
    assert digests.last_fire("0 9 * * 1", "Europe/Berlin", now) == fired
    assert digests.last_fire("0 9 29 2 *", "UTC", now) is None  # nothing in the last 8 days


@pytest.mark.parametrize(("setting", "key", "says"), [
    ("digests: {cost: {period: 7m}}", "digests.cost.period", "divide an hour"),
    ("digests: {cost: {grace: 2h}}", "digests.cost.grace", "under an hour"),
    ("digests: {noise: {schedule: '0 9 * *'}}", "digests.noise.schedule", "5-field"),
    ("digests: {noise: {time_zone: Mars/Olympus}}", "digests.noise.time_zone", "IANA"),
    ("digests: {noise: {business_hours: [18, 9]}}", "digests.noise.business_hours", "start"),
    ("digests: {noise: {channel: 'Bad Channel'}}", "digests.noise.channel", "channel name"),
    ("digests: {noise: {cron: '0 9 * * 1'}}", "digests.noise.cron", "unknown key"),
])
def test_bad_digest_settings_are_refused_by_key(setting, key, says):
    with pytest.raises(ConfigError) as refused:
        parse_config(CONFIG.replace("digests:\n  noise: {schedule: \"0 9 * * 1\", "
                                    "time_zone: Europe/Berlin}\n", setting + "\n"))
    [problem] = refused.value.problems
    assert problem.key == key and says in problem.message, problem


def test_a_team_may_keep_its_own_time_zone():
    config = parse_config(CONFIG.replace('noise: {schedule: "0 9 * * 1", time_zone: Europe/Berlin}',
                                         "noise: {time_zone: America/New_York}"))
    assert (config.time_zone_of("platform"), config.time_zone_of("finops")) == (
        "Europe/Berlin", "America/New_York")
    with pytest.raises(ConfigError, match=r"teams\.finops\.time_zone"):
        parse_config(CONFIG.replace('finops: {channel: "#finops"}',
                                    'finops: {channel: "#finops", time_zone: Nowhere}'))
