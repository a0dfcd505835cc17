"""Confidence end to end: page / triage / digest by score, Confirm and Dismiss, the triage
timeout, high confidence with its automatic runbook and cancel window, the Why line and Why?.

Signed requests into the real Bolt pipeline, the Slack stand-in, the injected FakeClock
(2026-11-23 03:00 UTC: Carol is primary, Alice secondary).
"""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from bot.services import auto_runbook, triage
from bot.store.models import AuditRow, DigestItemRow, FeedbackRow, PageRow, TimelineEvent
from tests.appkit import BotUnderTest, database_url, payload, start_bot

CAROL, ALICE = "U0CAROL003", "U0ALICE001"
RESPONDER, STRANGER = "U0PLATFORM1", "U0STRANGER"

CONFIG = """
teams:
  platform: {{channel: "#platform-oncall", responders: [U0PLATFORM1], schedule: platform,
              escalation_policy: standard}}
sources: {{"detector=evals": 0.7}}
runbooks_dir: "{runbooks}"
hooks:
  rollback: {{url: "http://127.0.0.1:9/rollback", secret_env: TEST_HOOK_SECRET}}
route:
  receiver: platform
  group_by: [alertname]
  action: page
  routes:
    - matchers: ['alert_type="quality"']
      confidence: {{page_at: 0.8, triage_at: 0.5, below: digest}}
    - matchers: ['alert_type="evals"']
      confidence: {{page_at: 0.8, triage_at: 0.5, triage_timeout: 5m, on_timeout: digest}}
    - matchers: ['alert_type="outage"']
      runbook: auto-restart
      confidence: {{page_at: 0.8, triage_at: 0.5, high: {{at: 0.95, auto_runbook: true}}}}
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
      - {{notify: [secondary], after: 10m}}
"""

RUNBOOK = """
id: auto-restart
title: Restart and tell
serves: {alert_types: [outage]}
start: tell
nodes:
  tell:
    kind: action
    title: Tell AI engineering
    text: Tell the AI engineering channel.
    do: {notify: {channel: "#ai-eng-oncall"}}
    auto: true
    next: rollback
  rollback:
    kind: action
    title: Roll back
    text: Roll back the prompt.
    do: {remediate: {hook: rollback, never_auto: true}}
    auto: true
"""


@pytest.fixture(params=["sqlite"])
async def bot(request, tmp_path, monkeypatch) -> BotUnderTest:
    async for running in _bot(request, tmp_path, monkeypatch):
        yield running


@pytest.fixture(params=["sqlite", "postgres"])
async def racing(request, tmp_path, monkeypatch) -> BotUnderTest:
    """The races run on PostgreSQL too, where two transactions really do overlap."""
    async for running in _bot(request, tmp_path, monkeypatch):
        yield running


async def _bot(request, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_HOOK_SECRET", "hook-secret")
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "auto-restart.yaml").write_text(RUNBOOK)
    running = await start_bot(database_url(request, tmp_path),
                              config=CONFIG.format(runbooks=tmp_path / "runbooks"))
    for user, name in ((CAROL, "carol"), (ALICE, "alice"), (RESPONDER, "responder"),
                       (STRANGER, "stranger")):
        running.slack.add_user(user, name)
    yield running
    await running.close()
    await running.slack.stop()


def alert(alert_type: str = "quality", name: str = "AnswerQualityDrop", *,
          score: str | None = None, **labels: str) -> dict:
    body = payload("alertmanager/firing-model-ftl-p95.json")
    one = body["alerts"][0]
    one["labels"].update({"alertname": name, "alert_type": alert_type, "severity": "critical",
                          **labels})
    one["labels"].pop("confidence", None)
    if score is not None:
        one["labels"]["confidence"] = score
    one["startsAt"] = "2026-11-23T03:00:00Z"
    return body


async def open_one(bot: BotUnderTest, body: dict) -> int:
    status, answer = await bot.post_alerts(body)
    assert status == 202, answer
    await bot.drain()
    [incident] = await bot.incidents()
    return incident.id


def dms_to(bot: BotUnderTest, user: str) -> list[dict]:
    return bot.slack.messages(bot.slack.dm_channel(user))


def thread_texts(bot: BotUnderTest) -> list[str]:
    return [m["text"] for m in bot.slack.messages("CPLATFORM1") if m.get("thread_ts")]


def message_blocks(bot: BotUnderTest) -> str:
    return str(bot.slack.messages("CPLATFORM1")[0]["blocks"])


