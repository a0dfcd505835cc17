"""The confidence parts of the incident message: the Why line, triage and cancel buttons, and
the Why? modal. Pure builders; every text from an alert or a config goes through the escaping
path (bot.slack.text)."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.domain.alerts import IncidentStatus, IncidentView
from bot.slack.action_ids import ActionId, IncidentRef
from bot.slack.text import (
    CONTEXT_TEXT_MAX,
    SECTION_TEXT_MAX,
    escape_mrkdwn,
    mrkdwn_text,
    one_line,
    slack_date,
    truncate_mrkdwn,
)

MODAL_BLOCKS_MAX = 100


def why_line(parts: list[str]) -> str:
    """`Why: confidence 0.62 (…) · triage: 0.5 ≤ 0.62 < page_at 0.8 (route …)`, escaped."""
    return "Why: " + " · ".join(escape_mrkdwn(one_line(p)) for p in parts if p.strip())


def why_blocks(view: IncidentView) -> list[Block]:
    """The Why line under the routing reasons; the triage deadline and cancel window."""
    lines = [why_line(view.why)] if view.why else []
    if view.triage_pending and view.triage_due_at and view.status is IncidentStatus.TRIGGERED:
        lines.append(":mag: *Triage*: nobody paged yet. Confirm pages, Dismiss closes it as "
                     f"noise; decided by itself at {slack_date(view.triage_due_at, '{time}')}")
    if view.auto_runbook_at and view.runbook and view.status is not IncidentStatus.RESOLVED:
        lines.append(f":robot_face: Runbook *{escape_mrkdwn(one_line(view.runbook))}* starts "
                     f"automatically at {slack_date(view.auto_runbook_at, '{time}')} unless "
                     "cancelled")
    return [ContextBlock(elements=[mrkdwn_text(truncate_mrkdwn(line, CONTEXT_TEXT_MAX))])
            for line in lines]


def confidence_buttons(view: IncidentView) -> list[ButtonElement]:
    """Confirm / Dismiss while a triage waits, Cancel during the cancel window, Why?."""
    if view.status is IncidentStatus.RESOLVED:
        return []
    value = IncidentRef(incident_id=view.id).encode()
    buttons = []
    if view.triage_pending and view.status is IncidentStatus.TRIGGERED:
        buttons += [_button("Confirm (page)", ActionId.TRIAGE_CONFIRM, value, "primary"),
                    _button("Dismiss (noise)", ActionId.TRIAGE_DISMISS, value)]
    if view.auto_runbook_at:
        buttons.append(_button("Cancel", ActionId.AUTO_RUNBOOK_CANCEL, value, "danger"))
    if view.why:
        buttons.append(_button("Why?", ActionId.INCIDENT_WHY, value))
    return buttons


def _button(label: str, action_id: ActionId, value: str, style: str | None = None,
            confirm: ConfirmObject | None = None) -> ButtonElement:
    return ButtonElement(text=PlainTextObject(text=label), action_id=action_id.value,
                         value=value, style=style, confirm=confirm)


def why_modal(incident_id: int, title: str, why: list[str], report: str) -> View:
    """The full decision: the Why parts, then `route test`'s answer for the lead alert."""
    head = f"*#{incident_id}* {escape_mrkdwn(one_line(title))}"
    blocks: list[Block] = [SectionBlock(text=mrkdwn_text(truncate_mrkdwn(head, 3000)))]
    if why:
        blocks.append(SectionBlock(text=mrkdwn_text(truncate_mrkdwn(
            "*Decision*\n" + "\n".join(f"• {escape_mrkdwn(one_line(p))}" for p in why),
            SECTION_TEXT_MAX))))
    chunk = SECTION_TEXT_MAX - 20
    lines = escape_mrkdwn(report).splitlines()
    text = ""
    for line in lines:
        if len(text) + len(line) + 1 > chunk and text:
            blocks.append(SectionBlock(text=mrkdwn_text(f"```{text}```")))
            text = ""
        text = f"{text}\n{line[:chunk]}" if text else line[:chunk]
    if text:
        blocks.append(SectionBlock(text=mrkdwn_text(f"```{text}```")))
    return View(type="modal", title=PlainTextObject(text="Why this path"),
                close=PlainTextObject(text="Close"), blocks=blocks[:MODAL_BLOCKS_MAX])
