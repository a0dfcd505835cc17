"""Runbooks walked in Slack: start, answer, back, restart, double clicks, restarts, hooks."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.signing import verify
from tests.appkit import CONFIG, BotUnderTest, payload, start_bot
from tests.fakes.receiver import Receiver

RUNBOOK = """
id: tool-down
title: Tool failing
serves: {alert_types: [tool]}
start: look
nodes:
  look:
    kind: check
    title: Vendor or us?
    text: "Check the {{ labels.tool_name }} error rate."
    diagnostics:
      - {label: Errors, language: shell, command: "grep -F {{ labels.tool_name }} app.log"}
    options:
      - {label: Vendor down, next: breaker}
      - {label: Our bug, next: fixed}
  breaker:
    kind: action
    text: Open the circuit breaker for {{ labels.tool_name }}.
    do: {remediate: {hook: open-circuit-breaker}}
    next: fixed
  fixed:
    kind: done
    outcome: Watch the error rate for 15 minutes, then resolve.
"""
RESPONDER = "U0PLATFORM1"
SECRET = "hook-secret"


@pytest.fixture
async def receiver():
    running = Receiver()
    await running.start()
    yield running
    await running.stop()


def config_for(tmp_path, receiver_url: str) -> str:
    folder = tmp_path / "runbooks"
    folder.mkdir(exist_ok=True)
    (folder / "tool-down.yaml").write_text(RUNBOOK)
    return CONFIG + (f"runbooks_dir: {folder}\nhooks:\n  open-circuit-breaker: "
                     f"{{url: '{receiver_url}/breaker', secret_env: TEST_HOOK_SECRET}}\n")


@pytest.fixture
async def bot(tmp_path, receiver, monkeypatch) -> BotUnderTest:
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    running = await start_bot(f"sqlite:///{tmp_path}/oncall.db",
                              config=config_for(tmp_path, receiver.url))
    yield running
    await running.close()
    await running.slack.stop()


async def tool_incident(bot: BotUnderTest) -> int:
    await bot.post_alerts(payload("alertmanager/firing-tool-stripe.json"))
    await bot.drain()
    [incident] = await bot.incidents()
    return incident.id


def thread(bot: BotUnderTest) -> list[dict]:
    return [m for m in bot.slack.messages("CINTEGR001") if m.get("thread_ts")]


def buttons(message: dict) -> dict[str, str]:
    return {e["text"]["text"]: e for b in message["blocks"] if b["type"] == "actions"
            for e in b["elements"]}


async def press(bot: BotUnderTest, message: dict, label: str, user: str = RESPONDER) -> int:
    button = buttons(message)[label]
    return await bot.click(button["action_id"], 0, user=user, value=button["value"])


async def started(bot: BotUnderTest) -> int:
    incident_id = await tool_incident(bot)
    alert_message = bot.slack.messages("CINTEGR001")[0]
    assert "Start runbook" in buttons(alert_message)
    assert await press(bot, alert_message, "Start runbook") == 200
    await bot.drain()
    return incident_id


async def test_start_runbook_posts_the_first_step_in_the_thread(bot):
    incident_id = await started(bot)

    [step] = thread(bot)
    text = str(step["blocks"])
    assert "Vendor or us?" in text and "Check the stripe error rate." in text
    assert "grep -F stripe app.log" in text  # the diagnostic, templated, as a code block
    assert set(buttons(step)) == {"Vendor down", "Our bug", "Restart"}
    assert "runbook_started" in await bot.timeline_kinds(incident_id)


async def test_an_answer_closes_its_step_and_posts_the_next(bot):
    incident_id = await started(bot)
    [first] = thread(bot)

    assert await press(bot, first, "Our bug") == 200
    await bot.drain()

    closed, done = thread(bot)
    assert buttons(closed) == {} and "*Our bug*, chosen by <@U0PLATFORM1>" in str(closed)
    assert "Watch the error rate" in str(done["blocks"])
    timeline = await _timeline(bot, incident_id)
    step = next(e for e in timeline if e.kind == "runbook_step")
    assert step.data == {"runbook": "tool-down", "node": "look", "answer": "Our bug",
                         "actor": RESPONDER}


async def test_two_people_clicking_the_same_step_make_one_transition(bot):
    incident_id = await started(bot)
    [first] = thread(bot)

    await asyncio.gather(press(bot, first, "Our bug"), press(bot, first, "Vendor down",
                                                             user="U0ADMIN001"))
    await bot.drain()

    kinds = await bot.timeline_kinds(incident_id)
    assert kinds.count("runbook_step") == 1
    assert any("already answered" in r.get("text", "") for r in bot.slack.responses)


async def test_back_and_restart(bot):
    await started(bot)
    await press(bot, thread(bot)[0], "Vendor down")
    await bot.drain()
    action_step = thread(bot)[-1]
    assert set(buttons(action_step)) == {"Run hook open-circuit-breaker", "Back", "Restart"}

    await press(bot, action_step, "Back")
    await bot.drain()
    again = thread(bot)[-1]
    assert "Vendor or us?" in str(again["blocks"])

    await press(bot, again, "Restart")
    await bot.drain()
    assert "Vendor or us?" in str(thread(bot)[-1]["blocks"])


async def test_a_restarted_bot_resumes_the_walk(bot, tmp_path, receiver):
    await started(bot)
    first = thread(bot)[0]
    await bot.close()
    again = await start_bot(bot.parts.settings.database_url, slack=bot.slack,
                            config=config_for(tmp_path, receiver.url), clock=bot.clock)
    try:
        assert await press(again, first, "Our bug") == 200
        await again.drain()
        assert "Watch the error rate" in str(thread(again)[-1]["blocks"])
    finally:
        await again.close()


async def test_the_hook_is_called_only_after_the_confirmation_click(bot, receiver):
    incident_id = await started(bot)
    await press(bot, thread(bot)[0], "Vendor down")
    await bot.drain()
    action_step = thread(bot)[-1]
    assert receiver.requests == []  # shown, not run
    assert buttons(action_step)["Run hook open-circuit-breaker"]["confirm"]

    await press(bot, action_step, "Run hook open-circuit-breaker")
    await bot.drain()

    [call] = receiver.requests
    assert call.path == "/breaker" and call.json["labels"]["tool_name"] == "stripe"
    assert verify(call.headers["X-Oncall-Signature"], call.body, SECRET,
                  int(bot.clock.now().timestamp()))
    assert call.headers["Idempotency-Key"]
    kinds = await bot.timeline_kinds(incident_id)
    assert "remediation_requested" in kinds and "remediation_ok" in kinds
    assert any("open-circuit-breaker accepted" in m["text"] for m in thread(bot))


async def test_someone_outside_the_team_cannot_walk_the_runbook(tmp_path, receiver):
    config = config_for(tmp_path, receiver.url).replace(
        'integrations: {channel: "#integrations-oncall"}',
        'integrations: {channel: "#integrations-oncall", responders: [U0INTEGR01]}')
    bot = await start_bot(f"sqlite:///{tmp_path}/other.db", config=config)
    try:
        incident_id = await tool_incident(bot)
        await press(bot, bot.slack.messages("CINTEGR001")[0], "Start runbook", user="U0INTEGR01")
        await bot.drain()

        await press(bot, thread(bot)[0], "Our bug", user="U0STRANGER1")
        await bot.drain()

        kinds = await bot.timeline_kinds(incident_id)
        assert "runbook_step" not in kinds and "denied" in kinds
        assert "responders" in bot.slack.responses[-1]["text"]
    finally:
        await bot.close()
        await bot.slack.stop()


async def _timeline(bot: BotUnderTest, incident_id: int):
    from sqlmodel import col, select

    from bot.store.models import TimelineEvent

    return await bot._all(select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
                          .order_by(col(TimelineEvent.id)))
