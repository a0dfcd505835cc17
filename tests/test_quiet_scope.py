"""Silences and maintenance are scoped, capped, announced with End now, and ended by a click."""

from __future__ import annotations

import json

import pytest

from bot.domain.matchers import parse_matchers
from bot.domain.permissions import Action, Allowed, Facts, Refused, decide
from bot.domain.quiet_scope import SilenceScope, silence_scope
from bot.slack.action_ids import ActionId, QuietRef
from bot.store.models import MaintenanceRow, SilenceRow

RESPONDER, ADMIN, STRANGER = "U0PLATFORM1", "U0ADMIN001", "U0STRANGER1"
TEAMS = ("platform", "ai-eng")


# -- the domain ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "team", "broad"), [
    ('team="platform",alertname="FTLHigh"', "platform", False),
    ('alertname="FTLHigh"', None, False),
    ('team="platform"', "platform", True),
    ('team="platform",alertname=~".+"', "platform", True),
    ('team="platform",alertname!=""', "platform", True),
    ('team="platform",alertname=~"FTL.*"', "platform", False),
    ('team="nosuchteam",alertname="X"', None, False),
    ('team=~"platform",alertname="X"', None, False),
])
def test_a_silence_is_scoped_by_an_equality_team_matcher(text, team, broad):
    assert silence_scope(parse_matchers(text), TEAMS) == SilenceScope(team, broad)


def test_decide_names_who_may_when_it_refuses():
    verdict = decide(Action.SILENCE, Facts(target="platform", on_call=True))
    assert isinstance(verdict, Refused)
    assert "silence alerts of platform" in verdict.message
    assert "responders of platform" in verdict.message and "admins" in verdict.message
    assert isinstance(decide(Action.ACK, Facts(target="#1", on_call=True)), Allowed)
    assert isinstance(decide(Action.TEST_PAGE, Facts(target="x", own=True)), Allowed)


def test_the_config_can_reserve_an_action_for_admins():
    facts = Facts(target="platform", responder=True)
    assert decide(Action.OVERRIDE, facts)
    assert not decide(Action.OVERRIDE, facts, admin_only=["override"])
    assert decide(Action.OVERRIDE, Facts(target="platform", admin=True), admin_only=["override"])


# -- end to end -------------------------------------------------------------------------


async def test_a_silence_without_a_team_matcher_needs_an_admin(bot):
    refused = await bot.slash('silence alertname=~".+" for 30d', user=RESPONDER)

    assert "Only admins" in refused["text"] and 'team="NAME"' in refused["text"]
    assert await _rows(bot, SilenceRow) == []
    allowed = await bot.slash('silence alertname="Noisy" for 2h', user=ADMIN)
    assert "Silence 1" in allowed["text"]


async def test_broad_matchers_need_an_admin_even_with_a_team(bot):
    refused = await bot.slash('silence team="platform" alertname=~".+" for 1h', user=RESPONDER)
    assert "Only admins" in refused["text"]
    assert await _rows(bot, SilenceRow) == []


async def test_silences_and_maintenance_are_capped(bot):
    silence = await bot.slash('silence team="platform" alertname="X" for 25h', user=ADMIN)
    maintenance = await bot.slash("maintenance platform for 8d", user=ADMIN)

    assert "permissions.max_silence" in silence["text"] and "1d" in silence["text"]
    assert "permissions.max_maintenance" in maintenance["text"]
    assert await _rows(bot, SilenceRow) == [] and await _rows(bot, MaintenanceRow) == []


async def test_a_silence_is_announced_in_the_team_channel_with_end_now(bot):
    reply = await bot.slash('silence team="platform" alertname="FTLHigh" for 2h *deploy* <!here>',
                            user=RESPONDER)
    await bot.drain()

    assert reply["response_type"] == "ephemeral"
    [post] = [c.args for c in bot.slack.calls_to("chat.postMessage")
              if c.args.get("channel") == "CPLATFORM1"]
    blocks = json.loads(post["blocks"]) if isinstance(post["blocks"], str) else post["blocks"]
    text = blocks[0]["text"]["text"]
    assert f"<@{RESPONDER}>" in text and "`alertname=\"FTLHigh\"`" in text.replace("&quot;", '"')
    assert "<!here>" not in text and "&lt;!here&gt;" in text  # the comment is escaped
    assert "<!date^" in text  # the end time, in each reader's time zone
    button = blocks[1]["elements"][0]
    assert button["action_id"] == ActionId.SILENCE_END
    assert QuietRef.decode(button["value"]).id == 1


async def test_end_now_ends_the_silence_for_a_responder_only(bot):
    await bot.slash('silence team="platform" alertname="FTLHigh" for 2h', user=RESPONDER)
    value = QuietRef(id=1).encode()

    assert await bot.click(ActionId.SILENCE_END, 1, user=STRANGER, value=value) == 200
    [silence] = await _rows(bot, SilenceRow)
    assert silence.ends_at > bot.clock.now()
    assert "Only the responders of platform" in bot.slack.responses[-1]["text"]

    assert await bot.click(ActionId.SILENCE_END, 1, user=RESPONDER, value=value) == 200
    await bot.drain()
    [silence] = await _rows(bot, SilenceRow)
    assert silence.ends_at == bot.clock.now()
    notes = [c.args["text"] for c in bot.slack.calls_to("chat.postMessage")
             if c.args.get("channel") == "CPLATFORM1"]
    assert any("ended early" in text and RESPONDER in text for text in notes)


async def test_maintenance_is_announced_and_ended_by_its_button(bot):
    await bot.slash("maintenance platform for 1h db upgrade", user=RESPONDER)
    await bot.drain()
    [window] = await _rows(bot, MaintenanceRow)
    posts = [c.args for c in bot.slack.calls_to("chat.postMessage")
             if c.args.get("channel") == "CPLATFORM1"]
    assert any("maintenance" in p["text"] for p in posts)

    await bot.click(ActionId.MAINTENANCE_END, 1, user=RESPONDER,
                    value=QuietRef(id=window.id).encode())

    [window] = await _rows(bot, MaintenanceRow)
    assert window.ends_at == bot.clock.now()


async def _rows(bot, model) -> list:
    from sqlmodel import select
    return await bot._all(select(model))
