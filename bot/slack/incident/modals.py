"""Modal views (pure builders) and the typed metadata they carry through Slack."""

from __future__ import annotations

from typing import ClassVar

from slack_sdk.models.blocks import (
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.slack.action_ids import SlackValue
from bot.slack.text import escape_mrkdwn


class ViewId:
    """callback_ids: one per modal, shared by the builder and its submission handler."""

    ESCALATE = "incident.escalate.submit"
    HANDOFF = "incident.handoff.submit"
    RESOLVE = "incident.resolve.submit"


class ModalMeta(SlackValue):
    """What a modal acts on, carried in its private_metadata."""

    what: ClassVar[str] = "a form of this version of the bot"

    incident_id: int
    mode: str = ""


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)


def _reason(label: str, optional: bool = True, block_id: str = "reason") -> InputBlock:
    return InputBlock(block_id=block_id, label=PlainTextObject(text=label), optional=optional,
                      element=PlainTextInputElement(action_id="value", multiline=True,
                                                    max_length=1000))


def escalate_modal(incident_id: int, title: str, usergroups: list[str] = ()) -> View:
    """Next level, or a person or user group chosen now; with a reason for the timeline.

    Block Kit has no user-group picker, so the groups offered are the ones oncall.yaml names.
    """
    options = [_NEXT_LEVEL, _CHOSEN] + ([_GROUP] if usergroups else [])
    how = RadioButtonsElement(action_id="value", initial_option=_NEXT_LEVEL, options=options)
    group_block = ([InputBlock(block_id="usergroup", optional=True,
                               label=PlainTextObject(text="User group (for 'a user group')"),
                               element=StaticSelectElement(action_id="value", options=[
                                   Option(value=g, label=g) for g in usergroups[:100]]))]
                   if usergroups else [])
    return View(
        type="modal", callback_id=ViewId.ESCALATE, title=PlainTextObject(text="Escalate"),
        submit=PlainTextObject(text="Escalate"), close=PlainTextObject(text="Cancel"),
        private_metadata=ModalMeta(incident_id=incident_id).encode(),
        blocks=[
            SectionBlock(text=_mrkdwn(f"*#{incident_id}* {escape_mrkdwn(title)[:2800]}")),
            InputBlock(block_id="how", label=PlainTextObject(text="Page"), element=how),
            InputBlock(block_id="person", optional=True,
                       label=PlainTextObject(text="Person (for 'someone I choose')"),
                       element=UserSelectElement(action_id="value")),
            *group_block,
            _reason("Reason"),
        ])


_NEXT_LEVEL = Option(value="next", label="the next escalation level")
_CHOSEN = Option(value="person", label="someone I choose")
_GROUP = Option(value="usergroup", label="a user group")


def handoff_modal(incident_id: int, title: str, service: str, mode: str, humans: str) -> View:
    """Confirm the off-switch (or its reverse) before the bot calls the handoff webhook."""
    to_humans = mode == "humans"
    what = (f"This switches *{escape_mrkdwn(service)}* to human handling and tells "
            f"{humans}." if to_humans else
            f"This gives *{escape_mrkdwn(service)}* back to the AI workflow.")
    return View(
        type="modal", callback_id=ViewId.HANDOFF,
        title=PlainTextObject(text="Route to humans" if to_humans else "Restore AI"),
        submit=PlainTextObject(text="Route to humans" if to_humans else "Restore AI"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=ModalMeta(incident_id=incident_id, mode=mode).encode(),
        blocks=[SectionBlock(text=_mrkdwn(f"*#{incident_id}* {escape_mrkdwn(title)[:2000]}\n"
                                          f"{what}")),
                _reason("Reason", optional=not to_humans)])


def resolve_modal(incident_id: int, title: str, still_firing: int) -> View:
    blocks = [SectionBlock(text=_mrkdwn(f"*#{incident_id}* {escape_mrkdwn(title)[:2800]}"))]
    if still_firing:
        blocks.append(ContextBlock(elements=[_mrkdwn(
            f":warning: {still_firing} alert{'s are' if still_firing > 1 else ' is'} still "
            "firing at the source. Resolving here stops paging; repeats of them will add a "
            "note to the thread instead of paging again.")]))
    blocks.append(_reason("Resolution note"))
    return View(type="modal", callback_id=ViewId.RESOLVE, title=PlainTextObject(text="Resolve"),
                submit=PlainTextObject(text="Resolve"), close=PlainTextObject(text="Cancel"),
                private_metadata=ModalMeta(incident_id=incident_id).encode(), blocks=blocks)


def progress_view(title: str, text: str) -> View:
    """Shown at once after a submission whose result comes later (a webhook call)."""
    return View(type="modal", title=PlainTextObject(text=title[:24]),
                close=PlainTextObject(text="Close"),
                blocks=[SectionBlock(text=_mrkdwn(text[:3000]))])


def submitted(view: dict, block_id: str) -> str:
    """The value a user entered in one input block of a submitted view ('' when empty)."""
    state = view.get("state", {}).get("values", {}).get(block_id, {}).get("value", {})
    if state.get("type") == "radio_buttons":
        return (state.get("selected_option") or {}).get("value", "")
    if state.get("type") == "users_select":
        return state.get("selected_user") or ""
    if state.get("type") == "static_select":
        return (state.get("selected_option") or {}).get("value", "")
    return (state.get("value") or "").strip()
