"""Declare from Slack, stakeholder updates and their reminders, as signed Slack requests."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from sqlmodel import col, select

from bot.services import update_reminders
from bot.slack.action_ids import ActionId
from bot.slack.stakeholders.blocks import SHORTCUT_DECLARE, StakeholderViewId
from bot.store.models import AuditRow, PageRow, TimelineEvent
from tests.appkit import CHANNELS, BotUnderTest, database_url, start_bot, text_input
from tests.fakes.slack_api import FakeSlack

CONFIG = """
teams:
  platform: {channel: "#platform-oncall", responders: [U0PLATFORM1], schedule: platform,
             escalation_policy: standard, status_channel: "#status"}
  ai-eng: {channel: "#ai-eng-oncall", responders: [U0AIENG001], schedule: ai,
           escalation_policy: standard}
admins: [U0ADMIN001]
declare: {max_per_person: 2, per: 10m}
route:
  receiver: platform
  group_by: [alertname]
schedules:
  platform: {time_zone: UTC, start: "2026-11-02 09:00", rotation: weekly, members: [U0ONCALL01]}
  ai: {time_zone: UTC, start: "2026-11-02 09:00", rotation: weekly, members: [U0AIONCALL]}
escalation_policies:
  standard:
    levels:
      - {notify: [primary], after: 0m}