def buttons(bot: BotUnderTest) -> list[str]:
    return [e["action_id"] for b in bot.slack.messages("CPLATFORM1")[0]["blocks"]
            if b["type"] == "actions" for e in b["elements"]]


async def rows(bot: BotUnderTest, model) -> list:
    return await bot._all(select(model))


async def tick(bot: BotUnderTest) -> None:
    await triage.tick(bot.parts.services)
    await auto_runbook.tick(bot.parts.services)
    await bot.drain()


# -- page / triage / digest by score ---------------------------------------------------------


async def test_a_high_score_pages_at_once_and_says_why(bot):
    incident_id = await open_one(bot, alert(score="0.92"))

    assert len(dms_to(bot, CAROL)) == 1
    incident = await bot.incident(incident_id)
    assert (incident.action, incident.triage_state) == ("page", None)
    assert "Why: confidence 0.92 (confidence label) · page: 0.92 ≥ page_at 0.8 (route " \
           "alert_type=" in message_blocks(bot)
    assert "incident.why" in buttons(bot)


async def test_a_middle_score_goes_to_triage_mentions_the_on_call_and_pages_nobody(bot):
    incident_id = await open_one(bot, alert(score="62%"))

    assert dms_to(bot, CAROL) == [] and await rows(bot, PageRow) == []
    incident = await bot.incident(incident_id)
    assert (incident.action, incident.triage_state) == ("triage", "pending")
    assert incident.triage_due_at.isoformat() == "2026-11-23T03:15:00+00:00"
    assert buttons(bot)[-3:] == ["triage.confirm", "triage.dismiss", "incident.why"]
    blocks = message_blocks(bot)
    assert "triage: 0.5 ≤ 0.62 &lt; page_at 0.8" in blocks
    assert "Triage" in blocks and "nobody paged yet" in blocks
    [note] = [t for t in thread_texts(bot) if "Triage for #" in t]
    assert f"<@{CAROL}>" in note and "Nobody has been paged" in note


async def test_a_low_score_goes_to_the_digest_and_opens_no_incident(bot):
    status, answer = await bot.post_alerts(alert(score="0.2"))
    await bot.drain()

    assert status == 202, answer
    assert await bot.incidents() == []
    [item] = await rows(bot, DigestItemRow)
    assert item.alertname == "AnswerQualityDrop"
    assert bot.slack.messages("CPLATFORM1") == []


async def test_without_a_score_the_source_prior_decides_and_a_bad_score_is_shown(bot):
    await open_one(bot, alert(score="170", detector="evals"))

    incident = (await bot.incidents())[0]
    assert incident.triage_state == "pending"  # prior 0.7: triage
    blocks = message_blocks(bot)
    assert "170" in blocks and "ignored: out of range (0-1, or 0-100 as a percentage)" in blocks
    assert "confidence 0.7 (detector=evals, prior 0.7)" in blocks


async def test_escaping_keeps_a_score_from_pinging_anyone(bot):
    await open_one(bot, alert(score="<!channel> 0.9"))
    blocks = message_blocks(bot)
    assert "<!channel>" not in blocks and "&lt;!channel&gt;" in blocks


# -- Confirm, Dismiss, timeout --------------------------------------------------------------


async def test_confirm_pages_records_feedback_audit_and_timeline(bot):
    incident_id = await open_one(bot, alert(score="0.62"))

    assert await bot.click("triage.confirm", incident_id, user=RESPONDER) == 200
    await bot.drain()

    assert len(dms_to(bot, CAROL)) == 1
    incident = await bot.incident(incident_id)
    assert (incident.triage_state, incident.action) == ("confirmed", "page")
    [feedback] = await rows(bot, FeedbackRow)
    assert (feedback.verdict, feedback.source, feedback.user_id, feedback.rule) == (
        "real", "triage", RESPONDER, "AnswerQualityDrop")
    assert "triage_confirmed" in await bot.timeline_kinds(incident_id)
    audit = [a for a in await rows(bot, AuditRow) if a.action == "triage"]
    assert [(a.actor, a.outcome, a.detail) for a in audit] == [(RESPONDER, "done", "real")]
    assert "triage.confirm" not in buttons(bot)


