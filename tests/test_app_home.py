"""The App Home: published on app_home_opened, working buttons, refreshed when incidents change."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest

from bot.slack.action_ids import ActionId, IncidentRef
from tests.appkit import CHANNELS, BotUnderTest, start_bot
from tests.fakes.slack_api import FakeSlack

CONFIG = """
teams:
  platform: {channel: "#platform-oncall", responders: [U0PLATFORM1], schedule: platform,
             escalation_policy: standard}
  ai-eng: {channel: "#ai-eng-oncall", responders: [U0AIENG001]}
route:
  receiver: platform
  group_by: [alertname]
schedules:
  platform:
    time_zone: UTC
    start: "2026-11-16 09:00"
    rotation: weekly
    members: [U0ONCALL01, U0PLATFORM1]
escalation_policies:
  standard:
    levels:
      - {notify: [primary], after: 0m}
"""
ONCALL, RESPONDER, STRANGER = "U0ONCALL01", "U0PLATFORM1", "U0STRANGE1"


@pytest.fixture
async def bot(tmp_path):
    slack = FakeSlack(bot_token="xoxb-test")
    for channel_id, name in CHANNELS.items():
        slack.add_channel(channel_id, name)
    for user in (ONCALL, RESPONDER, STRANGER, "U0AIENG001"):
        slack.add_user(user, user.lower())
    await slack.start()
    running = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=CONFIG, slack=slack)
    yield running
    await running.close()
    await slack.stop()


async def open_home(bot: BotUnderTest, user: str, tab: str = "home",
                    event_id: str = "EvHome001") -> dict | None:
    """A signed app_home_opened event; returns the Home Slack was last given for the user."""
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME0001", "tab": tab,
             "event_ts": f"{time.time():.6f}"}
    body = json.dumps({"token": "t", "team_id": "T0001", "api_app_id": "A0APPID001",
                       "event": event, "type": "event_callback", "event_id": event_id,
                       "event_time": int(time.time())})
    assert await bot.signed_post("/slack/events", body, json_body=True) == 200
    await bot.listeners_done()
    await bot.drain()
    return last_home(bot, user)


def last_home(bot: BotUnderTest, user: str) -> dict | None:
    published = [c.args for c in bot.slack.calls_to("views.publish")
                 if c.args["user_id"] == user]
    return published[-1]["view"] if published else None


def texts(view: dict) -> str:
    return json.dumps(view["blocks"])


def home_buttons(view: dict) -> list[tuple[str, str]]:
    return [(e["text"]["text"], e["value"]) for b in view["blocks"] if b["type"] == "actions"
            for e in b["elements"]]


async def declare(bot: BotUnderTest, words: str) -> int:
    await bot.slash(words, user=STRANGER, channel="C0ELSEWHERE")
    await bot.drain()
    return (await bot.incidents())[-1].id


async def home_click(bot: BotUnderTest, action_id: str, incident_id: int, user: str) -> int:
    """A block_actions from a Home view: a view container, no channel, no response_url."""
    body = {"type": "block_actions", "trigger_id": "1337.42.home", "api_app_id": "A0APPID001",
            "team": {"id": "T0001", "domain": "acme"},
            "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
            "container": {"type": "view", "view_id": f"VHOME{user}"},
            "view": {"id": f"VHOME{user}", "type": "home", "blocks": [], "callback_id": "",
                     "private_metadata": "", "state": {"values": {}}, "hash": "1.2"},
            "actions": [{"action_id": action_id, "block_id": f"home-incident-{incident_id}",
                         "value": IncidentRef(incident_id=incident_id).encode(),
                         "type": "button", "action_ts": f"{time.time():.6f}"}]}
    status = await bot.signed_post("/slack/events",
                                   urllib.parse.urlencode({"payload": json.dumps(body)}))
    await bot.listeners_done()
    return status


async def test_the_home_shows_on_call_shifts_incidents_pages_and_teams(bot):
    incident_id = await declare(bot, "page platform sev1 checkout is down")

    view = await open_home(bot, ONCALL)

    assert view["type"] == "home"
    shown = texts(view)
    assert "You are on call now for *platform*" in shown
    assert "Next shifts" in shown and "<!date^" in shown  # 2026-11-30 09:00, their next turn
    assert "Pages this week: *1*" in shown  # the declared sev1 paged them
    assert f"*#{incident_id}* Declared: checkout is down" in shown
    assert ("Ack", IncidentRef(incident_id=incident_id).encode()) in home_buttons(view)
    assert "*platform*: <@U0ONCALL01>, secondary <@U0PLATFORM1>" in shown


async def test_someone_off_call_sees_so_and_the_messages_tab_publishes_nothing(bot):
    assert await open_home(bot, "U0AIENG001", tab="messages") is None
    view = await open_home(bot, "U0AIENG001", event_id="EvHome002")
    shown = texts(view)
    assert "You are not on call now" in shown and "Nothing open for you" in shown
    assert "*ai-eng*: nobody scheduled" in shown and "none scheduled" in shown


async def test_ack_from_the_home_acks_and_re_renders_the_home(bot):
    incident_id = await declare(bot, "page platform sev1 checkout is down")
    await open_home(bot, ONCALL)

    assert await home_click(bot, ActionId.INCIDENT_ACK.value, incident_id, ONCALL) == 200
    await bot.drain()

    assert (await bot.incident(incident_id)).acked_by == ONCALL
    view = last_home(bot, ONCALL)
    assert "acknowledged, acked by <@U0ONCALL01>" in texts(view)
    assert [label for label, _ in home_buttons(view)] == ["Resolve", "Post update"]


async def test_resolve_from_the_home_opens_the_resolve_modal(bot):
    incident_id = await declare(bot, "page platform sev1 checkout is down")
    await open_home(bot, ONCALL)

    await home_click(bot, ActionId.INCIDENT_RESOLVE.value, incident_id, ONCALL)

    [opened] = bot.slack.calls_to("views.open")
    assert opened.args["view"]["callback_id"] == "incident.resolve.submit"


async def test_post_update_from_the_home_opens_the_update_form(bot):
    incident_id = await declare(bot, "page platform sev1 checkout is down")
    await open_home(bot, ONCALL)

    await home_click(bot, ActionId.INCIDENT_POST_UPDATE.value, incident_id, ONCALL)

    [opened] = bot.slack.calls_to("views.open")
    assert opened.args["view"]["callback_id"] == "status_update.submit"


async def test_a_refusal_from_the_home_is_shown_in_a_modal(bot):
    incident_id = await declare(bot, "page platform sev1 checkout is down")

    await home_click(bot, ActionId.INCIDENT_ACK.value, incident_id, STRANGER)

    [opened] = bot.slack.calls_to("views.open")
    assert ":no_entry:" in json.dumps(opened.args["view"])
    assert (await bot.incident(incident_id)).status == "triggered"


async def test_homes_are_republished_when_their_incidents_change_and_only_those(bot):
    await open_home(bot, ONCALL)
    await open_home(bot, "U0AIENG001", event_id="EvHome002")
    before = len(bot.slack.calls_to("views.publish"))

    incident_id = await declare(bot, "page platform sev2 search is slow")
    await bot.slash(f"ack #{incident_id}", user=RESPONDER)
    await bot.slash(f"note #{incident_id} looking", user=RESPONDER)
    await bot.drain()

    published = [c.args["user_id"] for c in bot.slack.calls_to("views.publish")][before:]
    assert ONCALL in published and "U0AIENG001" not in published
    assert f"*#{incident_id}*" in texts(last_home(bot, ONCALL))
    assert RESPONDER not in published  # never opened the Home: nothing published for them
