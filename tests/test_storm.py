"""Storm mode (issue 12): a flooded channel gets one live summary, not one post per incident."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.config import parse_config
from bot.domain.storm import StormEntry, shared_labels, thread_chunks
from bot.services import digests, storm_actions, storms
from bot.slack.digest.review import noise_review_message
from bot.slack.storm.blocks import StormActionId, StormRef
from bot.store.models import AuditRow, PageRow, SilenceRow, StormMember, StormRow
from tests.appkit import (
    FakeClock,
    block_actions,
    database_url,
    start_bot,
    text_input,
    view_submission,
)

PLATFORM = "CPLATFORM1"
RESPONDER = "U0PLATFORM1"

STORM_CONFIG = """
teams:
  platform: {channel: "#platform-oncall", responders: [U0PLATFORM1], schedule: platform,
             escalation_policy: standard}
  ai-eng: {channel: "#ai-eng-oncall"}
route:
  receiver: platform
  group_by: [alertname]
  routes:
    - {matchers: ['alert_type="model"'], receiver: ai-eng}
schedules:
  platform:
    time_zone: Europe/Berlin
    start: "2026-11-02 09:00"
    rotation: weekly
    members: [U0ALICE001, U0BOBBY002, U0CAROL003]
escalation_policies:
  standard:
    levels:
      - {notify: [primary], after: 0m}
