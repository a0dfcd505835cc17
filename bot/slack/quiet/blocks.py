"""The announcement of a silence or maintenance window: who, what, until when, End now."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, SectionBlock

from bot.slack.action_ids import ActionId, QuietRef
from bot.slack.incident.blocks import MarkdownTextObject, PlainTextObject
from bot.slack.text import escape_mrkdwn, slack_date


def quiet_announcement(quiet: dict) -> tuple[str, list[Block]]:
    """`quiet`: {kind: silence|maintenance, id, by, what: [matchers] or [team], ends_at, comment}.

    Every field from a person (matchers, comment) is escaped here."""
    ends = slack_date(datetime.fromisoformat(quiet["ends_at"]))
    by, comment = quiet["by"], escape_mrkdwn(quiet.get("comment") or "")
    if quiet["kind"] == "silence":
        what = ", ".join(f"`{escape_mrkdwn(m)}`" for m in quiet["what"])
        text = (f":mute: Silence {quiet['id']} by <@{by}>: {what}, until {ends}. Matching "
                "alerts are held, not posted.")
        action, label = ActionId.SILENCE_END, "End silence now"
    else:
        team = escape_mrkdwn(quiet["what"][0])
        text = (f":wrench: {team} is in maintenance (by <@{by}>) until {ends}: its pages "
                "become notifications without mentions.")
        action, label = ActionId.MAINTENANCE_END, "End maintenance now"
    text += f"\n>{comment}" if comment else ""
    button = ButtonElement(text=PlainTextObject(text=label), action_id=action.value,
                           value=QuietRef(id=quiet["id"]).encode(), style="danger")
    return text, [SectionBlock(text=MarkdownTextObject(text=text[:3000])),
                  ActionsBlock(block_id="quiet-actions", elements=[button])]
