"""Permission details the walk does not cover: admin user groups, config keys, the exceptions
for oneself and for an incident's own channel."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.config import ConfigError, parse_config
from bot.store.models import AuditRow, SilenceRow
from tests.appkit import CHANNELS, CONFIG, payload, start_bot

STRANGER, RESPONDER = "U0STRANGER1", "U0PLATFORM1"


def test_permission_keys_are_validated_with_their_names():
    config = parse_config(CONFIG + "permissions: {max_silence: 2h, admin_only: [override]}\n")
    assert config.permissions.max_silence.total_seconds() == 7200
    assert [a.value for a in config.permissions.admin_only] == ["override"]
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG + "permissions: {admin_only: [make_coffee]}\naudit: {keep: 1d}\n")
    keys = {problem.key for problem in caught.value.problems}
    assert "permissions.admin_only[0]" in keys and "audit.keep" in keys


async def test_members_of_an_admin_user_group_are_admins(tmp_path):
    config = CONFIG.replace("admins: [U0ADMIN001]", "admins: [S0ADMINS01]")
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=config)
    bot.slack.add_usergroup("S0ADMINS01", "oncall-admins", ["U0GROUPADM"])
    try:
        allowed = await bot.slash('silence alertname="Noisy" for 1h', user="U0GROUPADM")
        refused = await bot.slash('silence alertname="Noisy" for 1h', user=STRANGER)
        assert "Silence 1" in allowed["text"] and "Only admins" in refused["text"]
        assert len(await bot._all(select(SilenceRow))) == 1
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_anyone_may_test_page_themselves_but_not_a_colleague(bot):
    assert "Sending a test page" in (await bot.slash("test-page", user=STRANGER))["text"]
    refused = await bot.slash(f"test-page <@{RESPONDER}|r>", user=STRANGER)
    assert "Only the responders of platform" in refused["text"]


async def test_a_timeline_is_open_in_its_own_channel_and_closed_elsewhere(bot):
    body = payload("alertmanager/firing-model-ftl-p95.json")
    body["alerts"][0]["labels"]["alert_type"] = "infra"
    await bot.post_alerts(body)
    await bot.drain()
    [incident] = await bot.incidents()
    here = next(cid for cid, name in CHANNELS.items() if name == "platform-oncall")

    inside = await bot.slash(f"timeline #{incident.id}", user=STRANGER, channel=here)
    outside = await bot.slash(f"timeline #{incident.id}", user=STRANGER, channel="CFINOPS001")
    responder = await bot.slash(f"timeline #{incident.id}", user=RESPONDER, channel="CFINOPS001")

    assert "*Timeline of #" in inside["text"] and "*Timeline of #" in responder["text"]
    assert "Only the responders" in outside["text"] and "Timeline of" not in outside["text"]
    [row] = await bot._all(select(AuditRow).where(AuditRow.outcome == "refused"))
    assert (row.actor, row.action, row.incident_id) == (STRANGER, "timeline", incident.id)
