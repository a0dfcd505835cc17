"""When a command does not say which incident: the open ones, each with the button to do it."""

from __future__ import annotations

from pydantic import BaseModel
from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.services.records import AmbiguousIncident
from bot.slack.action_ids import ActionId, IncidentRef
from bot.slack.text import escape_mrkdwn

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




PICK_FOR_TIMELINE = "timeline.add.pick"


class CopiedMessage(BaseModel):
    """The message a shortcut copies, carried through the picker modal's private_metadata."""

    channel: str
    ts: str
    author: str = ""
    text: str = ""


def pick_for_timeline_modal(copied: CopiedMessage, open_now: list[tuple[int, str]]) -> View:
    options = [Option(value=str(i), label=f"#{i} {title}"[:75]) for i, title in open_now[:100]]
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(
        text=f"> {escape_mrkdwn(copied.text)[:500]}", verbatim=True))]
    if options:
        blocks.append(InputBlock(block_id="incident", label=PlainTextObject(text="Incident"),
                                 element=StaticSelectElement(action_id="value", options=options)))
    else:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="No incident is open.")))
    return View(type="modal", callback_id=PICK_FOR_TIMELINE,
                title=PlainTextObject(text="Add to timeline"),
                submit=PlainTextObject(text="Add") if options else None,
                close=PlainTextObject(text="Cancel"),
                private_metadata=copied.model_dump_json(), blocks=blocks)
