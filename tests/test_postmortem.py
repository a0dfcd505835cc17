"""The postmortem draft, pinned down as a golden document."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.domain.postmortem import (
    ActionItemLine,
    PostmortemFacts,
    TimelineEntry,
    postmortem_markdown,
)


def at(minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 23, 3, minute, second, tzinfo=UTC)


FACTS = PostmortemFacts(
    id=42, title="LLMProviderErrors: 5xx from the primary provider", team="ai-eng",
    severity="critical", service="voice-agent", status="resolved", opened_at=at(0),
    first_paged_at=at(0, 5), acked_at=at(3, 17), resolved_at=at(41),
    impact_start=at(0), impact_end=at(39),
    reasons=['matched alert_type="provider"', "action page: set on route root/2"],
    route_path=["root", 'alert_type="provider"'],
    timeline=[
        TimelineEntry(at=at(0), kind="received", actor="source", text="LLMProviderErrors"),
        TimelineEntry(at=at(0, 5), kind="paged", actor="bot", text="level 1: paged <@U0CAROL003>"),
        TimelineEntry(at=at(3, 17), kind="acked", actor="U0CAROL003",
                      text="acknowledged by <@U0CAROL003>"),
        TimelineEntry(at=at(5), kind="runbook_step", actor="U0CAROL003",
                      text="runbook llm-provider-down, step status: Provider reports an outage",
                      data={"runbook": "llm-provider-down", "node": "status",
                            "answer": "Provider reports an outage"}),
        TimelineEntry(at=at(9), kind="routed_to_humans", actor="U0CAROL003",
                      text="AI workflow for voice-agent routed to humans by <@U0CAROL003>"),
        TimelineEntry(at=at(41), kind="resolved", actor="U0CAROL003",
                      text="resolved by <@U0CAROL003>: failover | verified"),
    ],
    actions=[ActionItemLine(id=7, owner="U0LEAD0001", text="Automate provider failover",
                            due="2026-12-01")])

GOLDEN = (Path(__file__).parent / "payloads" / "postmortem-golden.md").read_text()


def test_the_draft_matches_the_golden_document():
    assert postmortem_markdown(FACTS) == GOLDEN


def test_time_to_ack_needs_a_page_and_an_ack():
    unpaged = FACTS.model_copy(update={"first_paged_at": None})
    assert "not paged or not acked" in postmortem_markdown(unpaged)
