"""The feedback row under an acked or resolved incident: five verdicts and their counts.

Slack needs a distinct action id per button in a block, so each verdict has its own
(`feedback.real`, `feedback.noise`, ...); one listener answers them all by pattern.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import ConfigDict, Field
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    PlainTextObject,
)

from bot.domain.alerts import IncidentStatus, IncidentView
from bot.domain.feedback import Verdict, counts_text
from bot.slack.action_ids import SlackValue
from bot.slack.text import mrkdwn_text

FEEDBACK_ACTION_PREFIX = "feedback."
FEEDBACK_ACTION_PATTERN = re.compile(r"^feedback\.[a-z_]+$")


class FeedbackRef(SlackValue):
    """Which incident and which verdict a feedback button says, e.g.
    `{"incident_id":42,"verdict":"noise"}`."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")
    what: ClassVar[str] = "a feedback choice"

    incident_id: int = Field(ge=1)
    verdict: str = Field(pattern=r"^[a-z_]{1,32}$")


def feedback_blocks(view: IncidentView) -> list[Block]:
    """Nothing while the incident is still triggered; then the buttons and who said what."""
    if view.status is IncidentStatus.TRIGGERED:
        return []
    buttons = [ButtonElement(text=PlainTextObject(text=v.label),
                             action_id=f"{FEEDBACK_ACTION_PREFIX}{v.value}",
                             value=FeedbackRef(incident_id=view.id, verdict=v.value).encode())
               for v in Verdict]
    counts = counts_text({v: view.feedback[v.value] for v in Verdict if v.value in view.feedback})
    line = f"*Feedback:* {counts}" if counts else "*Feedback:* was this path right? One click."
    return [ContextBlock(elements=[mrkdwn_text(line)]),
            ActionsBlock(block_id=f"incident-feedback-{view.id}", elements=buttons)]
