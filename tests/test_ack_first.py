"""Slack's 3-second clock: every click is answered 200 at once, whatever the database or Slack
is doing, and whatever goes wrong afterwards reaches the clicker as words, never an HTTP 500.

The figures (`ACK ...` lines, shown with `pytest -s`) are the ones the issue asks for;
bench/ack_latency.py measures the same under a real 1,000-alert webhook.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

from bot.slack.action_ids import IncidentRef
from bot.slack.digest.blocks import DigestLineRef
from tests.appkit import CONFIG, BotUnderTest, block_actions, payload, start_bot, text_input

RESPONDER = "U0PLATFORM1"
SLACK_LIMIT = 3.0


async def open_incident(bot: BotUnderTest) -> int:
    body = payload("alertmanager/firing-model-ftl-p95.json")
    body["alerts"][0]["labels"]["alert_type"] = "infra"  # platform: has responders
    await bot.post_alerts(body)
    await bot.drain()
    [incident] = await bot.incidents()
    return incident.id


def lock_database(tmp_path) -> sqlite3.Connection:
    """Another writer holding SQLite's lock: nobody else reads or writes until it closes."""
    locker = sqlite3.connect(tmp_path / "oncall.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    return locker


async def timed_click(bot: BotUnderTest, action_id: str, incident_id: int,
                      user: str = RESPONDER, value: str | None = None) -> tuple[int, float]:
    """The HTTP status Slack would see and how long it waited for it, in seconds; the click
    comes from the incident's message in #platform-oncall (no database read here)."""
    value = value or IncidentRef(incident_id=incident_id).encode()
    body = block_actions(action_id, value, user=user,
                         channel="CPLATFORM1", ts="1.1",
                         response_url=bot.slack.response_url(f"{action_id}-{user}"))
    started = time.monotonic()
    status = await bot.signed_post("/slack/events", body)
    return status, time.monotonic() - started


def ephemeral_texts(bot: BotUnderTest) -> list[str]:
    return [r.get("text", "") for r in bot.slack.responses]


async def test_a_click_is_acked_at_once_while_sqlite_is_write_locked(bot, tmp_path):
    incident_id = await open_incident(bot)
    locker = sqlite3.connect(tmp_path / "oncall.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # nobody else may read or write until it commits
    try:
        status, waited = await timed_click(bot, "incident.ack", incident_id)
        print(f"\nACK with the database write-locked: {waited * 1000:.0f} ms")
        assert status == 200 and waited < 1.0
    finally:
        locker.close()  # the listener, waiting on the lock, goes on
    await bot.listeners_done()
    assert (await bot.incident(incident_id)).acked_by == RESPONDER


async def test_a_modal_button_is_acked_before_a_slow_views_open(bot):
    incident_id = await open_incident(bot)
    bot.slack.hang_next("views.open", 2.5)

    status, waited = await timed_click(bot, "incident.resolve", incident_id)
    print(f"\nACK with views.open answering in 2.5 s: {waited * 1000:.0f} ms")
    await bot.listeners_done()

    assert status == 200 and waited < 1.0
    [opened] = bot.slack.calls_to("views.open")
    assert opened.args["view"]["callback_id"] == "incident.resolve.submit"


async def test_an_expired_trigger_id_is_told_to_the_clicker_not_a_500(bot):
    incident_id = await open_incident(bot)
    bot.slack.fail_next("views.open", status=200, error="expired_trigger_id")

    assert await bot.click("incident.escalate", incident_id) == 200

    [text] = ephemeral_texts(bot)
    assert "click the button again" in text
    assert bot.slack.responses[0]["response_type"] == "ephemeral"


async def test_every_button_answers_with_an_error_id_when_the_database_is_gone(bot, tmp_path,
                                                                                caplog):
    incident_id = await open_incident(bot)
    await bot.parts.db.dispose()
    (tmp_path / "oncall.db").unlink()  # the next connection finds an empty database

    digest_line = DigestLineRef(team="platform", service="chat", model="gpt", since=0,
                                until=3600).encode()
    for action_id in ("incident.ack", "incident.resolve", "incident.escalate",
                      "incident.runbook_start", "digest.open_incident.0"):
        value = digest_line if action_id.startswith("digest") else None
        status, waited = await timed_click(bot, action_id, incident_id, value=value)
        assert status == 200 and waited < SLACK_LIMIT, action_id
    await bot.listeners_done()

    texts = ephemeral_texts(bot)
    assert len(texts) == 5 and all("error id" in text for text in texts), texts
    error_ids = [text.split("error id ")[1][:8] for text in texts]
    logged = "\n".join(r.getMessage() for r in caplog.records
                       if r.name == "bot.slack.transport.answers")
    assert all(error_id in logged for error_id in error_ids)
    for secret_ish in ("13345224609", bot.slack.response_url("x")[:20], "SELECT", "[parameters"):
        assert secret_ish not in logged  # no request body, response_url or SQL


async def test_a_slow_submission_updates_the_modal_within_the_budget(bot, tmp_path):
    incident_id = await open_incident(bot)
    view = await bot.open_modal("incident.resolve", incident_id)
    [view_id] = bot.slack.views  # the modal Slack has open
    locker = lock_database(tmp_path)
    try:
        started = time.monotonic()
        answer = await asyncio.wait_for(bot.submit_view(
            view["callback_id"], view["private_metadata"], {"reason": text_input("fixed")},
            view_id=view_id, wait=False),
            timeout=SLACK_LIMIT)
        waited = time.monotonic() - started
    finally:
        locker.close()
    await bot.listeners_done()

    assert waited < SLACK_LIMIT
    assert answer["response_action"] == "update"
    assert "busy" in str(answer["view"])
    assert (await bot.incident(incident_id)).status == "resolved"
    assert "Done" in str(bot.slack.views[view_id])


async def test_a_slash_command_says_working_on_it_then_answers_by_response_url(bot, tmp_path):
    incident_id = await open_incident(bot)
    locker = lock_database(tmp_path)
    try:
        started = time.monotonic()
        first = await bot.slash(f"ack #{incident_id}", wait=False)
        waited = time.monotonic() - started
    finally:
        locker.close()
    await bot.listeners_done()

    assert waited < SLACK_LIMIT
    assert "Working on it" in first["text"]
    assert any(f"Acknowledged #{incident_id}" in t for t in ephemeral_texts(bot))
    assert (await bot.incident(incident_id)).acked_by == RESPONDER


async def test_a_click_is_acked_before_a_cold_user_group_cache_is_filled(tmp_path):
    """Responders given as a user group: the first click asks Slack who is in it (slowly)."""
    config = CONFIG.replace("responders: [U0PLATFORM1]", "responders: [S0PLATFORM]")
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=config)
    try:
        bot.slack.add_usergroup("S0PLATFORM", "platform", [RESPONDER])
        incident_id = await open_incident(bot)
        bot.slack.hang_next("usergroups.users.list", 2.5)

        status, waited = await timed_click(bot, "incident.ack", incident_id)
        print(f"\nACK with usergroups.users.list answering in 2.5 s: {waited * 1000:.0f} ms")
        await bot.listeners_done()

        assert status == 200 and waited < 1.0
        assert bot.slack.calls_to("usergroups.users.list")
        assert (await bot.incident(incident_id)).acked_by == RESPONDER
    finally:
        await bot.close()
        await bot.slack.stop()