async def test_dismiss_records_noise_resolves_and_pages_nobody(bot):
    incident_id = await open_one(bot, alert(score="0.62"))

    assert await bot.click("triage.dismiss", incident_id, user=CAROL) == 200  # on call: may
    await bot.drain()
    bot.clock.advance(minutes=30)
    await tick(bot)

    incident = await bot.incident(incident_id)
    assert (incident.status, incident.triage_state, incident.resolved_by) == (
        "resolved", "dismissed", CAROL)
    assert [f.verdict for f in await rows(bot, FeedbackRow)] == ["noise"]
    assert await rows(bot, PageRow) == [] and dms_to(bot, CAROL) == []
    assert "triage_dismissed" in await bot.timeline_kinds(incident_id)


async def test_a_stranger_may_not_decide_and_is_told_so(bot):
    incident_id = await open_one(bot, alert(score="0.62"))

    assert await bot.click("triage.confirm", incident_id, user=STRANGER) == 200
    await bot.drain()

    assert (await bot.incident(incident_id)).triage_state == "pending"
    refusals = [a for a in await rows(bot, AuditRow) if a.outcome == "refused"]
    assert [(a.actor, a.action) for a in refusals] == [(STRANGER, "triage")]
    assert await rows(bot, FeedbackRow) == []


async def test_a_second_click_has_no_second_outcome(racing):
    bot = racing
    incident_id = await open_one(bot, alert(score="0.62"))

    await asyncio.gather(bot.click("triage.confirm", incident_id, user=RESPONDER),
                         bot.click("triage.confirm", incident_id, user=CAROL))
    await bot.click("triage.dismiss", incident_id, user=CAROL)
    await bot.drain()

    incident = await bot.incident(incident_id)
    assert (incident.status, incident.triage_state) == ("triggered", "confirmed")
    assert [f.verdict for f in await rows(bot, FeedbackRow)] == ["real"]
    assert len(dms_to(bot, CAROL)) == 1


async def test_the_timeout_pages_exactly_once(bot):
    incident_id = await open_one(bot, alert(score="0.62"))

    bot.clock.advance(minutes=14)
    await tick(bot)
    assert dms_to(bot, CAROL) == []
    bot.clock.advance(minutes=1)
    await tick(bot)
    await tick(bot)

    assert len(dms_to(bot, CAROL)) == 1
    incident = await bot.incident(incident_id)
    assert (incident.triage_state, incident.action) == ("timed_out", "page")
    assert (await bot.timeline_kinds(incident_id)).count("triage_timeout") == 1
    audit = [a for a in await rows(bot, AuditRow) if a.action == "triage"]
    assert [(a.actor, a.detail) for a in audit] == [("system", "nobody decided in time: page")]


async def test_the_timeout_may_leave_it_for_the_digest_instead(bot):
    incident_id = await open_one(bot, alert("evals", "EvalRegression", score="0.6"))

    bot.clock.advance(minutes=5)
    await tick(bot)

    incident = await bot.incident(incident_id)
    assert (incident.status, incident.action, incident.triage_state) == (
        "resolved", "digest", "timed_out")
    assert [i.alertname for i in await rows(bot, DigestItemRow)] == ["EvalRegression"]
    assert dms_to(bot, CAROL) == []


async def test_a_click_racing_the_timeout_gives_one_outcome(racing):
    bot = racing
    incident_id = await open_one(bot, alert(score="0.62"))
    bot.clock.advance(minutes=15)

    await asyncio.gather(bot.click("triage.dismiss", incident_id, user=CAROL),
                         triage.tick(bot.parts.services))
    await bot.drain()

    incident = await bot.incident(incident_id)
    kinds = await bot.timeline_kinds(incident_id)
    outcomes = [k for k in kinds if k in ("triage_dismissed", "triage_timeout")]
    assert len(outcomes) == 1
    if outcomes == ["triage_dismissed"]:
        assert incident.status == "resolved" and dms_to(bot, CAROL) == []
    else:
        assert incident.triage_state == "timed_out" and len(dms_to(bot, CAROL)) == 1
        assert await rows(bot, FeedbackRow) == []


# -- high confidence -------------------------------------------------------------------------


async def test_high_confidence_pages_primary_and_secondary_at_once(bot):
    incident_id = await open_one(bot, alert("outage", "VoiceAgentDown", score="0.97"))

    assert len(dms_to(bot, CAROL)) == 1 and len(dms_to(bot, ALICE)) == 1
    assert "high: 0.97 ≥ 0.95: primary and secondary paged at once" in message_blocks(bot)
    assert "high_confidence" in await bot.timeline_kinds(incident_id)


