"""Private teams: incidents, timelines and postmortems only for the team's responders."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from bot.domain.privacy import may_see
from bot.store.models import AuditRow
from tests.appkit import BotUnderTest, eventually, payload, start_bot

SECOPS, PLATFORM, STRANGER, ADMIN = "U0SECOPS01", "U0PLATFORM1", "U0STRANGER1", "U0ADMIN001"

CONFIG = """
teams:
  platform: {channel: "#platform-oncall", responders: [U0PLATFORM1]}
  secops: {channel: "#secops", responders: [U0SECOPS01], private: true}
admins: [U0ADMIN001]
route:
  receiver: platform
  group_by: [alertname]
  routes:
    - {matchers: ['alert_type="security"'], receiver: secops}
"""


@pytest.fixture
async def bot(tmp_path):
    running = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=CONFIG)
    running.slack.add_channel("G0SECOPS01", "secops", is_private=True)
    yield running
    await running.close()
    await running.slack.stop()


async def open_incident(bot: BotUnderTest, alert_type: str, name: str) -> int:
    body = payload("alertmanager/firing-model-ftl-p95.json")
    body["alerts"][0]["labels"].update({"alert_type": alert_type, "alertname": name})
    body["alerts"][0]["fingerprint"] = name
    await bot.post_alerts(body)
    await bot.drain()
    return max(i.id for i in await bot.incidents())


async def test_a_private_teams_timeline_is_refused_to_outsiders(bot):
    incident_id = await open_incident(bot, "security", "TokenLeak")

    refused = await bot.slash(f"timeline #{incident_id}", user=STRANGER)
    shown = await bot.slash(f"timeline #{incident_id}", user=SECOPS)
    admin = await bot.slash(f"timeline #{incident_id}", user=ADMIN)

    assert "private team" in refused["text"] and "TokenLeak" not in refused["text"]
    [denial] = await bot._all(select(AuditRow).where(AuditRow.outcome == "refused"))
    assert (denial.actor, denial.action, denial.target) == (STRANGER, "timeline",
                                                            f"incident:{incident_id}")
    assert "TokenLeak" in shown["text"] and "received" in shown["text"]
    assert "TokenLeak" in admin["text"]


async def test_a_public_teams_timeline_is_open_to_anyone(bot):
    incident_id = await open_incident(bot, "infra", "DiskFull")
    reply = await bot.slash(f"timeline #{incident_id}", user=STRANGER)
    assert "DiskFull" in reply["text"]


async def test_a_private_teams_postmortem_is_refused_to_outsiders(bot):
    incident_id = await open_incident(bot, "security", "TokenLeak")

    reply = await bot.slash(f"postmortem #{incident_id}", user=STRANGER)
    await bot.drain()

    assert "private team" in reply["text"]
    assert [i for i in await bot.intents() if i.kind == "file_upload"] == []
    assert "postmortem_drafted" not in await bot.timeline_kinds(incident_id)


async def test_incident_listings_leave_out_private_teams_for_outsiders(bot):
    private_id = await open_incident(bot, "security", "TokenLeak")
    public_id = await open_incident(bot, "infra", "DiskFull")
    message = {"type": "message", "user": "U0OBSERVER", "ts": "1700000000.000901",
               "text": "customers report dropped calls"}

    for user in (STRANGER, SECOPS):
        await bot.shortcut("timeline.add", message, user=user, channel="C0ELSEWHERE")
    opened = await eventually(lambda: len(bot.slack.calls_to("views.open")) == 2
                              and bot.slack.calls_to("views.open"))

    offered = [json.dumps(call.args["view"]) for call in opened]
    assert f"#{public_id} " in offered[0] and f"#{private_id} " not in offered[0]
    assert f"#{private_id} " in offered[1] and f"#{public_id} " in offered[1]


def test_may_see_rules():
    assert may_see("U1", private=False, responders=["U2"])
    assert not may_see("U1", private=True, responders=["U2"])
    assert may_see("U1", private=True, responders=["S0GROUP"], groups=["S0GROUP"])
    assert may_see("U9", private=True, responders=["U2"], admins=["U9"])


async def test_a_private_teams_silences_and_action_items_are_listed_only_to_its_people(bot):
    incident_id = await open_incident(bot, "security", "TokenLeak")
    made = await bot.slash('silence team="secops",alertname="TokenLeak" for 1h rotating keys',
                           user=SECOPS)
    assert "Silence" in made["text"] or "silence" in made["text"]
    message = await bot.message_of(incident_id)  # an action item in the incident's thread
    await bot.mention(f"action <@{SECOPS}> rotate the leaked key", user=SECOPS,
                      channel=message.channel_id, thread_ts=message.ts)
    await eventually(lambda: bot.slack.calls_to("chat.postEphemeral"))

    for user, sees in ((STRANGER, False), (SECOPS, True), (ADMIN, True)):
        silences = (await bot.slash("silences", user=user))["text"]
        actions = (await bot.slash("actions", user=user))["text"]
        assert ("rotating keys" in silences) is sees, (user, silences)
        assert ("rotate the leaked key" in actions) is sees, (user, actions)
