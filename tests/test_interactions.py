"""Buttons, clicked as Slack clicks them: signed block_actions POSTed to /slack/events."""

from __future__ import annotations

import asyncio
import json
import urllib.parse

import pytest

from bot.slack.action_ids import IncidentRef
from tests.appkit import (
    BotUnderTest,
    block_actions,
    database_url,
    eventually,
    payload,
    start_bot,
    text_input,
)

PLATFORM_RESPONDER = "U0PLATFORM1"
STRANGER = "U0STRANGER1"


@pytest.fixture(params=["sqlite", "postgres"])
async def bot(request, tmp_path) -> BotUnderTest:
    running = await start_bot(database_url(request, tmp_path))
    yield running
    await running.close()
    await running.slack.stop()


async def open_incident(bot: BotUnderTest, fixture: str = "firing-model-ftl-p95.json") -> int:
    body = payload(f"alertmanager/{fixture}")
    if fixture == "firing-model-ftl-p95.json":
        body["alerts"][0]["labels"]["alert_type"] = "infra"  # platform: has responders
    await bot.post_alerts(body)
    await bot.drain()
    [incident] = await bot.incidents()
    return incident.id


def ephemeral_texts(bot: BotUnderTest) -> list[str]:
    return [r.get("text", "") for r in bot.slack.responses]


async def test_ack_changes_state_writes_timeline_and_rerenders(bot):
    incident_id = await open_incident(bot)

    assert await bot.click("incident.ack", incident_id, user=PLATFORM_RESPONDER) == 200
    await bot.drain()

    incident = await bot.incident(incident_id)
    assert (incident.status, incident.acked_by) == ("acknowledged", PLATFORM_RESPONDER)
    assert "acked" in await bot.timeline_kinds(incident_id)
    [update] = bot.slack.calls_to("chat.update")
    buttons = [e["action_id"] for b in update.args["blocks"] if b["type"] == "actions"
               for e in b["elements"]]
    assert "incident.ack" not in buttons and "incident.resolve" in buttons
    assert f"<@{PLATFORM_RESPONDER}>" in str(update.args["blocks"])


async def test_a_second_ack_changes_nothing_and_says_who_has_it(bot):
    incident_id = await open_incident(bot)
    await bot.click("incident.ack", incident_id, user=PLATFORM_RESPONDER)
    await bot.drain()

    assert await bot.click("incident.ack", incident_id, user="U0ADMIN001") == 200
    await bot.drain()

    incident = await bot.incident(incident_id)
    assert incident.acked_by == PLATFORM_RESPONDER
    assert (await bot.timeline_kinds(incident_id)).count("acked") == 1
    assert len(bot.slack.calls_to("chat.update")) == 1
    assert any("already acknowledged" in text for text in ephemeral_texts(bot))


async def resolve_by_modal(bot, incident_id: int, user: str, note: str = "") -> dict:
    view = await bot.open_modal("incident.resolve", incident_id, user=user)
    return await bot.submit_view(view["callback_id"], view["private_metadata"],
                                 {"reason": text_input(note)}, user=user)


async def test_resolve_closes_the_incident_and_removes_the_buttons(bot):
    incident_id = await open_incident(bot)

    assert await resolve_by_modal(bot, incident_id, PLATFORM_RESPONDER, "rolled back") == {}
    await bot.drain()

    incident = await bot.incident(incident_id)
    assert (incident.status, incident.resolved_by) == ("resolved", PLATFORM_RESPONDER)
    assert incident.open_key is None
    [update] = bot.slack.calls_to("chat.update")
    actions = [b for b in update.args["blocks"] if b["type"] == "actions"]
    assert [b["block_id"] for b in actions] == [f"incident-feedback-{incident_id}"]  # only


async def test_someone_outside_the_team_gets_an_explanation_not_a_change(bot):
    incident_id = await open_incident(bot)

    assert await bot.click("incident.ack", incident_id, user=STRANGER) == 200
    await bot.drain()

    assert (await bot.incident(incident_id)).status == "triggered"
    assert "denied" in await bot.timeline_kinds(incident_id)
    [reply] = bot.slack.responses
    assert reply["response_type"] == "ephemeral"
    assert "responders" in reply["text"]
    assert bot.slack.calls_to("chat.update") == []


async def test_a_bad_signature_is_refused(bot):
    incident_id = await open_incident(bot)
    raw = urllib.parse.urlencode({"payload": "{}"})

    assert await bot.signed_post("/slack/events", raw, secret="not-the-secret") == 401
    assert (await bot.incident(incident_id)).status == "triggered"


async def test_a_tampered_button_value_is_answered_not_crashed(bot):
    incident_id = await open_incident(bot)

    assert await bot.click("incident.ack", incident_id, value="DROP TABLE") == 200
    # the listener answers after the ack: wait for it, as Slack would
    await eventually(lambda: any("not an incident reference" in text
                                 for text in ephemeral_texts(bot)))


async def test_ack_then_resolve_race_has_one_outcome_each(bot):
    incident_id = await open_incident(bot)

    view = await bot.open_modal("incident.resolve", incident_id, user="U0ADMIN001")
    codes = await asyncio.gather(
        bot.click("incident.ack", incident_id, user=PLATFORM_RESPONDER),
        bot.submit_view(view["callback_id"], view["private_metadata"], {}, user="U0ADMIN001"),
        bot.click("incident.ack", incident_id, user="U0ADMIN001"))
    await bot.drain()

    assert codes == [200, {}, 200]
    incident = await bot.incident(incident_id)
    kinds = await bot.timeline_kinds(incident_id)
    assert kinds.count("resolved") == 1 and kinds.count("acked") <= 1
    assert incident.status == "resolved"


async def test_socket_mode_receives_a_click_and_readyz_tracks_the_connection(tmp_path):
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", socket_mode=True)
    try:
        incident_id = await open_incident(bot)
        form = block_actions("incident.ack", IncidentRef(incident_id=incident_id).encode(),
                             user=PLATFORM_RESPONDER, channel="CPLATFORM1", ts="1.1",
                             response_url=bot.slack.response_url())
        body = json.loads(urllib.parse.parse_qs(form)["payload"][0])

        ack = await bot.slack.socket_mode.send("interactive", body)
        await bot.drain()

        assert ack["envelope_id"].startswith("env-")
        assert (await bot.incident(incident_id)).acked_by == PLATFORM_RESPONDER
        ready = await (await bot.http.get(f"{bot.url}/readyz")).json()
        assert ready["checks"]["slack_socket"] is True
        await bot.slack.socket_mode.close()
        await bot.parts.socket_handler.client.close()
        ready = await (await bot.http.get(f"{bot.url}/readyz")).json()
        assert ready["checks"]["slack_socket"] is False and ready["ready"] is False
    finally:
        await bot.close()
        await bot.slack.stop()
