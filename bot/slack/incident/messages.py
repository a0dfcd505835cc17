"""Whole messages the bot posts, composed from the pure block builders."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, SectionBlock

from bot.domain.alerts import IncidentView
from bot.slack.feedback.blocks import feedback_blocks
from bot.slack.incident.blocks import MarkdownTextObject, alert_message
from bot.slack.incident.responders import responder_blocks
from bot.slack.text import escape_mrkdwn


def incident_message(view: IncidentView) -> tuple[str, list[Block]]:
    """The incident's message in its team channel."""
    return alert_message(view, extra=responder_blocks(view), after=feedback_blocks(view))


def page_dm(view: IncidentView, person: str) -> tuple[str, list[Block]]:
    """The page a person receives by DM: why them, then the same message and buttons."""
    text, blocks = alert_message(view, extra=responder_blocks(view))
    levels = sorted({p.level for p in view.pages if p.target == person})
    why = (f":pager: You are paged for *#{view.id}* of team *{escape_mrkdwn(view.team)}*"
           + (f" (level {', '.join(map(str, levels))})" if levels and levels != [0] else ""))
    intro = SectionBlock(text=MarkdownTextObject(text=why, verbatim=True))
    return f"Page: {text}", [intro, *blocks[:49]]