"""
STRANGER = "U0SUPPORT1"  # a support lead: no team, not on call


@pytest.fixture
async def bot(request, tmp_path):
    slack = FakeSlack(bot_token="xoxb-test")
    for channel_id, name in {**CHANNELS, "CSTATUS001": "status"}.items():
        slack.add_channel(channel_id, name)
    for user in ("U0PLATFORM1", "U0AIENG001", "U0ONCALL01", "U0AIONCALL", STRANGER):
        slack.add_user(user, user.lower())
    await slack.start()
    running = await start_bot(database_url(request, tmp_path), config=CONFIG, slack=slack)
    yield running
    await running.close()
    await slack.stop()


async def rows(bot: BotUnderTest, model, *where) -> list:
    async with bot.parts.db.reader() as s:
        return list((await s.exec(select(model).where(*where).order_by(col(model.id)))).all())


# -- declare ----------------------------------------------------------------------------


async def test_anyone_declares_with_the_command_and_the_team_is_paged(bot):
    reply = await bot.slash("page ai-eng sev1 customers hear <!channel> silence", user=STRANGER,
                            channel="C0ELSEWHERE")
    await bot.drain()

    [incident] = await bot.incidents()
    assert reply["text"] == f":rotating_light: Declared #{incident.id} (sev1) in #ai-eng-oncall."
    assert (incident.team, incident.channel, incident.severity) == (
        "ai-eng", "#ai-eng-oncall", "critical")  # routed by team, not by the route tree
    [alert] = await bot.alerts()
    assert alert.source == "slack" and alert.labels["team"] == "ai-eng"
    posted = bot.slack.messages("CAIENG0001")[0]
    assert "customers hear" in posted["text"] and "<!channel>" not in json.dumps(posted)
    thread = [m["text"] for m in bot.slack.messages("CAIENG0001") if m.get("thread_ts")]
    assert any(f"declared by <@{STRANGER}> (sev1)" in t and "&lt;!channel&gt;" in t
               for t in thread)
    pages = await rows(bot, PageRow, PageRow.incident_id == incident.id)
    assert [p.target for p in pages] == ["U0AIONCALL"]  # ai-eng's policy, its primary
    assert bot.slack.messages(bot.slack.dm_channel("U0AIONCALL"))
    declared = await rows(bot, TimelineEvent, TimelineEvent.kind == "declared")
    assert declared[0].actor == STRANGER and f"<@{STRANGER}>" in declared[0].text
    [audited] = await rows(bot, AuditRow, AuditRow.action == "declare")
    assert (audited.actor, audited.outcome, audited.team) == (STRANGER, "done", "ai-eng")


async def test_sev3_posts_without_paging_and_the_default_is_sev2(bot):
    await bot.slash("page platform slow dashboards", user=STRANGER)
    await bot.slash("page platform sev3 a typo on the status page", user=STRANGER)
    await bot.drain()

    first, second = await bot.incidents()
    assert (first.severity, first.action) == ("error", "page")
    assert (second.severity, second.action) == ("warning", "notify")
    assert [p.incident_id for p in await rows(bot, PageRow)] == [first.id]


async def test_a_bad_team_is_answered_with_the_valid_teams(bot):
    reply = await bot.slash("page voice sev1 calls drop", user=STRANGER)

    assert reply["response_type"] == "ephemeral"
    assert "no team 'voice'" in reply["text"] and "ai-eng, platform" in reply["text"]
    assert await bot.incidents() == []


async def test_declaring_is_rate_limited_per_person(bot):
    for n in range(2):
        await bot.slash(f"page platform sev2 problem {n}", user=STRANGER)
    refused = await bot.slash("page platform sev2 problem 3", user=STRANGER)
    other = await bot.slash("page platform sev2 someone else's", user="U0AIENG001")

    assert "declared 2 incidents in the last 10 minutes" in refused["text"]
    assert refused["response_type"] == "ephemeral"
    assert "Declared" in other["text"]
    assert len(await bot.incidents()) == 3
    refusals = await rows(bot, AuditRow, AuditRow.outcome == "refused")
    assert [(r.actor, r.action) for r in refusals] == [(STRANGER, "declare")]

    bot.clock.advance(minutes=11)  # the window slides: they may again
    assert "Declared" in (await bot.slash("page platform sev2 later", user=STRANGER))["text"]


async def shortcut(bot: BotUnderTest, user: str) -> int:
    """A global shortcut as Slack posts it (no channel, no message, no response_url)."""
    body = {"type": "shortcut", "callback_id": SHORTCUT_DECLARE, "trigger_id": "1.2.3",
            "team": {"id": "T0001", "domain": "acme"}, "action_ts": "1.2",
            "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
            "api_app_id": "A0APPID001", "token": "t", "is_enterprise_install": False,
            "enterprise": None}
    status = await bot.signed_post("/slack/events",
                                   urllib.parse.urlencode({"payload": json.dumps(body)}))
    await bot.listeners_done()
    return status


def select_value(value: str) -> dict:
    return {"type": "static_select", "selected_option": {"value": value}}


async def test_declare_by_shortcut_and_modal(bot):
    assert await shortcut(bot, STRANGER) == 200
    [opened] = bot.slack.calls_to("views.open")
    view = opened.args["view"]
    assert view["callback_id"] == StakeholderViewId.DECLARE
    team_block = next(b for b in view["blocks"] if b.get("block_id") == "team")
    assert [o["value"] for o in team_block["element"]["options"]] == ["ai-eng", "platform"]

    answer = await bot.submit_view(StakeholderViewId.DECLARE, "", {
        "team": select_value("ai-eng"), "severity": select_value("sev1"),
        "summary": text_input("voice agent answers in French"),
        "service": text_input("voice-agent")}, user=STRANGER)
    await bot.drain()

    [incident] = await bot.incidents()
    assert answer["response_action"] == "update"
    assert f"Declared #{incident.id}" in json.dumps(answer["view"])
    assert (incident.team, incident.service, incident.severity) == ("ai-eng", "voice-agent",
                                                                    "critical")
    assert [p.target for p in await rows(bot, PageRow)] == ["U0AIONCALL"]
    assert "declared" in await bot.timeline_kinds(incident.id)


async def test_a_refused_declaration_is_shown_in_the_modal(bot):
    answer = await bot.submit_view(StakeholderViewId.DECLARE, "", {
        "team": select_value("platform"), "severity": select_value("sev2"),
        "summary": text_input("x" * 301)}, user=STRANGER)

    assert answer["response_action"] == "errors" and "301 characters" in answer["errors"][
        "summary"]
    assert await bot.incidents() == []


# -- status updates ---------------------------------------------------------------------


async def declared(bot: BotUnderTest, words: str = "page platform sev1 checkout fails") -> int:
    await bot.slash(words, user=STRANGER)
    await bot.drain()
    return (await bot.incidents())[-1].id


async def test_an_update_by_command_reaches_thread_status_channel_and_timeline(bot):
    incident_id = await declared(bot)
    reply = await bot.slash(f"update #{incident_id} rolled back; <!here> errors falling",
                            user="U0PLATFORM1")
    await bot.drain()

    assert reply["text"] == f":loudspeaker: Update posted on #{incident_id}."
    thread = [m for m in bot.slack.messages("CPLATFORM1") if m.get("thread_ts")]
    assert any("rolled back" in m["text"] and "&lt;!here&gt;" in m["text"] for m in thread)
    [status] = bot.slack.messages("CSTATUS001")
    assert f"#{incident_id}" in status["text"] and "errors falling" in status["text"]
    assert "<!here>" not in status["text"]
    [row] = await rows(bot, TimelineEvent, TimelineEvent.kind == "status_update")
    assert (row.actor, row.text, row.data) == (
        "U0PLATFORM1", "rolled back; <!here> errors falling", {"public": True})
    assert [a.action for a in await rows(bot, AuditRow, AuditRow.outcome == "done")][-1] == (
        "status_update")


async def test_a_stranger_may_declare_but_not_post_updates(bot):
    incident_id = await declared(bot)
    reply = await bot.slash(f"update #{incident_id} all good", user=STRANGER)

    assert ":no_entry:" in reply["text"]
    assert await rows(bot, TimelineEvent, TimelineEvent.kind == "status_update") == []


def test_check_looks_for_the_status_channel_in_slack_too():
    from bot.config import parse_config
    from bot.preflight import slack_targets

    channels = slack_targets(parse_config(CONFIG)).channels
    assert channels["#status"] == "teams.platform.status_channel"


def test_update_every_must_be_positive():
    from bot.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as raised:
        parse_config(CONFIG.replace("status_channel: \"#status\"}",
                                    "status_channel: \"#status\", update_every: 0s}"))
    assert "teams.platform.update_every" in str(raised.value)


async def test_post_update_button_opens_a_modal_whose_submission_posts(bot):
    incident_id = await declared(bot)
    message = bot.slack.messages("CPLATFORM1")[0]
    buttons = [e["text"]["text"] for b in message["blocks"] if b["type"] == "actions"
               for e in b["elements"]]
    assert "Post update" in buttons

    view = await bot.open_modal(ActionId.INCIDENT_POST_UPDATE, incident_id)
    assert view["callback_id"] == StakeholderViewId.UPDATE
    answer = await bot.submit_view(StakeholderViewId.UPDATE, view["private_metadata"],
                                   {"text": text_input("provider fixed it")})
    await bot.drain()

    assert answer["response_action"] == "update"
    assert any("provider fixed it" in m["text"] for m in bot.slack.messages("CSTATUS001"))
    assert "status_update" in await bot.timeline_kinds(incident_id)


async def test_updates_are_in_the_postmortem(bot):
    incident_id = await declared(bot)
    await bot.slash(f"update #{incident_id} mitigated by failover", user="U0PLATFORM1")
    from bot.services.postmortem import draft

    markdown = await draft(bot.parts.services, incident_id)
    assert "## Updates" in markdown and "mitigated by failover" in markdown


# -- reminders --------------------------------------------------------------------------


def reminders(bot: BotUnderTest) -> list[dict]:
    return [m for m in bot.slack.messages("CPLATFORM1")
            if m.get("thread_ts") and "no stakeholder update" in m["text"]]


async def test_a_silent_sev1_is_reminded_once_per_interval_mentioning_the_acker(bot):
    incident_id = await declared(bot)
    await bot.slash(f"ack #{incident_id}", user="U0PLATFORM1")
    ctx = bot.parts.services

    bot.clock.advance(minutes=29)
    assert await update_reminders.tick(ctx) == 0
    bot.clock.advance(minutes=1)
    assert await update_reminders.tick(ctx) == 1
    assert await update_reminders.tick(ctx) == 0  # not at every tick
    bot.clock.advance(minutes=10)
    assert await update_reminders.tick(ctx) == 0
    await bot.drain()

    [reminder] = reminders(bot)
    assert "<@U0PLATFORM1>" in reminder["text"]
    assert (await bot.timeline_kinds(incident_id)).count("update_reminder") == 1

    await bot.slash(f"update #{incident_id} still on it", user="U0PLATFORM1")
    bot.clock.advance(minutes=29)
    assert await update_reminders.tick(ctx) == 0  # the update restarted the interval
    bot.clock.advance(minutes=1)
    assert await update_reminders.tick(ctx) == 1


async def test_sev3_and_resolved_incidents_get_no_reminder(bot):
    sev3 = await declared(bot, "page platform sev3 minor glitch")
    sev1 = await declared(bot, "page platform sev1 outage")
    await bot.slash(f"resolve #{sev1} fixed", user="U0PLATFORM1")

    bot.clock.advance(hours=2)
    assert await update_reminders.tick(bot.parts.services) == 0
    assert "update_reminder" not in await bot.timeline_kinds(sev3)


@pytest.mark.parametrize("bot", ["postgres"], indirect=True)
async def test_two_replicas_ticking_at_once_remind_once(bot):
    incident_id = await declared(bot)
    bot.clock.advance(minutes=31)

    import asyncio
    counts = await asyncio.gather(*(update_reminders.tick(bot.parts.services) for _ in range(3)))

    assert sum(counts) == 1
    assert (await bot.timeline_kinds(incident_id)).count("update_reminder") == 1


async def test_secrets_typed_into_a_declaration_or_an_update_never_leave_the_bot(bot):
    incident_id = await declared(
        bot, "page platform sev1 upstream rejects sk-proj-A1b2C3d4E5f6G7h8I9j0")
    await bot.slash(f"update #{incident_id} rotated xoxb-1111-2222-SECRETslack",
                    user="U0PLATFORM1")
    await bot.drain()

    sent = json.dumps([c.args for c in bot.slack.calls])
    stored = json.dumps([(r.text, r.data) for r in await rows(bot, TimelineEvent)])
    for fragment in ("A1b2C3d4E5f6G7h8I9j0", "SECRETslack"):
        assert fragment not in sent and fragment not in stored
    assert "rotated" in stored and "upstream rejects" in sent


async def test_the_same_declaration_sent_twice_at_once_opens_one_incident(bot):
    await bot.slash("page platform sev1 checkout fails", user=STRANGER)
    again = await bot.slash("page platform sev1 checkout fails", user=STRANGER)

    assert "declared exactly this a moment ago" in again["text"]
    assert len(await bot.incidents()) == 1
