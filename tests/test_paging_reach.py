"""Paging that reaches the person: user groups, re-pages, what a pager is told, targets not
reached, the heartbeat that never arrived and the UNOWNED grace. End to end over HTTP."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from bot.services import delivery_failures, heartbeat, paging
from bot.store import repo
from bot.store.models import OutboxIntent, PageRow, TimelineEvent
from tests.appkit import BotUnderTest, database_url, radio, start_bot
from tests.fakes.receiver import Receiver
from tests.test_responders import (
    ALICE,
    BOB,
    CAROL,
    CONFIG,
    LEAD,
    dms_to,
    infra_alert,
    open_paged_incident,
    tick,
)

SRE, SRE_A, SRE_B = "S0SRE00001", "U0SREAAAA1", "U0SREBBBB2"
LEVEL_1 = '      - {notify: [primary], after: 0m}\n'


@pytest.fixture
async def receiver():
    running = Receiver()
    await running.start()
    yield running
    await running.stop()


async def started(url: str, receiver: Receiver, *, level_1: str = LEVEL_1,
                  members: str | None = None, **replace: str) -> BotUnderTest:
    """The responders' config with level 1, the rotation or other lines replaced."""
    config = CONFIG.format(receiver=receiver.url).replace(LEVEL_1, level_1)
    if members is not None:
        config = config.replace("members: [U0ALICE001, U0BOBBY002, U0CAROL003]",
                                f"members: [{members}]")
    for old, new in replace.values():
        assert old in config
        config = config.replace(old, new)
    bot = await start_bot(url, config=config)
    for user, name in ((CAROL, "Carol Diaz"), (ALICE, "Alice Ng"), (BOB, "Bob Li"),
                       (LEAD, "Lee Ad"), (SRE_A, "Sam Re"), (SRE_B, "Sue Re")):
        bot.slack.add_user(user, name, email=f"{name.split()[0].lower()}@example.com")
    return bot


@pytest.fixture
async def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/oncall.db"


@pytest.fixture(params=["sqlite", "postgres"])
def any_url(request, tmp_path) -> str:
    return database_url(request, tmp_path)


@pytest.fixture
def pd_key(monkeypatch):
    monkeypatch.setenv("TEST_PD_KEY", "pd-routing-key")


async def pages(bot: BotUnderTest, incident_id: int) -> list[PageRow]:
    return await bot._all(select(PageRow).where(PageRow.incident_id == incident_id)
                          .order_by(col(PageRow.id)))


async def timeline(bot: BotUnderTest, incident_id: int, kind: str) -> list[TimelineEvent]:
    return await bot._all(select(TimelineEvent).where(
        TimelineEvent.incident_id == incident_id, TimelineEvent.kind == kind)
        .order_by(col(TimelineEvent.id)))


def channel_blocks(bot: BotUnderTest) -> str:
    return str(bot.slack.messages("CPLATFORM1")[0]["blocks"])


async def test_a_user_group_in_a_level_pages_each_member_who_may_then_act(
        any_url, receiver, pd_key):
    bot = await started(any_url, receiver,
                        level_1=f'      - {{notify: [{SRE}], after: 0m}}\n')
    bot.slack.add_usergroup(SRE, "sre", [SRE_A, SRE_B])
    try:
        incident_id = await open_paged_incident(bot)

        assert len(dms_to(bot, SRE_A)) == 1 and len(dms_to(bot, SRE_B)) == 1
        assert bot.slack.calls_to("usergroups.users.list")[-1].args["usergroup"] == SRE
        users = [(p.target, p.level, p.outcome) for p in await pages(bot, incident_id)
                 if p.target_kind == "user"]
        assert users == [(SRE_A, 1, "sent"), (SRE_B, 1, "sent")]
        assert await bot.click("incident.ack", incident_id, user=SRE_B) == 200  # not a
        assert (await bot.incident(incident_id)).acked_by == SRE_B  # responder: was paged
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_a_user_group_without_members_or_that_slack_does_not_know_is_not_reached(
        sqlite_url, receiver, pd_key):
    bot = await started(sqlite_url, receiver,
                        level_1='      - {notify: [primary, S0EMPTY001, S0NOSUCH01], after: 0m}\n')
    bot.slack.add_usergroup("S0EMPTY001", "empty", [])
    try:
        incident_id = await open_paged_incident(bot)

        rows = {p.target: (p.outcome, p.error) for p in await pages(bot, incident_id)}
        assert rows["S0EMPTY001"] == ("skipped", "user group has no members")
        assert rows["S0NOSUCH01"] == ("failed",
                                      "usergroups.users.list failed: no_such_subteam")
        [skipped] = await timeline(bot, incident_id, "page_skipped")
        assert skipped.data == {"target_kind": "usergroup", "target": "S0EMPTY001",
                                "level": 1, "reason": "user group has no members"}
        [failed] = await timeline(bot, incident_id, "page_failed")
        assert failed.data["target"] == "S0NOSUCH01"
        blocks = channel_blocks(bot)
        assert f"Paged: <@{CAROL}> (level 1)" in blocks
        assert ":warning: level 1: <!subteam^S0EMPTY001> not paged: user group has no " \
               "members" in blocks
        assert ":warning: page to <!subteam^S0NOSUCH01> failed: usergroups.users.list " \
               "failed: no_such_subteam" in blocks
        assert "Paged: <@U0CAROL003> (level 1) · <!subteam" not in blocks
    finally:
        await bot.close()
        await bot.slack.stop()


