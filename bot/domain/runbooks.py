"""Decision-tree runbooks: the YAML schema and small helpers on one node.

A runbook is a graph of nodes: `check` (look at something, then pick what you saw),
`question` (2-5 answers), `action` (escalate, route to humans, resolve, notify or run a
remediation hook, always after a confirmation click) and `done`. Walking a runbook and
picking one for an alert live in `runbook_walk`; checks beyond the shape (references,
reachability, Slack limits) in `runbook_lint`; reading YAML in `runbook_loader`; the
outline/Mermaid views in `runbook_show`; `{{ labels.x }}` placeholders in `templating`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    StringConstraints,
    Tag,
    field_validator,
    model_validator,
)

from bot.domain.errors import DomainError, NothingToDo
from bot.domain.templating import Language

__all__ = [
    "ActionNode",
    "AutomaticRemediationRefused",
    "CheckNode",
    "Choice",
    "Diagnostic",
    "DoneNode",
    "Escalate",
    "Link",
    "Node",
    "Notify",
    "Option",
    "QuestionNode",
    "Remediate",
    "Resolve",
    "RouteToHumans",
    "Runbook",
    "RunbookError",
    "Serves",
    "StaleStep",
    "assert_manual",
    "choices",
    "confirmation",
    "describe",
    "is_terminal",
    "successors",
    "summary",
]

SLACK_BUTTON_TEXT_MAX = 75
Text = Annotated[str, StringConstraints(min_length=1)]


def _matching(pattern: str, what: str) -> AfterValidator:
    """A pattern check whose error says what is expected, not the regex."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


