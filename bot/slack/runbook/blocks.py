"""Runbook steps as thread messages (pure): what to look at, what to run, what to press."""

from __future__ import annotations

import re
from typing import ClassVar

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.domain.runbooks import (
    ActionNode,
    CheckNode,
    DoneNode,
    Node,
    QuestionNode,
    Remediate,
    Runbook,
    choices,
    confirmation,
)
from bot.domain.templating import render, render_url
from bot.slack.action_ids import SlackValue
from bot.slack.text import escape_mrkdwn, truncate_mrkdwn

CHOOSE_PREFIX = "runbook.choose."
CHOOSE_PATTERN = re.compile(r"^runbook\.choose\.\d+$")
BACK, RESTART = "runbook.back", "runbook.restart"
SECTION_MAX = 3000


class StepRef(SlackValue):
    """Which run, at which transition, on which step a button was pressed."""

    what: ClassVar[str] = "a runbook step (this button is from an older version)"

    run: int
    seq: int
    node: str
    option: int = 0


def step_message(runbook: Runbook, node_id: str, context: dict, ref: StepRef, step_no: int,
                 *, closed: str | None = None) -> tuple[str, list[Block]]:
    """One step; `closed` replaces the buttons with who answered what, once it is answered."""
    node = runbook.nodes[node_id]
    title = getattr(node, "title", None) or node_id.replace("-", " ")
    head = (f":clipboard: *{escape_mrkdwn(runbook.title)}* · step {step_no}: "
            f"*{escape_mrkdwn(title)}*")
    blocks: list[Block] = [_section(head), *_body(node, context)]
    if closed:
        blocks.append(ContextBlock(elements=[_mrkdwn(closed)]))
    else:
        blocks += _buttons(node, ref, step_no > 1)
    return f"Runbook {runbook.title}, step {step_no}: {title}", blocks[:50]


def _body(node: Node, context: dict) -> list[Block]:
    match node:
        case CheckNode():
            return [_section(_text(node.text, context)), *_diagnostics(node, context),
                    *_links(node, context)]
        case QuestionNode():
            return [_section(_text(node.prompt, context))]
        case ActionNode():
            return [_section(_text(node.text, context))]
        case DoneNode():
            return [_section(f":checkered_flag: {_text(node.outcome, context)}")]
    return []


def _diagnostics(node: CheckNode, context: dict) -> list[Block]:
    """Each command as a copyable code block, placeholders quoted for its language."""
    blocks = []
    for diagnostic in node.diagnostics[:20]:
        command = render(diagnostic.command, context, for_code=True,
                         language=diagnostic.language)
        code = escape_mrkdwn(command).replace("```", "'''")
        blocks.append(_section(f"*{escape_mrkdwn(diagnostic.label)}*\n```{code}```"))
    return blocks


def _links(node: CheckNode, context: dict) -> list[Block]:
    if not node.links:
        return []
    links = [f"<{render_url(link.url, context)}|{escape_mrkdwn(link.label)}>"
             for link in node.links]
    return [ContextBlock(elements=[_mrkdwn(" · ".join(links)[:SECTION_MAX])])]


def _buttons(node: Node, ref: StepRef, can_go_back: bool) -> list[Block]:
    buttons = []
    for index, choice in enumerate(choices(node)[:23]):
        buttons.append(ButtonElement(
            text=PlainTextObject(text=choice.label[:75]), action_id=f"{CHOOSE_PREFIX}{index}",
            value=ref.model_copy(update={"option": index}).encode(),
            style="danger" if isinstance(node, ActionNode) else None,
            confirm=_confirm(node) if isinstance(node, ActionNode) else None))
    if can_go_back:
        buttons.append(ButtonElement(text=PlainTextObject(text="Back"), action_id=BACK,
                                     value=ref.encode()))
    buttons.append(ButtonElement(text=PlainTextObject(text="Restart"), action_id=RESTART,
                                 value=ref.encode()))
    return [ActionsBlock(block_id=f"runbook-{ref.run}-{ref.seq}", elements=buttons)]


def _confirm(node: ActionNode) -> ConfirmObject:
    """The explicit confirmation click every runbook action needs."""
    never_auto = isinstance(node.do, Remediate) and node.do.remediate.never_auto
    return ConfirmObject(title=PlainTextObject(text="Confirm this step"),
                         text=_mrkdwn(escape_mrkdwn(confirmation(node))[:300]),
                         confirm=PlainTextObject(text="Yes, do it"),
                         deny=PlainTextObject(text="Cancel"),
                         style="danger" if never_auto else None)


def _text(template: str, context: dict) -> str:
    return render(template, context, for_code=False)


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=_mrkdwn(truncate_mrkdwn(text, SECTION_MAX)))


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)