async def claimed(bot: BotUnderTest, intent_id: int) -> None:
    """In flight, as a claimed intent is: delivery settles only what it holds."""
    async with bot.parts.db.transaction() as s:
        await repo.set_where(s, OutboxIntent, [OutboxIntent.id == intent_id],
                             {"state": "inflight"})


async def test_a_user_group_lookup_that_fails_for_good_is_a_failed_page(sqlite_url, receiver,
                                                                         pd_key):
    bot = await started(sqlite_url, receiver,
                        level_1=f'      - {{notify: [primary, {SRE}], after: 0m}}\n')
    bot.slack.add_usergroup(SRE, "sre", [SRE_A])
    try:
        await bot.post_alerts(infra_alert())
        [lookup] = [i for i in await bot.intents() if i.kind == "page_usergroup"]
        error = "ratelimited (gave up after 20 attempts)"  # what the worker's cap records

        await claimed(bot, lookup.id)  # as the worker holds it when it gives up
        await delivery_failures.record(bot.parts.services, lookup.id, error)
        await bot.drain()

        [incident] = await bot.incidents()
        [row] = [p for p in await pages(bot, incident.id) if p.target == SRE]
        assert (row.target_kind, row.outcome, row.error) == ("usergroup", "failed", error)
        [failed] = await timeline(bot, incident.id, "page_failed")
        assert failed.text == f"page to <!subteam^{SRE}> failed: {error}"
        blocks = channel_blocks(bot)
        assert f":warning: page to <!subteam^{SRE}> failed: {error}" in blocks
        assert f"Paged: <@{CAROL}> (level 1)" in blocks and f"<!subteam^{SRE}> (level 1)" \
            not in blocks
        assert not dms_to(bot, SRE_A)
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_a_role_nobody_holds_is_listed_on_the_message_and_the_timeline(
        sqlite_url, receiver, pd_key):
    bot = await started(sqlite_url, receiver, members="U0CAROL003")  # no secondary
    try:
        incident_id = await open_paged_incident(bot)
        bot.clock.advance(minutes=10)
        await tick(bot)  # level 2: [secondary, pager:pd]

        [skipped] = await timeline(bot, incident_id, "page_skipped")
        assert skipped.data == {"target_kind": "secondary", "target": "secondary", "level": 2,
                                "reason": "nobody is secondary on call now"}
        assert ":warning: level 2: secondary not paged: nobody is secondary on call now" \
               in channel_blocks(bot)
        assert "level 2 paged" in channel_blocks(bot)  # the pager still went out
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_a_pagerduty_trigger_names_whom_to_wake_and_links_the_slack_message(
        sqlite_url, receiver, pd_key):
    bot = await started(sqlite_url, receiver)
    try:
        incident_id = await open_paged_incident(bot)
        bot.clock.advance(minutes=10)
        await tick(bot)  # level 2: Alice (secondary) and pager:pd

        [trigger] = receiver.requests
        event = trigger.json
        posted = bot.slack.messages("CPLATFORM1")[0]["ts"].replace(".", "")
        permalink = f"https://fake-workspace.slack.com/archives/CPLATFORM1/p{posted}"
        alice = {"id": ALICE, "name": "Alice Ng", "email": "alice@example.com"}
        assert event["payload"]["custom_details"] == {
            "person": alice, "people": [alice], "level": 2, "incident_id": incident_id,
            "team": "platform", "severity": "critical",
            "summary": "FTL p95 above 800 ms for healthcare", "slack_url": permalink}
        assert event["client_url"] == permalink
        assert event["links"][0] == {"href": permalink, "text": "Slack incident message"}
        assert {"href": "https://runbooks.example.com/ftl-p95", "text": "Runbook"} in \
            event["links"]
    finally:
        await bot.close()
        await bot.slack.stop()