async def test_the_automatic_runbook_runs_auto_steps_after_the_window_and_never_auto_waits(bot):
    incident_id = await open_one(bot, alert("outage", "VoiceAgentDown", score="0.97"))
    assert "auto_runbook.cancel" in buttons(bot)
    assert "starts automatically at" in message_blocks(bot)

    bot.clock.advance(seconds=59)
    await tick(bot)
    assert (await bot.incident(incident_id)).auto_state == "pending"
    bot.clock.advance(seconds=1)
    await tick(bot)
    await tick(bot)

    assert (await bot.incident(incident_id)).auto_state == "started"
    told = [m["text"] for m in bot.slack.messages("CAIENG0001")]
    assert len(told) == 1 and "needs you" in told[0]  # the auto step ran, once
    kinds = await bot.timeline_kinds(incident_id)
    assert kinds.count("auto_runbook_started") == 1 and "auto_runbook_waits" in kinds
    assert any("rollback never runs automatically" in t for t in thread_texts(bot))
    audit = [(a.actor, a.action, a.detail) for a in await rows(bot, AuditRow)]
    assert ("system", "runbook", "started") in audit
    steps = [r for r in await rows(bot, AuditRow) if r.actor == "system" and r.action == "runbook"
             and r.before == {"node": "tell"}]
    assert len(steps) == 1 and steps[0].after == {"node": "rollback"}  # the auto step, audited
    events = [e for e in await rows(bot, TimelineEvent) if e.kind == "runbook_step"]
    assert [(e.actor, e.data["node"]) for e in events] == [("system", "tell")]
    assert "auto_runbook.cancel" not in buttons(bot)


async def test_cancel_within_the_window_stops_the_runbook(bot):
    incident_id = await open_one(bot, alert("outage", "VoiceAgentDown", score="0.97"))

    bot.clock.advance(seconds=30)
    assert await bot.click("auto_runbook.cancel", incident_id, user=CAROL) == 200
    await bot.drain()
    bot.clock.advance(minutes=5)
    await tick(bot)

    assert (await bot.incident(incident_id)).auto_state == "cancelled"
    assert bot.slack.messages("CAIENG0001") == []
    events = await rows(bot, TimelineEvent)
    assert "auto_runbook_started" not in [e.kind for e in events]
    audit = [(a.actor, a.action) for a in await rows(bot, AuditRow)]
    assert (CAROL, "cancel_auto") in audit


# -- Why? ------------------------------------------------------------------------------------


async def test_the_why_button_opens_the_full_decision(bot):
    incident_id = await open_one(bot, alert(score="0.62", detector="evals"))

    view = await bot.open_modal("incident.why", incident_id, user=STRANGER)

    text = str(view["blocks"])
    assert "triage: 0.5 ≤ 0.62" in text.replace("&lt;", "<")
    assert "team platform  channel #platform-oncall  action page" in text
    assert 'matched alert_type=\\\\"quality\\\\"' in text or "matched alert_type=" in text
    assert "confidence -&gt; triage" in text and "policy standard" in text


async def test_the_learned_reliability_of_the_rule_is_shown_beside_the_prior(bot):
    first = await open_one(bot, alert(score="0.62"))
    async with bot.parts.db.transaction() as s:
        for n, verdict in enumerate(["real", "real", "noise", "real", "noise"]):
            s.add(FeedbackRow(incident_id=first, user_id=f"U0VOTER{n:03d}", verdict=verdict,
                              rule="AnswerQualityDrop", at=bot.clock.now()))

    again = alert("evals", "AnswerQualityDrop", detector="evals")
    again["alerts"][0]["fingerprint"] = "0123456789abcdef"
    await bot.post_alerts(again)
    await bot.drain()

    second = (await bot.incidents())[-1]
    assert second.id != first
    assert second.rationale["why"][0].startswith(
        "confidence 0.7 (detector=evals, prior 0.7, learned 0.6 of 5) · triage")


async def test_why_of_a_private_team_s_incident_is_refused_to_an_outsider(bot):
    incident_id = await open_one(bot, alert(score="0.62"))
    bot.parts.services.config.teams["platform"].private = True
    opened = len(bot.slack.calls_to("views.open"))

    assert await bot.click("incident.why", incident_id, user=STRANGER) == 200
    await bot.drain()

    assert len(bot.slack.calls_to("views.open")) == opened
    refusals = [a for a in await rows(bot, AuditRow) if a.outcome == "refused"]
    assert [(a.actor, a.action) for a in refusals] == [(STRANGER, "route_test")]
    view = await bot.open_modal("incident.why", incident_id, user=RESPONDER)
    assert "triage: 0.5 ≤ 0.62" in str(view["blocks"]).replace("&lt;", "<")