storm: {enter_above: 5, leave_after: 5m, post_survivors: %s}
"""


def alerts(first: int, count: int, severity: str = "warning", provider: str = "openai") -> dict:
    return {"version": "4", "status": "firing", "receiver": "oncall", "alerts": [
        {"status": "firing", "startsAt": "2026-11-23T02:59:00Z", "fingerprint": f"{n:016x}",
         "labels": {"alertname": f"ProviderErrors{n}", "severity": severity,
                    "alert_type": "infra", "provider": provider, "instance": f"pod-{n}"},
         "annotations": {"summary": f"provider errors on route {n} <!channel>"}}
        for n in range(first, first + count)]}


@pytest.fixture
async def bot(tmp_path):
    running = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=STORM_CONFIG % "false")
    for user in ("U0ALICE001", "U0BOBBY002", "U0CAROL003"):
        running.slack.add_user(user, user.lower())
    yield running
    await running.close()
    await running.slack.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def any_database(request, tmp_path) -> str:
    return database_url(request, tmp_path)


def top_level_posts(bot, channel: str = PLATFORM) -> list:
    return [c for c in bot.slack.calls_to("chat.postMessage")
            if c.args.get("channel") == channel and not c.args.get("thread_ts")]


def thread_replies(bot, channel: str = PLATFORM) -> list:
    return [c for c in bot.slack.calls_to("chat.postMessage")
            if c.args.get("channel") == channel and c.args.get("thread_ts")]


async def rows(bot, query) -> list:
    async with bot.parts.db.reader() as s:
        return list((await s.exec(query)).all())


async def click_storm(bot, action_id: str, storm_id: int, user: str = RESPONDER) -> int:
    storm = (await rows(bot, select(StormRow).where(StormRow.id == storm_id)))[0]
    body = block_actions(action_id, StormRef(storm_id=storm_id).encode(), user=user,
                         channel=storm.summary_channel_id or PLATFORM,
                         ts=storm.summary_ts or "1.1",
                         response_url=bot.slack.response_url(f"{action_id}-{user}"))
    status = await bot.signed_post("/slack/events", body)
    await bot.listeners_done()
    return status


async def test_five_waiting_posts_are_posted_one_each(bot):
    assert (await bot.post_alerts(alerts(0, 5)))[0] == 202
    await bot.drain()
    assert len(top_level_posts(bot)) == 5
    assert await rows(bot, select(StormRow)) == []


async def test_more_than_five_waiting_become_one_summary_with_a_thread_list(bot):
    assert (await bot.post_alerts(alerts(0, 12)))[0] == 202
    await bot.drain()
    posts = top_level_posts(bot)
    assert len(posts) == 1, "one summary, no incident message"
    summary = posts[0].args
    assert summary["metadata"]["event_payload"] == {"storm_id": 1}
    assert "12 incidents" in summary["text"]
    rendered = str(summary["blocks"])
    assert "warning 12" in rendered and "infra 12" in rendered and "platform 12" in rendered
    assert "#12" in rendered  # the newest is named
    replies = thread_replies(bot)
    assert len(replies) == 1 and replies[0].args["thread_ts"] == bot.slack.messages(
        PLATFORM)[0]["ts"]
    listed = replies[0].args["text"].splitlines()
    assert [line.split()[0] for line in listed] == [f"#{n}" for n in range(1, 13)]
    assert "provider=openai" in listed[0]
    assert "<!channel>" not in replies[0].args["text"] + rendered
    members = await rows(bot, select(StormMember))
    assert len(members) == 12 and all(m.listed for m in members)
    assert "storm_joined" in await bot.timeline_kinds(3)
    assert await bot.message_of(3) is None


async def test_new_incidents_join_the_summary_instead_of_queueing_posts(bot):
    await bot.post_alerts(alerts(0, 8))
    await bot.drain()
    bot.slack.reset_calls()
    await bot.post_alerts(alerts(100, 3))
    await bot.drain()
    assert top_level_posts(bot) == []
    replies = thread_replies(bot)
    assert len(replies) == 1 and len(replies[0].args["text"].splitlines()) == 3
    assert bot.slack.calls_to("chat.update") == [], "edits wait for storm.update_every"
    await bot.post_alerts(alerts(200, 2))
    bot.clock.advance(seconds=5)
    await bot.drain()
    updates = bot.slack.calls_to("chat.update")
    assert len(updates) == 1 and "13 incidents" in updates[0].args["text"]


async def test_ack_all_and_resolve_all_act_on_every_incident_with_audit_and_timeline(bot):
    await bot.post_alerts(alerts(0, 7))
    await bot.drain()
    assert await click_storm(bot, StormActionId.ACK_ALL, 1) == 200
    incidents = await bot.incidents()
    assert {i.status for i in incidents} == {"acknowledged"}
    assert {i.acked_by for i in incidents} == {RESPONDER}
    assert "acked" in await bot.timeline_kinds(4)
    audit = await rows(bot, select(AuditRow).where(AuditRow.action == "storm_ack"))
    assert len(audit) == 1 and audit[0].after == {"done": 7, "skipped": 0}
    assert "7 incidents of storm 1 acknowledged" in bot.slack.responses[-1]["text"]
    bot.clock.advance(seconds=5)
    await bot.drain()
    assert top_level_posts(bot)[1:] == []  # the summary is updated, nothing posted per incident
    assert "*7* acknowledged" in str(bot.slack.calls_to("chat.update")[-1].args["blocks"])

    assert await click_storm(bot, StormActionId.RESOLVE_ALL, 1) == 200
    assert {i.status for i in await bot.incidents()} == {"resolved"}
    assert await rows(bot, select(AuditRow).where(AuditRow.action == "storm_resolve"))


async def test_a_stranger_may_not_ack_the_storm_and_hears_why(bot):
    await bot.post_alerts(alerts(0, 7))
    await bot.drain()
    assert await click_storm(bot, StormActionId.ACK_ALL, 1, user="U0STRANGER") == 200
    assert {i.status for i in await bot.incidents()} == {"triggered"}
    refused = await rows(bot, select(AuditRow).where(AuditRow.outcome == "refused"))
    assert [r.action for r in refused] == ["storm_ack"]
    assert "may not acknowledge every incident of storm 1" in bot.slack.responses[-1]["text"]


async def test_silence_this_storm_shows_the_silence_then_makes_it(bot):
    await bot.post_alerts(alerts(0, 7))
    await bot.drain()
    assert await click_storm(bot, StormActionId.SILENCE, 1) == 200
    view = bot.slack.calls_to("views.open")[-1].args["view"]
    shown = str(view["blocks"])
    assert 'team=\\"platform\\"' in shown or 'team="platform"' in shown
    assert "provider" in shown and "instance" not in shown and "alertname" not in shown
    assert await rows(bot, select(SilenceRow)) == []
    raw = view_submission(StormActionId.SILENCE_SUBMIT, view["private_metadata"],
                          {"duration": text_input("1h"), "reason": text_input("openai down")},
                          user=RESPONDER, view_id="V1")
    assert await bot.signed_post("/slack/events", raw) == 200
    await bot.listeners_done()
    silence = (await rows(bot, select(SilenceRow)))[0]
    assert silence.matchers == ['team="platform"', 'alert_type="infra"', 'provider="openai"',
                                'severity="warning"']
    assert silence.ends_at - silence.starts_at == timedelta(hours=1)
    assert await rows(bot, select(AuditRow).where(AuditRow.action == "silence"))
    assert "storm_silenced" in await bot.timeline_kinds(2)


async def test_page_the_storm_pages_once_for_the_whole_storm(bot):
    await bot.post_alerts(alerts(0, 7))
    await bot.drain()
    assert await rows(bot, select(PageRow)) == []  # warnings notify, nobody paged
    assert await click_storm(bot, StormActionId.PAGE, 1) == 200
    pages = await rows(bot, select(PageRow))
    assert len(pages) == 1 and pages[0].target_kind == "user"
    assert pages[0].target == "U0CAROL003"
    await bot.drain()
    dms = [c for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] != PLATFORM]
    assert len(dms) == 1, "one page DM for the whole storm"
    for n in range(1, 8):
        assert "storm_paged" in await bot.timeline_kinds(n)
    assert await rows(bot, select(AuditRow).where(AuditRow.action == "storm_page"))


async def test_critical_incidents_still_page_each_but_their_post_is_folded(bot):
    await bot.post_alerts(alerts(0, 7, severity="critical"))
    await bot.drain()
    pages = await rows(bot, select(PageRow))
    assert len(pages) == 7, "each critical incident pages on its own"
    assert len(top_level_posts(bot)) == 1, "their channel posts are folded into the summary"
    dm_posts = [c for c in bot.slack.calls_to("chat.postMessage")
                if c.args.get("channel") not in (PLATFORM,)]
    assert len(dm_posts) == 7
    assert all(i.state in ("done",) for i in await bot.intents())


@pytest.mark.parametrize("survivors", [False, True])
async def test_the_storm_ends_when_the_flood_drains(tmp_path, survivors):
    clock = FakeClock()
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", clock=clock,
                          config=STORM_CONFIG % str(survivors).lower())
    try:
        await bot.post_alerts(alerts(0, 8))
        await bot.drain()
        resolved = alerts(0, 2)
        for alert in resolved["alerts"]:
            alert["status"], alert["endsAt"] = "resolved", "2026-11-23T03:00:30Z"
        await bot.post_alerts(resolved)
        await bot.drain()
        clock.advance(minutes=4)
        assert await storm_actions.tick(bot.parts.services) == 0
        clock.advance(minutes=2)
        assert await storm_actions.tick(bot.parts.services) == 1
        await bot.drain()
        storm = (await rows(bot, select(StormRow)))[0]
        assert storm.active_channel is None and storm.ended_at == clock.now()
        assert storm.counts == {"incidents": 8, "resolved": 2, "resolved_on_their_own": 2,
                                "still_open": 6, "seconds": 360}
        final = bot.slack.calls_to("chat.update")[-1].args
        assert "Storm ended" in final["text"]
        assert "2 resolved on their own, 6 still open" in str(final["blocks"])
        assert "storm_left" in await bot.timeline_kinds(5)
        posted = top_level_posts(bot)[1:]
        assert len(posted) == (6 if survivors else 0)
        if survivors:
            assert {p.args["metadata"]["event_payload"]["incident_id"] for p in posted} == set(
                range(3, 9))
        bot.slack.reset_calls()
        await bot.post_alerts(alerts(200, 1))  # a new incident after the storm: its own post
        await bot.drain()
        assert len(top_level_posts(bot)) == 1
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_two_transactions_entering_at_once_make_one_storm(any_database):
    """The conditional insert on storm.active_channel: whoever commits second joins the
    first one's storm (SQLite serialises them; PostgreSQL makes the second wait on the
    unique index, then skip)."""
    bot = await start_bot(any_database, config=STORM_CONFIG % "false")
    ctx = bot.parts.services
    try:
        async def enter():
            async with ctx.db.transaction() as s:
                storm = await storms._enter(s, "#platform-oncall", ctx.clock.now())
                await asyncio.sleep(0.05)  # hold the transaction open while the other tries
                return storm.id
        assert set(await asyncio.gather(enter(), enter())) == {1}
        assert len(await rows(bot, select(StormRow))) == 1
    finally:
        await bot.close()
        await bot.slack.stop()


def test_thread_lists_are_a_few_long_replies():
    from datetime import UTC, datetime
    entries = [StormEntry(incident_id=n, title=f"provider errors on route {n}", team="platform",
                          labels={"alertname": f"ProviderErrors{n}", "provider": "openai"},
                          opened_at=datetime(2026, 11, 23, tzinfo=UTC)) for n in range(1000)]
    chunks = thread_chunks(entries, 3900)
    assert sum(len(c) for c in chunks) == 1000 and len(chunks) <= 25
    assert all(len("\n".join(f"#{e.incident_id}" for e in c)) < 3900 for c in chunks)


def test_shared_labels_are_those_every_alert_carries_alike():
    assert shared_labels([{"a": "1", "b": "2", "instance": "x"},
                          {"a": "1", "b": "3", "instance": "x"}]) == {"a": "1"}
    assert shared_labels([{"a": "1"}, {"a": "2"}]) == {}


def test_storm_config_keys_are_validated():
    from bot.config import ConfigError
    base = STORM_CONFIG % "false"
    assert parse_config(base).storm.enter_above == 5
    with pytest.raises(ConfigError, match="storm"):
        parse_config(base.replace("enter_above: 5", "enter_abov: 5"))


async def test_the_noise_review_counts_the_weeks_storms(tmp_path):
    clock = FakeClock()
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", clock=clock,
                          config=STORM_CONFIG % "false")
    try:
        await bot.post_alerts(alerts(0, 7))
        await bot.drain()
        ctx = bot.parts.services
        assert (await digests.noise_reviews_now(ctx, "platform"))["platform"].storms == 0
        clock.advance(days=7)  # the review covers the week before
        review = (await digests.noise_reviews_now(ctx, "platform"))["platform"]
        assert review.storms == 1
        assert (await digests.noise_reviews_now(ctx, "ai-eng"))["ai-eng"].storms == 0
        _, blocks = noise_review_message("platform", review)
        fields = [f["text"] for b in blocks for f in b.to_dict().get("fields", [])]
        assert "*Storms*\n1" in fields
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_two_bots_on_one_database_enter_one_storm(any_database):
    """Two workers (as two replicas would) claim from one flooded lane at once: one storm,
    one summary, and every incident in it once."""
    first = await start_bot(any_database, config=STORM_CONFIG % "false")
    second = await start_bot(any_database, config=STORM_CONFIG % "false", slack=first.slack)
    try:
        await first.post_alerts(alerts(0, 10))
        for _ in range(10):
            done = await asyncio.gather(first.parts.worker.run_once(),
                                        second.parts.worker.run_once())
            if sum(done) == 0:
                break
        storms_made = await rows(first, select(StormRow))
        assert len(storms_made) == 1
        assert len(top_level_posts(first)) == 1
        members = await rows(first, select(StormMember))
        assert sorted(m.incident_id for m in members) == list(range(1, 11))
    finally:
        await second.close()
        await first.close()
        await first.slack.stop()


async def test_an_incident_posted_before_the_storm_keeps_its_own_message(bot):
    await bot.post_alerts(alerts(0, 2))
    await bot.drain()
    await bot.post_alerts(alerts(10, 8))
    await bot.drain()
    assert len(top_level_posts(bot)) == 3  # two incidents, then one summary
    members = await rows(bot, select(StormMember))
    assert sorted(m.incident_id for m in members) == list(range(3, 11))
    bot.slack.reset_calls()
    assert await bot.click("incident.ack", 1) == 200
    await bot.drain()
    own = await bot.message_of(1)
    updates = bot.slack.calls_to("chat.update")
    assert [u.args["ts"] for u in updates] == [own.ts]
    assert "storm_joined" not in await bot.timeline_kinds(1)
