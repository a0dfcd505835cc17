"""Paging, escalation, Escalate / Route to humans / Restore AI, heartbeat: end to end over HTTP."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.signing import verify
from bot.services import heartbeat, paging, rotation
from tests.appkit import (
    BotUnderTest,
    database_url,
    eventually,
    payload,
    radio,
    start_bot,
    text_input,
    user_select,
)
from tests.fakes.receiver import Receiver

CAROL, ALICE, BOB, LEAD = "U0CAROL003", "U0ALICE001", "U0BOBBY002", "U0LEAD0001"
HANDOFF_SECRET = "handoff-secret"

CONFIG = """
teams:
  platform: {{channel: "#platform-oncall", responders: [U0PLATFORM1], schedule: platform,
              escalation_policy: standard}}
  ai-eng: {{channel: "#ai-eng-oncall"}}
admins: [U0ADMIN001]
route:
  receiver: platform
  group_by: [alertname]
  routes:
    - {{matchers: ['alert_type="model"'], receiver: ai-eng}}
    - {{matchers: ['alert_type="quality"'], receiver: platform, page_after: 5m}}
schedules:
  platform:
    time_zone: Europe/Berlin
    start: "2026-11-02 09:00"
    rotation: weekly
    members: [U0ALICE001, U0BOBBY002, U0CAROL003]
escalation_policies:
  standard:
    levels:
      - {{notify: [primary], after: 0m}}
      - {{notify: [secondary, "pager:pd"], after: 10m}}
      - {{notify: [U0LEAD0001], after: 15m}}
    ack_timeout: 30m
pagers:
  pd: {{type: pagerduty, routing_key_env: TEST_PD_KEY, url: "{receiver}/pd"}}
handoff:
  voice-agent:
    webhook: {{url: "{receiver}/handoff", secret_env: TEST_HANDOFF_SECRET}}
    notify: {{channel: "#support-humans", usergroup: S0HUMANS01}}