Id = Annotated[
    str,
    _matching(
        r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
        "an id: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
    ),
]
Channel = Annotated[
    str, _matching(r"#[a-z0-9][a-z0-9._-]*|[CG][A-Z0-9]+", "a #channel-name or a channel id")
]
UserGroup = Annotated[str, _matching(r"S[A-Z0-9]+", "a user group id (S...)")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


# -- errors ------------------------------------------------------------------------------


class RunbookError(DomainError):
    """A runbook that cannot be walked as asked (unknown runbook, broken reference)."""


class StaleStep(NothingToDo):
    """The click answered a step that is no longer current: someone else answered first."""


class AutomaticRemediationRefused(DomainError):
    """A `never_auto` remediation was asked to run without a person confirming it."""


# -- schema ------------------------------------------------------------------------------


class Option(_Model):
    """One button: its label and the node it leads to."""

    label: Text
    next: Text


class Diagnostic(_Model):
    """A command to run or a query to paste; placeholders are quoted for its language."""

    label: Text
    language: Language = "shell"
    command: Text


class Link(_Model):
    label: Text
    url: Text

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        if not url.startswith(("https://", "http://", "{{")):
            raise ValueError("a link must be an http(s) URL (or a {{ placeholder }} that is one)")
        return url


class _Empty(_Model):
    pass


class EscalateTo(_Model):
    level: int | None = Field(None, ge=1)
    target: Text | None = None

    @model_validator(mode="after")
    def _one(self) -> EscalateTo:
        if (self.level is None) == (self.target is None):
            raise ValueError("escalate takes exactly one of level or target")
        return self


class ResolveWith(_Model):
    note: str = ""


class NotifyWhom(_Model):
    channel: Channel | None = None
    usergroup: UserGroup | None = None

    @model_validator(mode="after")
    def _one(self) -> NotifyWhom:
        if (self.channel is None) == (self.usergroup is None):
            raise ValueError("notify takes exactly one of channel or usergroup")
        return self


class RemediateWith(_Model):
    hook: Id
    never_auto: bool = False


class Escalate(_Model):
    escalate: EscalateTo


class RouteToHumans(_Model):
    route_to_humans: _Empty = Field(default_factory=_Empty)

    @field_validator("route_to_humans", mode="before")
    @classmethod
    def _null_is_empty(cls, value: object) -> object:
        return {} if value is None else value


class Resolve(_Model):
    resolve: ResolveWith = Field(default_factory=ResolveWith)

    @field_validator("resolve", mode="before")
    @classmethod
    def _null_is_empty(cls, value: object) -> object:
        return {} if value is None else value


class Notify(_Model):
    notify: NotifyWhom


class Remediate(_Model):
    remediate: RemediateWith


_DO_TAGS = ("escalate", "route_to_humans", "resolve", "notify", "remediate")


def _do_tag(value: object) -> str | None:
    """`do` holds exactly one key; that key says which effect it is."""
    if isinstance(value, Mapping):
        return next(iter(value)) if len(value) == 1 else None
    return next((tag for tag in _DO_TAGS if tag in type(value).model_fields), None)


Do = Annotated[
    Annotated[Escalate, Tag("escalate")]
    | Annotated[RouteToHumans, Tag("route_to_humans")]
    | Annotated[Resolve, Tag("resolve")]
    | Annotated[Notify, Tag("notify")]
    | Annotated[Remediate, Tag("remediate")],
    Discriminator(
        _do_tag,
        custom_error_type="invalid_do",
        custom_error_message=f"`do` takes exactly one of: {', '.join(_DO_TAGS)}",
    ),
]


class CheckNode(_Model):
    """Look at something (commands, dashboards), then pick what you saw."""

    kind: Literal["check"]
    title: Text | None = None
    text: Text
    diagnostics: list[Diagnostic] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    options: list[Option] = Field(min_length=1)


class QuestionNode(_Model):
    """Ask the responder; each answer is a button (Slack shows 5 without clutter)."""

    kind: Literal["question"]
    title: Text | None = None
    prompt: Text
    answers: list[Option] = Field(min_length=2, max_length=5)


class ActionNode(_Model):
    """Do one thing after a confirmation click; the walk ends here when there is no `next`."""

    kind: Literal["action"]
    title: Text | None = None
    text: Text
    do: Do
    confirm: Text | None = None
    next: Text | None = None
    auto: bool = False  # a high-confidence page may run it after the cancel window


def may_run_automatically(node: Node) -> bool:
    """An action step marked `auto: true` and not a `never_auto` remediation."""
    if not isinstance(node, ActionNode) or not node.auto:
        return False
    return not (isinstance(node.do, Remediate) and node.do.remediate.never_auto)


class DoneNode(_Model):
    kind: Literal["done"]
    title: Text | None = None
    outcome: Text


Node = Annotated[CheckNode | QuestionNode | ActionNode | DoneNode, Field(discriminator="kind")]


class Serves(_Model):
    """Which alerts offer this runbook: by `alert_type` label and/or by `alertname`."""

    alert_types: list[Text] = Field(default_factory=list)
    alertnames: list[Text] = Field(default_factory=list)


class Runbook(_Model):
    """One YAML file of `runbooks/`; `file` is where it was read from (for lint messages)."""

    id: Id
    title: Text
    serves: Serves = Field(default_factory=Serves)
    start: Text
    nodes: dict[Id, Node] = Field(min_length=1)

    _file: str = PrivateAttr(default="")

    @property
    def file(self) -> str:
        return self._file

    def with_file(self, file: str) -> Runbook:
        """Remember the source file so every problem can name it."""
        copy = self.model_copy()
        copy._file = file
        return copy


# -- nodes -------------------------------------------------------------------------------


class Choice(_Model):
    """A button of the current step; `next` None ends the walk."""

    label: str
    next: str | None


def describe(do: Escalate | RouteToHumans | Resolve | Notify | Remediate) -> str:
    """Say what an action does, in words a responder reads before confirming."""
    match do:
        case Escalate(escalate=EscalateTo(level=int() as level)):
            return f"escalate to level {level}"
        case Escalate(escalate=EscalateTo(target=target)):
            return f"escalate to {target}"
        case RouteToHumans():
            return "route conversations to human agents"
        case Resolve():
            return "resolve the incident"
        case Notify(notify=NotifyWhom(channel=str() as channel)):
            return f"notify {channel}"
        case Notify(notify=NotifyWhom(usergroup=group)):
            return f"notify user group {group}"
        case Remediate(remediate=RemediateWith(hook=hook)):
            return f"run hook {hook}"
    raise AssertionError(f"unknown action {do!r}")


def confirmation(node: ActionNode) -> str:
    """The text of the confirmation dialog: the runbook's own, or one that names the effect."""
    if node.confirm:
        return node.confirm
    default = f"This will {describe(node.do)} now. Continue?"
    if isinstance(node.do, Resolve) and node.do.resolve.note:
        return f"{default} Note: {node.do.resolve.note}"
    if isinstance(node.do, Remediate) and node.do.remediate.never_auto:
        return f"{default} A person must confirm this; it never runs automatically."
    return default


def _button(text: str) -> str:
    text = text[0].upper() + text[1:]
    return text if len(text) <= SLACK_BUTTON_TEXT_MAX else text[: SLACK_BUTTON_TEXT_MAX - 1] + "…"


def choices(node: Node) -> list[Choice]:
    """The buttons of a step, in order; an action has one, the confirmed effect."""
    match node:
        case CheckNode(options=options) | QuestionNode(answers=options):
            return [Choice(label=option.label, next=option.next) for option in options]
        case ActionNode():
            return [Choice(label=_button(describe(node.do)), next=node.next)]
    return []


def successors(node: Node) -> list[str]:
    """The node ids this node leads to, in button order, for graph checks and drawing."""
    return [choice.next for choice in choices(node) if choice.next is not None]


def is_terminal(node: Node) -> bool:
    """A walk may end here: a done node, or an action with nothing after it."""
    return isinstance(node, DoneNode) or (isinstance(node, ActionNode) and node.next is None)


def summary(node: Node, limit: int = 60) -> str:
    """A one-line name for a node: its title, else the first line of its main text."""
    match node:
        case CheckNode(text=text) | ActionNode(text=text):
            main = text
        case QuestionNode(prompt=main) | DoneNode(outcome=main):
            pass
    line = node.title or main.strip().splitlines()[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def assert_manual(node: Node, *, automatic: bool) -> None:
    """Refuse to run a `never_auto` remediation on any path a person did not click."""
    if not automatic or not isinstance(node, ActionNode) or not isinstance(node.do, Remediate):
        return
    if node.do.remediate.never_auto:
        raise AutomaticRemediationRefused(
            f"Hook {node.do.remediate.hook} never runs automatically: "
            "a responder must confirm it in the runbook."
        )
