"""The AI sections of the postmortem draft: with the record's data, and saying so without."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.services import postmortem
from bot.store.models import FeedbackRow, IncidentRow, TimelineEvent
from tests.appkit import ALERT_TOKEN, start_bot
from tests.test_postmortem import FACTS

CONFIG = """
teams:
  ai-eng: {channel: "#ai-eng-oncall"}
route: {receiver: ai-eng, group_by: [alertname]}
services:
  voice-agent: {depends_on: [openai]}
"""


@pytest.fixture
async def bot(tmp_path):
    running = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=CONFIG)
    yield running
    await running.close()
    await running.slack.stop()


async def post_change(bot, body: dict) -> None:
    async with bot.http.post(f"{bot.url}/changes", json=body,
                             headers={"Authorization": f"Bearer {ALERT_TOKEN}"}) as response:
        assert response.status == 202


def test_sections_without_data_say_so():
    draft = __import__("bot.domain.postmortem", fromlist=["x"]).postmortem_markdown(FACTS)
    for text in ("## Model, prompt and provider at the time\n\nNo model, prompt or provider",
                 "## What changed before it started\n\nNo change recorded",
                 "## Evals and quality signals\n\nNo eval or quality signal fired",
                 "- feedback: none given on this incident"):
        assert text in draft


async def test_sections_with_data_from_changes_labels_signals_humans_and_feedback(bot):
    await post_change(bot, {"service": "openai", "kind": "model", "version": "gpt-4o-2026-11-20",
                            "at": "2026-11-20T10:00:00Z"})
    await post_change(bot, {"service": "voice-agent", "kind": "prompt", "version": "v42",
                            "author": "alice", "summary": "shorter greeting",
                            "url": "https://github.com/acme/voice/pull/7",
                            "at": "2026-11-23T02:35:00Z"})
    await bot.post_alerts({"alerts": [
        {"labels": {"alertname": "AnswerQualityDrop", "service": "voice-agent",
                    "alert_type": "quality", "detector": "evals", "model": "gpt-4o",
                    "prompt_version": "v42", "severity": "warning"},
         "annotations": {"summary": "groundedness 0.61 < 0.8"},
         "startsAt": "2026-11-23T02:55:00Z"}]}, source="generic")
    bot.clock.advance(minutes=25)
    await post_change(bot, {"service": "voice-agent", "kind": "deploy", "version": "rollback",
                            "at": "2026-11-23T03:20:00Z"})
    at = datetime(2026, 11, 23, 3, 10, tzinfo=UTC)
    async with bot.parts.db.transaction() as s:
        incident = await s.get(IncidentRow, 1)
        s.add(TimelineEvent(incident_id=1, at=at, kind="routed_to_humans", actor="U0CAROL003",
                            text="routed to humans"))
        s.add(TimelineEvent(incident_id=1, at=at.replace(minute=40), kind="restored_ai",
                            actor="U0CAROL003", text="AI restored"))
        s.add(FeedbackRow(incident_id=1, user_id="U0CAROL003", verdict="real",
                          rule="AnswerQualityDrop", at=at.replace(minute=45)))
        assert incident is not None
    draft = await postmortem.draft(bot.parts.services, 1)
    assert "- model: gpt-4o (alert label)" in draft
    assert "- prompt_version: v42 (alert label)" in draft
    assert "- model of openai: gpt-4o-2026-11-20 since 2026-11-20 10:00 UTC" in draft
    assert "- prompt of voice-agent: v42 since 2026-11-23 02:35 UTC (change event by alice)" \
        in draft
    assert ("- 20m before: prompt v42 of voice-agent by alice: shorter greeting "
            "(https://github.com/acme/voice/pull/7)") in draft
    assert "During the incident:\n\n- 25m after: deploy rollback of voice-agent" in draft
    assert "gpt-4o-2026-11-20 of openai" not in draft  # older than the 2h window
    assert ("- 02:55:00 AnswerQualityDrop (quality), detector evals: groundedness 0.61 < 0.8"
            in draft)
    assert "- 03:10:00 to 03:40:00 (30m), by U0CAROL003" in draft
    assert "With humans for 30m in all." in draft
    assert "- action taken: notify" in draft
    assert "- feedback: real by <@U0CAROL003> at 2026-11-23 03:45 UTC" in draft