heartbeat: {{alertname: Watchdog, missing_after: 10m, team: platform, notify: ["pager:pd"]}}
"""


@pytest.fixture
async def receiver():
    running = Receiver()
    await running.start()
    yield running
    await running.stop()


@pytest.fixture(params=["sqlite", "postgres"])
async def bot(request, tmp_path, receiver, monkeypatch) -> BotUnderTest:
    monkeypatch.setenv("TEST_PD_KEY", "pd-routing-key")
    monkeypatch.setenv("TEST_HANDOFF_SECRET", HANDOFF_SECRET)
    running = await start_bot(database_url(request, tmp_path),
                              config=CONFIG.format(receiver=receiver.url))
    for user, name in ((CAROL, "carol"), (ALICE, "alice"), (BOB, "bob"), (LEAD, "lead")):
        running.slack.add_user(user, name)
    running.slack.add_channel("C0SUPPORT1", "support-humans")
    yield running
    await running.close()
    await running.slack.stop()


def infra_alert(name: str = "VoiceAgent5xx", alert_type: str = "infra") -> dict:
    body = payload("alertmanager/firing-model-ftl-p95.json")
    alert = body["alerts"][0]
    alert["labels"].update({"alertname": name, "alert_type": alert_type, "severity": "critical"})
    alert["startsAt"] = "2026-11-23T03:00:00Z"
    return body


async def open_paged_incident(bot: BotUnderTest, **kw) -> int:
    await bot.post_alerts(infra_alert(**kw))
    await bot.drain()
    [incident] = await bot.incidents()
    return incident.id


def dms_to(bot: BotUnderTest, user: str) -> list[dict]:
    return bot.slack.messages(bot.slack.dm_channel(user))


def thread_texts(bot: BotUnderTest, channel: str = "CPLATFORM1") -> list[str]:
    return [m["text"] for m in bot.slack.messages(channel) if m.get("thread_ts")]


async def tick(bot: BotUnderTest) -> None:
    await paging.tick(bot.parts.services)
    await bot.drain()


async def test_a_page_reaches_the_primary_by_dm_and_in_the_thread(bot):
    incident_id = await open_paged_incident(bot)

    [dm] = dms_to(bot, CAROL)  # week 3 of the rotation: Carol is primary
    assert "You are paged for *#1*" in str(dm["blocks"])
    assert any(f"Paging <@{CAROL}> (level 1)" in t for t in thread_texts(bot))
    assert "paged" in await bot.timeline_kinds(incident_id)
    message = bot.slack.messages("CPLATFORM1")[0]
    assert "level 1 paged" in str(message["blocks"])
    from sqlmodel import select

    from bot.store.models import SlackMessage
    kinds = {m.kind for m in await bot._all(select(SlackMessage))}
    assert kinds == {"alert", "dm", "thread_note"}  # every post is recorded


async def test_unacked_pages_escalate_on_time_and_an_ack_stops_them(bot, receiver):
    incident_id = await open_paged_incident(bot)

    bot.clock.advance(minutes=9)
    await tick(bot)
    assert dms_to(bot, ALICE) == []  # not yet

    bot.clock.advance(minutes=1)
    await tick(bot)
    assert len(dms_to(bot, ALICE)) == 1  # secondary
    [trigger] = receiver.requests
    assert trigger.json["event_action"] == "trigger"
    assert trigger.json["routing_key"] == "pd-routing-key"
    assert trigger.json["dedup_key"] == f"oncall-bot-incident-{incident_id}"

    assert await bot.click("incident.ack", incident_id, user=ALICE) == 200  # paged: may act
    await bot.drain()
    assert receiver.requests[-1].json["event_action"] == "acknowledge"
    bot.clock.advance(minutes=20)
    await tick(bot)

    assert dms_to(bot, LEAD) == []
    incident = await bot.incident(incident_id)
    assert incident.acked_by == ALICE and incident.escalation_step == 2
    assert "time to ack 10m 00s" in str(bot.slack.messages("CPLATFORM1")[0]["blocks"])


async def test_after_the_last_level_the_incident_is_unowned_with_here(bot):
    incident_id = await open_paged_incident(bot)
    for minutes in (10, 15, 15):
        bot.clock.advance(minutes=minutes)
        await tick(bot)

    assert len(dms_to(bot, LEAD)) == 1
    assert any("<!here>" in t and "UNOWNED" in t for t in thread_texts(bot))
    assert (await bot.incident(incident_id)).unowned
    assert "UNOWNED" in str(bot.slack.messages("CPLATFORM1")[0]["blocks"])


async def test_a_restart_between_levels_neither_loses_nor_repeats_a_step(bot, receiver):
    await open_paged_incident(bot)
    await bot.close()  # the process goes away with level 2 due in 10 minutes
    again = await start_bot(bot.parts.settings.database_url, slack=bot.slack,
                            config=CONFIG.format(receiver=receiver.url), clock=bot.clock)
    try:
        bot.clock.advance(minutes=10)
        await tick(again)
        await tick(again)

        assert len(dms_to(again, CAROL)) == 1 and len(dms_to(again, ALICE)) == 1
        assert [r.json["event_action"] for r in receiver.requests] == ["trigger"]
    finally:
        await again.close()


async def test_an_ack_racing_the_escalation_tick_never_pages_after_the_ack(bot):
    incident_id = await open_paged_incident(bot)
    bot.clock.advance(minutes=10)

    await asyncio.gather(bot.click("incident.ack", incident_id, user=CAROL),
                         paging.tick(bot.parts.services))
    await bot.drain()

    assert (await bot.incident(incident_id)).status == "acknowledged"
    kinds = await bot.timeline_kinds(incident_id)
    assert "paged" not in kinds[kinds.index("acked"):]  # whichever won, nobody paged after


async def test_do_not_disturb_is_shown_on_the_message(bot):
    now = int(bot.clock.now().timestamp())
    bot.slack.add_user(CAROL, "carol", dnd_from=now - 3600, dnd_until=now + 4 * 3600)
    await open_paged_incident(bot)
    await bot.drain()

    assert "in Do Not Disturb until" in str(bot.slack.messages("CPLATFORM1")[0]["blocks"])


async def test_page_after_holds_the_page_and_an_early_resolution_pages_nobody(bot):
    body = infra_alert("AnswerQualityLow", alert_type="quality")
    await bot.post_alerts(body)
    await bot.drain()
    [incident] = await bot.incidents()
    assert dms_to(bot, CAROL) == [] and incident.next_step_kind == "page"

    body["alerts"][0]["status"] = "resolved"
    body["alerts"][0]["endsAt"] = "2026-11-23T03:02:00Z"
    await bot.post_alerts(body)
    bot.clock.advance(minutes=6)
    await tick(bot)

    incident = await bot.incident(incident.id)
    assert incident.status == "resolved" and incident.auto_resolved_in_hold
    assert dms_to(bot, CAROL) == []
    assert "nobody was paged" in str(bot.slack.messages("CPLATFORM1")[0]["blocks"])


async def test_page_after_pages_when_the_hold_ends(bot):
    await bot.post_alerts(infra_alert("AnswerQualityLow", alert_type="quality"))
    await bot.drain()
    bot.clock.advance(minutes=5)
    await tick(bot)

    assert len(dms_to(bot, CAROL)) == 1


async def test_escalate_modal_pages_the_next_level_now(bot):
    incident_id = await open_paged_incident(bot)
    view = await bot.open_modal("incident.escalate", incident_id, user=CAROL)

    answer = await bot.submit_view(view["callback_id"], view["private_metadata"],
                                   {"how": radio("next"), "reason": text_input("need DB help")},
                                   user=CAROL)
    await bot.drain()

    assert answer == {}
    assert len(dms_to(bot, ALICE)) == 1
    assert "escalated" in await bot.timeline_kinds(incident_id)


async def test_escalating_an_acked_incident_to_a_person_hands_it_on(bot):
    incident_id = await open_paged_incident(bot)
    await bot.click("incident.ack", incident_id, user=CAROL)
    view = await bot.open_modal("incident.escalate", incident_id, user=CAROL)

    await bot.submit_view(view["callback_id"], view["private_metadata"],
                          {"how": radio("person"), "person": user_select(BOB)}, user=CAROL)
    await bot.drain()

    assert (await bot.incident(incident_id)).status == "triggered"
    assert len(dms_to(bot, BOB)) == 1


async def test_escalate_to_a_person_without_choosing_one_is_an_error_in_the_modal(bot):
    incident_id = await open_paged_incident(bot)
    view = await bot.open_modal("incident.escalate", incident_id, user=CAROL)

    answer = await bot.submit_view(view["callback_id"], view["private_metadata"],
                                   {"how": radio("person")}, user=CAROL)

    assert answer["response_action"] == "errors" and "person" in answer["errors"]


async def test_someone_not_responsible_cannot_escalate(bot):
    incident_id = await open_paged_incident(bot)
    view = await bot.open_modal("incident.escalate", incident_id, user="U0STRANGER1")

    answer = await bot.submit_view(view["callback_id"], view["private_metadata"],
                                   {"how": radio("next")}, user="U0STRANGER1")

    assert answer["response_action"] == "errors"
    assert "responders" in answer["errors"]["reason"]
    assert "denied" in await bot.timeline_kinds(incident_id)


async def route_to_humans(bot: BotUnderTest, incident_id: int, user: str = CAROL,
                          action: str = "incident.route_to_humans") -> dict:
    view = await bot.open_modal(action, incident_id, user=user)
    return await bot.submit_view(view["callback_id"], view["private_metadata"],
                                 {"reason": text_input("bad answers since 02:50")}, user=user)


async def test_route_to_humans_calls_the_signed_webhook_and_shows_it(bot, receiver):
    incident_id = await open_paged_incident(bot)

    answer = await route_to_humans(bot, incident_id)
    assert answer["response_action"] == "update"  # the modal says it is calling the webhook
    await bot.drain()

    [call] = receiver.requests
    assert call.path == "/handoff"
    assert call.json == {"service": "voice-agent", "mode": "humans", "incident_id": incident_id,
                         "actor": CAROL, "reason": "bad answers since 02:50"}
    now = int(bot.clock.now().timestamp())
    assert verify(call.headers["X-Oncall-Signature"], call.body, HANDOFF_SECRET, now)
    assert call.headers["Idempotency-Key"]
    incident = await bot.incident(incident_id)
    assert incident.humans_mode and incident.humans_by == CAROL
    message = bot.slack.messages("CPLATFORM1")[0]
    assert "AI workflow routed to humans by" in str(message["blocks"])
    buttons = [e["action_id"] for b in message["blocks"] if b["type"] == "actions"
               for e in b["elements"]]
    assert "incident.restore_ai" in buttons and "incident.route_to_humans" not in buttons
    assert any("S0HUMANS01" in m["text"] for m in bot.slack.messages("C0SUPPORT1"))
    assert bot.slack.calls_to("views.update")[-1].args["view_id"] == "V0VIEW0001"


async def test_restore_ai_reverses_the_handoff(bot, receiver):
    incident_id = await open_paged_incident(bot)
    await route_to_humans(bot, incident_id)
    await bot.drain()

    await route_to_humans(bot, incident_id, action="incident.restore_ai")
    await bot.drain()

    assert receiver.requests[-1].json["mode"] == "ai"
    assert not (await bot.incident(incident_id)).humans_mode
    assert "restored_ai" in await bot.timeline_kinds(incident_id)


async def test_a_failing_handoff_webhook_is_shown_to_the_clicker_and_nothing_pretends(bot,
                                                                                     receiver):
    incident_id = await open_paged_incident(bot)
    receiver.answer_next(500, {"error": "flag service down"}, times=3)

    await route_to_humans(bot, incident_id)
    for _ in range(3):
        await bot.drain()
        bot.clock.advance(minutes=5)

    assert len(receiver.requests) == 3
    assert len({r.headers["Idempotency-Key"] for r in receiver.requests}) == 1
    incident = await bot.incident(incident_id)
    assert not incident.humans_mode and "flag service down" in incident.handoff_error
    ephemerals = bot.slack.calls_to("chat.postEphemeral")
    assert ephemerals and ephemerals[-1].args["user"] == CAROL
    assert "handoff_failed" in await bot.timeline_kinds(incident_id)
    assert "Route to humans failed" in str(bot.slack.messages("CPLATFORM1")[0]["blocks"])


async def test_a_service_without_handoff_config_says_what_to_add(bot):
    body = infra_alert()
    body["alerts"][0]["labels"]["service"] = "batch-eval"
    await bot.post_alerts(body)
    await bot.drain()

    assert await bot.click("incident.route_to_humans", 1, user=CAROL) == 200
    await eventually(lambda: bot.slack.responses)  # the answer comes after the ack
    assert "handoff.batch-eval" in bot.slack.responses[-1]["text"]


async def test_the_heartbeat_going_silent_pages_the_owners_and_its_return_resolves(bot,
                                                                                  receiver):
    watchdog = infra_alert("Watchdog")
    await bot.post_alerts(watchdog)
    bot.clock.advance(minutes=11)

    assert await heartbeat.check(bot.parts.services)
    assert not await heartbeat.check(bot.parts.services)  # once
    await bot.drain()
    [incident] = await bot.incidents()
    assert incident.title.startswith("Alert path down")
    assert receiver.requests[-1].json["event_action"] == "trigger"

    await bot.post_alerts(watchdog)
    await bot.drain()
    assert (await bot.incident(incident.id)).status == "resolved"
    assert receiver.requests[-1].json["event_action"] == "resolve"


async def test_each_rotation_change_is_announced_once_with_what_is_open(bot):
    await open_paged_incident(bot)
    bot.clock.advance(hours=5, minutes=1)  # 09:01 in Berlin: Alice takes over from Carol

    assert await rotation.announce_handoffs(bot.parts.services) == 1
    assert await rotation.announce_handoffs(bot.parts.services) == 0
    await bot.drain()

    [post] = [m for m in bot.slack.messages("CPLATFORM1") if "on call now" in m["text"]]
    assert f"primary <@{ALICE}>" in post["text"] and f"from <@{CAROL}>" in post["text"]
    assert "#1" in post["text"]


async def test_a_test_page_reaches_every_target_the_person_has(bot, receiver):
    from bot.delivery_run import send_test_page

    results = await send_test_page(bot.parts.settings, bot.parts.config, CAROL)

    assert results == [f"ok      Slack DM to {CAROL}", "ok      pager pd"]
    [dm] = dms_to(bot, CAROL)
    assert "Test page from oncall-bot" in dm["text"]
    actions = [r.json["event_action"] for r in receiver.requests]
    assert actions == ["trigger", "resolve"]
    assert receiver.requests[0].json["dedup_key"].startswith("oncall-bot-test-")


async def test_a_test_page_reports_a_pager_that_fails(bot, receiver, monkeypatch):
    from bot.delivery_run import send_test_page

    monkeypatch.delenv("TEST_PD_KEY")
    results = await send_test_page(bot.parts.settings, bot.parts.config, CAROL)

    assert results[1] == "FAILED  pager pd: TEST_PD_KEY is not set"


async def test_an_ack_not_followed_by_a_resolve_in_time_triggers_again(bot):
    incident_id = await open_paged_incident(bot)
    await bot.click("incident.ack", incident_id, user=CAROL)
    await bot.drain()

    bot.clock.advance(minutes=31)
    await tick(bot)

    incident = await bot.incident(incident_id)
    assert incident.status == "triggered"
    assert "ack_timeout" in await bot.timeline_kinds(incident_id)
    assert len(dms_to(bot, CAROL)) == 1  # her DM is updated in place, not posted again
    assert any("Paging" in t for t in thread_texts(bot)[1:])


async def test_members_of_a_responder_user_group_may_act(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("TEST_PD_KEY", "k")
    config = CONFIG.format(receiver=receiver.url).replace(
        "responders: [U0PLATFORM1]", "responders: [S0PLATFORM]")
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=config)
    bot.slack.add_usergroup("S0PLATFORM", "platform-oncall", ["U0GROUPIE1"])
    try:
        incident_id = await open_paged_incident(bot)
        assert await bot.click("incident.ack", incident_id, user="U0GROUPIE1") == 200
        assert (await bot.incident(incident_id)).acked_by == "U0GROUPIE1"
        assert await bot.click("incident.ack", incident_id, user="U0OUTSIDER") == 200
        assert "denied" in await bot.timeline_kinds(incident_id)
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_maintenance_turns_pages_into_notifications_until_it_ends(bot):
    reply = await bot.slash("maintenance platform for 1h db upgrade", user="U0ADMIN001")
    assert "maintenance until" in reply["text"]

    incident_id = await open_paged_incident(bot)
    assert dms_to(bot, CAROL) == []
    assert "maintenance" in await bot.timeline_kinds(incident_id)

    bot.clock.advance(hours=1)
    await tick(bot)
    assert len(dms_to(bot, CAROL)) == 1  # still open when the window ended: now it pages


async def test_override_from_slack_makes_someone_primary_now(bot):
    reply = await bot.slash(f"override <@{BOB}|bob> for 2h platform", user="U0ADMIN001")
    assert "on call for platform" in reply["text"]

    await open_paged_incident(bot)

    assert len(dms_to(bot, BOB)) == 1 and dms_to(bot, CAROL) == []
    who = (await bot.slash("who platform"))["text"]
    assert f"primary <@{BOB}>" in who


async def test_a_webhook_pager_gets_a_signed_page_and_its_acknowledge(tmp_path, receiver,
                                                                      monkeypatch):
    monkeypatch.setenv("TEST_BRIDGE_SECRET", "bridge-secret")
    config = CONFIG.format(receiver=receiver.url).replace(
        '      - {notify: [primary], after: 0m}',
        '      - {notify: [primary, "pager:bridge"], after: 0m}').replace(
        "pagers:\n", f"pagers:\n  bridge: {{type: webhook, url: \"{receiver.url}/bridge\", "
                     "secret_env: TEST_BRIDGE_SECRET}\n")
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=config)
    bot.slack.add_user(CAROL, "carol")
    try:
        incident_id = await open_paged_incident(bot)
        [page] = receiver.requests
        assert page.path == "/bridge" and page.json["event"] == "trigger"
        assert page.json["person"] is None and page.json["incident"]["id"] == incident_id
        assert verify(page.headers["X-Oncall-Signature"], page.body, "bridge-secret",
                      int(bot.clock.now().timestamp()))

        await bot.click("incident.ack", incident_id, user=CAROL)
        await bot.drain()
        assert receiver.requests[-1].json["event"] == "acknowledge"
        assert receiver.requests[-1].headers["Idempotency-Key"] != page.headers["Idempotency-Key"]
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_escalate_to_a_user_group_mentions_it_in_the_thread(bot):
    incident_id = await open_paged_incident(bot)
    view = await bot.open_modal("incident.escalate", incident_id, user=CAROL)
    assert any(b.get("block_id") == "usergroup" for b in view["blocks"])  # S0HUMANS01 known

    await bot.submit_view(view["callback_id"], view["private_metadata"],
                          {"how": radio("usergroup"),
                           "usergroup": {"type": "static_select",
                                         "selected_option": {"value": "S0HUMANS01"}}},
                          user=CAROL)
    await bot.drain()

    assert any("<!subteam^S0HUMANS01>" in t for t in thread_texts(bot))


async def test_a_level_that_resolves_to_nobody_is_skipped_at_once(tmp_path, receiver):
    config = CONFIG.format(receiver=receiver.url).replace(
        "members: [U0ALICE001, U0BOBBY002, U0CAROL003]", "members: [U0ALICE001]").replace(
        '      - {notify: [primary], after: 0m}\n', '      - {notify: [secondary], after: 0m}\n'
        '      - {notify: [primary], after: 0m}\n')
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=config)
    bot.slack.add_user(ALICE, "alice")
    try:
        incident_id = await open_paged_incident(bot)

        kinds = await bot.timeline_kinds(incident_id)
        assert kinds.index("level_skipped") < kinds.index("paged")  # one member: no secondary
        assert len(dms_to(bot, ALICE)) == 1
    finally:
        await bot.close()
        await bot.slack.stop()
