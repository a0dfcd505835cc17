"""When a command does not say which incident: the open ones, each with the button to do it."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ButtonElement, PlainTextObject, SectionBlock

from bot.services.records import AmbiguousIncident
from bot.slack.action_ids import ActionId, IncidentRef
from bot.slack.blocks import MarkdownTextObject, escape_mrkdwn

BUTTONS = {"ack": (ActionId.INCIDENT_ACK, "Ack"), "resolve": (ActionId.INCIDENT_RESOLVE, "Resolve"),
           "escalate": (ActionId.INCIDENT_ESCALATE, "Escalate")}
MAX_LISTED = 20


def pick_incident_blocks(command: str, error: AmbiguousIncident) -> list[Block] | None:
    """The same buttons the alert messages carry, so a pick goes through the same listener."""
    if command not in BUTTONS or not error.open_ids:
        return None
    action, label = BUTTONS[command]
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(
        text=f"Which incident should I {command}?", verbatim=True))]
    for incident_id, title in list(zip(error.open_ids, error.titles, strict=True))[:MAX_LISTED]:
        blocks.append(SectionBlock(
            block_id=f"pick-{incident_id}",
            text=MarkdownTextObject(text=f"*#{incident_id}* {escape_mrkdwn(title)[:2900]}",
                                    verbatim=True),
            accessory=ButtonElement(text=PlainTextObject(text=f"{label} #{incident_id}"),
                                    action_id=action.value,
                                    value=IncidentRef(incident_id=incident_id).encode())))
    return blocks


