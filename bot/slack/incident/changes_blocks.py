"""The "Recent changes" part of an incident message: what changed in the service (and in
what it depends on) shortly before the alert started: kind, version, who, when, link."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, SectionBlock

from bot.domain.alerts import IncidentView
from bot.domain.changes import ChangeLine, before_text
from bot.slack.text import (
    SECTION_TEXT_MAX,
    escape_mrkdwn,
    mrkdwn_link,
    mrkdwn_text,
    one_line,
    truncate_mrkdwn,
    truncate_plain,
)

SUMMARY_MAX = 200


def changes_blocks(view: IncidentView) -> list[Block]:
    """One section, or nothing when no change is on record."""
    if not view.changes:
        return []
    lines = ["*Recent changes*"] + [change_text(c, view) for c in reversed(view.changes)]
    return [SectionBlock(text=mrkdwn_text(truncate_mrkdwn("\n".join(lines), SECTION_TEXT_MAX)))]


def change_text(change: ChangeLine, view: IncidentView) -> str:
    """`• deploy v1.4.2 · voice-agent · by alice · 25m before: summary · <url|link>`."""
    head = escape_mrkdwn(one_line(f"{change.kind} {change.version}".strip()))
    parts = [f"*{head}*", escape_mrkdwn(one_line(change.service))]
    if change.author:
        author = change.author
        parts.append(f"by <@{author}>" if _user_id(author) else f"by {escape_mrkdwn(author)}")
    parts.append(before_text(change.at, view.started_at))
    text = " · ".join(parts)
    if change.summary:
        text += ": " + escape_mrkdwn(truncate_plain(one_line(change.summary), SUMMARY_MAX))
    link = mrkdwn_link(change.url, "link") if change.url else None
    return f"• {text}" + (f" · {link}" if link else "")


def _user_id(text: str) -> bool:
    return len(text) > 2 and text[0] in "UW" and text[1:].isalnum() and text.isupper()
