"""The responder part of an incident message: who was paged, DND, hand-off to humans."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.domain.alerts import IncidentView, PageLine
from bot.slack.blocks import escape_mrkdwn, slack_date, truncate_mrkdwn, user_mention

CONTEXT_TEXT_MAX = 3000
SECTION_TEXT_MAX = 3000


def responder_blocks(view: IncidentView) -> list[Block]:
    """At most two blocks: the hand-off state, and the pages sent so far."""
    blocks: list[Block] = []
    handoff = handoff_text(view)
    if handoff:
        blocks.append(SectionBlock(text=_mrkdwn(truncate_mrkdwn(handoff, SECTION_TEXT_MAX))))
    paged = paged_text(view)
    if paged:
        blocks.append(ContextBlock(elements=[_mrkdwn(truncate_mrkdwn(paged, CONTEXT_TEXT_MAX))]))
    return blocks


def handoff_text(view: IncidentView) -> str:
    if view.humans_mode:
        return (f":busts_in_silhouette: AI workflow routed to humans by "
                f"{user_mention(view.humans_by or '')} at {slack_date(view.humans_at, '{time}')}"
                if view.humans_at else ":busts_in_silhouette: AI workflow routed to humans")
    if view.handoff_error:
        return (f":warning: Route to humans failed: {escape_mrkdwn(view.handoff_error)}. "
                "The AI workflow is still running.")
    return ""


def paged_text(view: IncidentView) -> str:
    """Who was paged, then (on their own line) every target that was not reached, and why."""
    sent = [p for p in view.pages if p.outcome == "sent"]
    missed = [p for p in view.pages if p.outcome != "sent"]
    lines = ["Paged: " + " · ".join(_page(p) for p in sent)] if sent else []
    if missed:
        lines.append(":warning: Not reached: " + " · ".join(_page(p) for p in missed))
    return "\n".join(lines)


def _page(page: PageLine) -> str:
    who = {"user": user_mention(page.target), "usergroup": f"<!subteam^{page.target}>",
           "channel": f"<#{page.target.removeprefix('#')}>" if page.target.startswith("C")
           else escape_mrkdwn(page.target), "pager": f"pager {escape_mrkdwn(page.target)}"}
    text = who.get(page.target_kind, escape_mrkdwn(page.target))
    text += f" (level {page.level})" if page.level else " (by hand)"
    if page.dnd_until:
        text += f", in Do Not Disturb until {slack_date(page.dnd_until, '{time}')}"
    if page.error:
        verb = "skipped" if page.outcome == "skipped" else "failed"
        text += f", {verb}: {escape_mrkdwn(page.error)}"
    return text


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)
