"""Block Kit for a storm: the live summary, its thread list, and the silence modal.

Pure builders from bot.domain.storm values; every alert text is escaped (bot.slack.text).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import Field
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.domain.durations import format_duration
from bot.domain.storm import StormEntry, StormSummary, list_line
from bot.slack.action_ids import SlackValue
from bot.slack.text import escape_mrkdwn, slack_date, truncate_mrkdwn

STORM_EVENT_TYPE = "oncall_storm"


class StormActionId:
    ACK_ALL = "storm.ack_all"
    RESOLVE_ALL = "storm.resolve_all"
    SILENCE = "storm.silence"
    PAGE = "storm.page"
    SILENCE_SUBMIT = "storm.silence.submit"


class StormRef(SlackValue):
    """Which storm a button or the silence modal acts on, e.g. `{"storm_id":3}`."""

    what: ClassVar[str] = "a storm reference"

    storm_id: int = Field(ge=1)


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)


def _counts(name: str, counted: list[tuple[str, int]]) -> str:
    return f"*{name}:* " + ", ".join(f"{escape_mrkdwn(k)} {n}" for k, n in counted)


def _named(entries: list[StormEntry]) -> str:
    return ", ".join(f"#{e.incident_id} {escape_mrkdwn(e.title[:80])}"
                     + (f" ({escape_mrkdwn(e.severity)})" if e.severity else "")
                     for e in entries)


def summary_message(summary: StormSummary, counts: dict) -> tuple[str, list[Block]]:
    """The one message of the storm; `counts` are the final figures once it ended."""
    state = "ended" if summary.finished else "in progress"
    head = (f"Storm {state} in {escape_mrkdwn(summary.channel)}: {summary.total} incident"
            f"{'s' if summary.total != 1 else ''}")
    lines = [f"*{summary.open}* open, *{summary.acknowledged}* acknowledged, "
             f"*{summary.resolved}* resolved since {slack_date(summary.started_at)}",
             _counts("Teams", summary.by_team), _counts("Alerts", summary.by_alertname),
             _counts("Severity", summary.by_severity),
             _counts("Alert type", summary.by_alert_type),
             f"*Most severe:* {_named(summary.most_severe)}",
             f"*Newest:* {_named(summary.newest)}"]
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=head[:150])),
                           SectionBlock(text=_mrkdwn(truncate_mrkdwn("\n".join(lines), 3000)))]
    if summary.finished:
        lasted = format_duration_s(counts.get("seconds", 0))
        blocks.append(ContextBlock(elements=[_mrkdwn(
            f"Ended after {lasted}: {counts.get('resolved_on_their_own', 0)} resolved on their "
            f"own, {counts.get('still_open', 0)} still open.")]))
    else:
        blocks.append(ContextBlock(elements=[_mrkdwn(
            "New incidents of this channel join this summary; the thread lists every one.")]))
    if summary.open + summary.acknowledged:
        blocks.append(ActionsBlock(block_id=f"storm-actions-{summary.storm_id}",
                                   elements=storm_buttons(summary)))
    return truncate_mrkdwn(head, 3000), blocks


def format_duration_s(seconds: int) -> str:
    return format_duration(timedelta(seconds=max(int(seconds), 0)))


def storm_buttons(summary: StormSummary) -> list[ButtonElement]:
    value = StormRef(storm_id=summary.storm_id).encode()

    def button(label: str, action_id: str, style: str | None = None,
               confirm: ConfirmObject | None = None) -> ButtonElement:
        return ButtonElement(text=PlainTextObject(text=label), action_id=action_id,
                             value=value, style=style, confirm=confirm)
    buttons = []
    if summary.open:
        buttons.append(button("Ack all", StormActionId.ACK_ALL, "primary"))
    buttons += [
        button("Resolve all", StormActionId.RESOLVE_ALL, confirm=ConfirmObject(
            title="Resolve every incident?", confirm="Resolve all", deny="Cancel",
            text=f"Resolves the {summary.open + summary.acknowledged} open incidents of "
                 "this storm.")),
        button("Silence this storm", StormActionId.SILENCE),
        button("Page the storm", StormActionId.PAGE, "danger")]
    return buttons


def thread_text(entries: list[StormEntry]) -> str:
    """One thread reply: one line per incident (the caller keeps it under 4,000 chars)."""
    return "\n".join(list_line(e) for e in entries)


def silence_modal(storm_id: int, matchers: list[str], incidents: int) -> View:
    """Shown before the silence is made: exactly the matchers it will have."""
    shown = "\n".join(f"`{escape_mrkdwn(m)}`" for m in matchers)
    return View(type="modal", callback_id=StormActionId.SILENCE_SUBMIT,
                title=PlainTextObject(text="Silence this storm"),
                submit=PlainTextObject(text="Silence"), close=PlainTextObject(text="Cancel"),
                private_metadata=StormRef(storm_id=storm_id).encode(), blocks=[
                    SectionBlock(text=_mrkdwn(truncate_mrkdwn(
                        f"A silence with these matchers (the labels all {incidents} incidents' "
                        f"alerts share):\n{shown}", 3000))),
                    InputBlock(block_id="duration", label=PlainTextObject(text="For how long"),
                               element=PlainTextInputElement(action_id="value",
                                                             initial_value="2h")),
                    InputBlock(block_id="reason", label=PlainTextObject(text="Comment"),
                               optional=True, element=PlainTextInputElement(
                                   action_id="value", max_length=500))])