@pytest.mark.parametrize(("answer", "error"), [
    (None, "TEST_PD_KEY is not set"),
    ((400, {"status": "invalid event", "message": "Event object is invalid"}),
     "pagerduty 400: PagerDuty refused the event: Event object is invalid"),
])
async def test_a_failed_pager_is_recorded_with_its_own_error(sqlite_url, receiver, monkeypatch,
                                                            answer, error):
    if answer is None:
        monkeypatch.delenv("TEST_PD_KEY", raising=False)
    else:
        monkeypatch.setenv("TEST_PD_KEY", "pd-routing-key")
        receiver.answer_next(*answer)
    bot = await started(sqlite_url, receiver)
    try:
        incident_id = await open_paged_incident(bot)
        bot.clock.advance(minutes=10)
        await tick(bot)

        [row] = [p for p in await pages(bot, incident_id) if p.target_kind == "pager"]
        assert (row.outcome, row.error) == ("failed", error)
        [failed] = await timeline(bot, incident_id, "page_failed")
        assert failed.data | {"intent_id": 0} == {
            "target_kind": "pager", "target": "pd", "level": 2, "error": error,
            "intent_kind": "pager_event", "intent_id": 0}
        assert failed.text == f"pager pd failed: {error}"
        assert f":warning: pager pd failed: {error}" in channel_blocks(bot)
        assert "pager pd (level 2)" not in channel_blocks(bot)  # not listed as paged
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_do_not_disturb_on_a_level_without_a_pager_is_a_page_not_reached(
        sqlite_url, receiver, pd_key):
    bot = await started(sqlite_url, receiver)
    now = int(bot.clock.now().timestamp())
    bot.slack.add_user(CAROL, "carol", dnd_from=now - 3600, dnd_until=now + 4 * 3600)
    try:
        incident_id = await open_paged_incident(bot)
        await bot.drain()

        [failed] = await timeline(bot, incident_id, "page_failed")
        assert failed.data["target"] == CAROL and failed.data["level"] == 1
        assert "no pager: nothing wakes them" in failed.data["error"]
        assert f":warning: page to <@{CAROL}> failed: in Do Not Disturb until" in \
            channel_blocks(bot)
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_a_new_level_reaching_the_same_person_notifies_again(sqlite_url, receiver, pd_key):
    bot = await started(sqlite_url, receiver,
                        level_1=LEVEL_1 + '      - {notify: [primary], after: 5m}\n')
    try:
        incident_id = await open_paged_incident(bot)
        bot.clock.advance(minutes=5)
        await tick(bot)

        _, again = dms_to(bot, CAROL)
        assert again["text"].startswith("Paged again.")
        assert "(level 1, 2)" in str(again["blocks"])
        assert [e.text for e in await timeline(bot, incident_id, "dm_sent")] == [
            f"paged <@{CAROL}> by DM", f"paged <@{CAROL}> again by DM"]
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_a_re_page_slack_refuses_is_a_failed_page_of_its_level(sqlite_url, receiver,
                                                                      pd_key):
    bot = await started(sqlite_url, receiver,
                        level_1=LEVEL_1 + '      - {notify: [primary], after: 5m}\n')
    try:
        incident_id = await open_paged_incident(bot)  # level 1: Carol's DM is posted
        bot.clock.advance(minutes=5)
        await paging.tick(bot.parts.services)  # level 2 pages her again: a fresh DM, queued
        [repage] = [i for i in await bot.intents()
                    if i.kind == "sync_dm" and i.state == "pending" and i.payload["page"]]

        await claimed(bot, repage.id)
        await delivery_failures.record(bot.parts.services, repage.id, "invalid_arguments")
        await bot.drain()

        rows = [(p.level, p.outcome, p.error) for p in await pages(bot, incident_id)
                if p.target == CAROL]
        assert rows == [(1, "sent", None), (2, "failed", "invalid_arguments")]
        [failed] = await timeline(bot, incident_id, "page_failed")
        assert (failed.data["level"], failed.data["intent_id"]) == (2, repage.id)
        assert f":warning: page to <@{CAROL}> failed: invalid_arguments" in channel_blocks(bot)
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_a_heartbeat_that_never_arrives_pages_with_the_real_duration(
        sqlite_url, receiver, pd_key):
    bot = await started(sqlite_url, receiver, beat=("missing_after: 10m", "missing_after: 20s"))
    try:
        bot.clock.advance(seconds=19)
        assert not await heartbeat.check(bot.parts.services)
        bot.clock.advance(seconds=1)
        assert await heartbeat.check(bot.parts.services)
        await bot.drain()

        [incident] = await bot.incidents()
        assert incident.title == "Alert path down: Watchdog never arrived in 20s of watching"
        assert receiver.requests[-1].json["event_action"] == "trigger"
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_a_silent_heartbeat_title_says_how_long(sqlite_url, receiver, pd_key):
    bot = await started(sqlite_url, receiver)
    try:
        await bot.post_alerts(infra_alert("Watchdog"))
        bot.clock.advance(minutes=10, seconds=30)
        assert await heartbeat.check(bot.parts.services)

        [incident] = await bot.incidents()
        assert incident.title == "Alert path down: no Watchdog for 10m30s"
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_unowned_after_sets_the_grace_of_the_last_level(sqlite_url, receiver, pd_key):
    bot = await started(sqlite_url, receiver,  # levels at 0, +10m, +15m
                        grace=("    ack_timeout: 30m\n",
                               "    ack_timeout: 30m\n    unowned_after: 2m\n"))
    try:
        incident_id = await open_paged_incident(bot)
        for minutes in (10, 15):
            bot.clock.advance(minutes=minutes)
            await tick(bot)
        bot.clock.advance(minutes=1, seconds=59)
        await tick(bot)
        assert not (await bot.incident(incident_id)).unowned
        bot.clock.advance(seconds=1)
        await tick(bot)
        assert (await bot.incident(incident_id)).unowned
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_a_page_dm_slack_refuses_is_recorded_as_not_reached(sqlite_url, receiver, pd_key):
    ghost = "U0GHOST001"  # not in the workspace: conversations.open answers user_not_found
    bot = await started(sqlite_url, receiver,
                        level_1=f'      - {{notify: [primary, {ghost}], after: 0m}}\n')
    try:
        incident_id = await open_paged_incident(bot)

        [failed] = await timeline(bot, incident_id, "page_failed")
        assert failed.data | {"intent_id": 0} == {
            "target_kind": "user", "target": ghost, "level": 1, "error": "user_not_found",
            "intent_kind": "sync_dm", "intent_id": 0}
        assert f":warning: page to <@{ghost}> failed: user_not_found" in channel_blocks(bot)
        assert channel_blocks(bot).count(ghost) == 1  # one warning, not also a "Paged" entry
        [row] = [p for p in await pages(bot, incident_id) if p.target == ghost]
        assert (row.outcome, row.error) == ("failed", "user_not_found")
        assert len(dms_to(bot, CAROL)) == 1
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_escalating_to_a_user_group_by_hand_pages_its_members(sqlite_url, receiver,
                                                                    pd_key):
    bot = await started(sqlite_url, receiver)
    bot.slack.add_usergroup("S0HUMANS01", "humans", [SRE_A])
    try:
        incident_id = await open_paged_incident(bot)
        view = await bot.open_modal("incident.escalate", incident_id, user=CAROL)
        await bot.submit_view(view["callback_id"], view["private_metadata"],
                              {"how": radio("usergroup"),
                               "usergroup": {"type": "static_select",
                                             "selected_option": {"value": "S0HUMANS01"}}},
                              user=CAROL)
        await bot.drain()

        assert len(dms_to(bot, SRE_A)) == 1
        [row] = [p for p in await pages(bot, incident_id) if p.target == SRE_A]
        assert (row.target_kind, row.level, row.outcome) == ("user", 0, "sent")
    finally:
        await bot.close()
        await bot.slack.stop()
