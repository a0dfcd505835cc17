"""The feedback row, clicked as Slack clicks it: counts, change of mind, timeline, audit."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from bot.domain.feedback import Verdict, counts_text, tally
from bot.slack.feedback.blocks import FeedbackRef
from bot.store.models import AuditRow, FeedbackRow
from tests.appkit import BotUnderTest, database_url, payload, start_bot

PLATFORM, SECOPS, STRANGER, ADMIN = "U0PLATFORM1", "U0SECOPS01", "U0STRANGER1", "U0ADMIN001"

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


@pytest.fixture(params=["sqlite", "postgres"])
async def bot(request, tmp_path) -> BotUnderTest:
    running = await start_bot(database_url(request, tmp_path), config=CONFIG)
    running.slack.add_channel("CPLATFORM1", "platform-oncall")
    running.slack.add_channel("G0SECOPS01", "secops", is_private=True)
    yield running
    await running.close()
    await running.slack.stop()


async def open_incident(bot: BotUnderTest, alert_type: str = "infra",
                        name: str = "DiskFull") -> int:
    body = payload("alertmanager/firing-model-ftl-p95.json")
    body["alerts"][0]["labels"].update({"alert_type": alert_type, "alertname": name})
    body["alerts"][0]["fingerprint"] = name
    await bot.post_alerts(body)
    await bot.drain()
    return max(i.id for i in await bot.incidents())


async def say(bot: BotUnderTest, incident_id: int, verdict: Verdict, user: str) -> int:
    value = FeedbackRef(incident_id=incident_id, verdict=verdict.value).encode()
    status = await bot.click(f"feedback.{verdict.value}", incident_id, user=user, value=value)
    await bot.drain()
    return status


def feedback_row(blocks: list[dict]) -> tuple[str, list[str]]:
    """The counts line and the button action ids of the feedback row."""
    [buttons] = [b for b in blocks if b.get("block_id", "").startswith("incident-feedback-")]
    line = blocks[blocks.index(buttons) - 1]["elements"][0]["text"]
    return line, [e["action_id"] for e in buttons["elements"]]


async def rows(bot: BotUnderTest, model, *where) -> list:
    return await bot._all(select(model).where(*where).order_by(col(model.id)))


async def test_a_triggered_incident_has_no_feedback_row_and_an_acked_one_has_five_buttons(bot):
    incident_id = await open_incident(bot)
    [post] = bot.slack.calls_to("chat.postMessage")
    assert not [b for b in post.args["blocks"] if "feedback" in b.get("block_id", "")]

    await bot.click("incident.ack", incident_id, user=PLATFORM)
    await bot.drain()

    line, ids = feedback_row(bot.slack.calls_to("chat.update")[-1].args["blocks"])
    assert ids == ["feedback.real", "feedback.noise", "feedback.wrong_team",
                   "feedback.should_have_paged", "feedback.should_not_have_paged"]
    assert "was this path right" in line


async def test_counts_change_of_mind_timeline_and_audit(bot):
    incident_id = await open_incident(bot)
    await bot.click("incident.ack", incident_id, user=PLATFORM)
    await bot.drain()

    assert await say(bot, incident_id, Verdict.REAL, PLATFORM) == 200
    await say(bot, incident_id, Verdict.REAL, ADMIN)
    await say(bot, incident_id, Verdict.NOISE, STRANGER)  # a public team: anyone may say
    line, _ = feedback_row(bot.slack.calls_to("chat.update")[-1].args["blocks"])
    assert line == "*Feedback:* Real 2 · Noise 1"

    await say(bot, incident_id, Verdict.NOISE, PLATFORM)  # a change of mind
    line, _ = feedback_row(bot.slack.calls_to("chat.update")[-1].args["blocks"])
    assert line == "*Feedback:* Real 1 · Noise 2"

    stored = {r.user_id: (r.verdict, r.rule, r.team) for r in await rows(bot, FeedbackRow)}
    assert stored == {PLATFORM: ("noise", "DiskFull", "platform"),
                      ADMIN: ("real", "DiskFull", "platform"),
                      STRANGER: ("noise", "DiskFull", "platform")}
    assert (await bot.timeline_kinds(incident_id)).count("feedback") == 4
    audited = await rows(bot, AuditRow, AuditRow.action == "feedback")
    assert [(a.actor, a.outcome, a.after) for a in audited][-1] == (
        PLATFORM, "done", {"verdict": "noise"})
    assert audited[-1].before == {"verdict": "real"}


async def test_the_same_verdict_twice_changes_nothing(bot):
    incident_id = await open_incident(bot)
    await bot.click("incident.ack", incident_id, user=PLATFORM)
    await bot.drain()
    await say(bot, incident_id, Verdict.NOISE, PLATFORM)
    updates = len(bot.slack.calls_to("chat.update"))

    await say(bot, incident_id, Verdict.NOISE, PLATFORM)

    assert len(bot.slack.calls_to("chat.update")) == updates
    assert (await bot.timeline_kinds(incident_id)).count("feedback") == 1
    assert any("already said" in r.get("text", "") for r in bot.slack.responses)


async def test_an_outsider_may_not_give_feedback_on_a_private_teams_incident(bot):
    incident_id = await open_incident(bot, "security", "TokenLeak")
    await bot.click("incident.ack", incident_id, user=SECOPS)
    await bot.drain()

    await say(bot, incident_id, Verdict.NOISE, STRANGER)
    await say(bot, incident_id, Verdict.REAL, SECOPS)

    assert [(r.user_id, r.verdict) for r in await rows(bot, FeedbackRow)] == [(SECOPS, "real")]
    [refusal] = await rows(bot, AuditRow, AuditRow.outcome == "refused")
    assert (refusal.actor, refusal.action) == (STRANGER, "feedback")
    assert any("private team" in r.get("text", "") for r in bot.slack.responses)


async def test_feedback_waits_for_an_ack(bot):
    incident_id = await open_incident(bot)
    await say(bot, incident_id, Verdict.NOISE, PLATFORM)
    assert await rows(bot, FeedbackRow) == []
    assert any("not acknowledged yet" in r.get("text", "") for r in bot.slack.responses)


def test_tally_and_counts_text_keep_the_rows_order():
    counts = tally(["noise", "real", "noise", "bogus"])
    assert counts == {Verdict.REAL: 1, Verdict.NOISE: 2}
    assert counts_text(counts) == "Real 1 · Noise 2"
