"""Turn `/oncall` text into a typed command, or a ParseError that says what to type instead.

One model per subcommand, told apart by `name`; `commands.arguments` reads the words
(Slack escaping, quotes, mentions, durations, matchers, dates). For example:

    ack #42
    override <@U024BE7LH|alice> for 8h voice
    silence alertname=“FTLHigh” service=~"voice.*" for 2h30m deploy &amp; migration
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from bot.domain.durations import Duration
from bot.domain.matchers import Matcher
from commands.arguments import (
    MAX_ID,
    Args,
    Mention,
    MentionKind,
    Refusal,
    find_mentions,
    parse_mention,
    read_due_date,
    read_duration,
    read_incident,
    read_labels,
    read_matchers,
    read_number,
    read_until_for,
    read_user,
    shown,
    strip_bot_mention,
    suggest,
)
from commands.share_parsing import SHARE_PARSERS, PublishCommand, ShareCommand, UnshareCommand
from commands.usage import GENERAL_USAGE, USAGES, usage_for, usage_line

__all__ = [
    "COMMAND_NAMES",
    "MAX_TEXT",
    "AckCommand",
    "ActionCommand",
    "ActionsCommand",
    "AuditCommand",
    "ChangeCommand",
    "Command",
    "CommandAdapter",
    "DigestCommand",
    "DoneCommand",
    "EscalateCommand",
    "HelpCommand",
    "JournalCommand",
    "MaintenanceCommand",
    "Mention",
    "MentionKind",
    "NoteCommand",
    "OverrideCommand",
    "PageCommand",
    "ParseError",
    "PostmortemCommand",
    "PublishCommand",
    "ResolveCommand",
    "RouteTestCommand",
    "RunbookCommand",
    "ShareCommand",
    "SilenceCommand",
    "SilencesCommand",
    "TestPageCommand",
    "TimelineCommand",
    "UnshareCommand",
    "UnsilenceCommand",
    "UpdateCommand",
    "WhoCommand",
    "find_mentions",
    "parse",
    "parse_mention",
    "strip_bot_mention",
]  # fmt: skip

# -- the commands ------------------------------------------------------------------------

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
SlackUserId = Annotated[str, Field(pattern=r"^[UW][A-Z0-9]+$")]
Text = Annotated[str, Field(min_length=1)]


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _OnIncident(_Command):
    incident: Id | None = None  # None: the incident of the thread the command was typed in


class HelpCommand(_Command):
    name: Literal["help"] = "help"
    topic: str | None = None  # a subcommand name


class WhoCommand(_Command):
    name: Literal["who"] = "who"
    team: str | None = None


class AckCommand(_OnIncident):
    name: Literal["ack"] = "ack"


class ResolveCommand(_OnIncident):
    name: Literal["resolve"] = "resolve"
    note: str | None = None


class EscalateCommand(_OnIncident):
    name: Literal["escalate"] = "escalate"
    reason: str | None = None


class NoteCommand(_OnIncident):
    name: Literal["note"] = "note"
    text: Text


class TimelineCommand(_OnIncident):
    name: Literal["timeline"] = "timeline"
    page: Id = 1


class RunbookCommand(_OnIncident):
    name: Literal["runbook"] = "runbook"
    runbook: Text


class SilenceCommand(_Command):
    name: Literal["silence"] = "silence"
    matchers: tuple[Matcher, ...] = Field(min_length=1)
    duration: Duration
    comment: str | None = None


class SilencesCommand(_Command):
    name: Literal["silences"] = "silences"


class UnsilenceCommand(_Command):
    name: Literal["unsilence"] = "unsilence"
    silence_id: Text


class MaintenanceCommand(_Command):
    name: Literal["maintenance"] = "maintenance"
    team: Text
    duration: Duration
    comment: str | None = None


class OverrideCommand(_Command):
    name: Literal["override"] = "override"
    user_id: SlackUserId
    duration: Duration
    team: str | None = None


class DigestCommand(_Command):
    name: Literal["digest"] = "digest"
    kind: Literal["cost", "noise"]
    team: str | None = None


class AuditCommand(_Command):
    name: Literal["audit"] = "audit"


class TestPageCommand(_Command):
    __test__: ClassVar[bool] = False  # a page test, not a pytest test class
    name: Literal["test-page"] = "test-page"
    user_id: SlackUserId | None = None  # None: the person who typed it


class ActionCommand(_Command):
    name: Literal["action"] = "action"
    owner_id: SlackUserId
    text: Text
    due: date | None = None


class ActionsCommand(_OnIncident):
    name: Literal["actions"] = "actions"


class DoneCommand(_Command):
    name: Literal["done"] = "done"
    action_id: Id


class PostmortemCommand(_OnIncident):
    name: Literal["postmortem"] = "postmortem"


class ChangeCommand(_Command):
    name: Literal["change"] = "change"
    service: Text
    kind: Text
    summary: Text


class JournalCommand(_Command):
    name: Literal["journal"] = "journal"
    service: Text
    since: Duration | None = None


class PageCommand(_Command):
    name: Literal["page"] = "page"
    team: Text
    severity: Literal["sev1", "sev2", "sev3", "sev4"] = "sev2"
    summary: Text


class UpdateCommand(_OnIncident):
    name: Literal["update"] = "update"
    text: Text


class RouteTestCommand(_Command):
    name: Literal["route"] = "route"
    labels: dict[str, str] = Field(min_length=1)


Command = Annotated[
    HelpCommand | WhoCommand | AckCommand | ResolveCommand | EscalateCommand | NoteCommand
    | TimelineCommand | RunbookCommand | SilenceCommand | SilencesCommand | UnsilenceCommand
    | MaintenanceCommand | OverrideCommand | DigestCommand | TestPageCommand | ActionCommand
    | ActionsCommand | DoneCommand | PostmortemCommand | RouteTestCommand | AuditCommand
    | ChangeCommand | JournalCommand
    | PageCommand | UpdateCommand
    | ShareCommand | UnshareCommand | PublishCommand,
    Field(discriminator="name"),
]  # fmt: skip
CommandAdapter: TypeAdapter[Command] = TypeAdapter(Command)


class ParseError(BaseModel):
    """What was wrong, the usage line to follow, maybe a guess; Slack mrkdwn, ready to post."""

    model_config = ConfigDict(frozen=True)

    message: str
    usage: str
    suggestion: str | None = None  # "did you mean `ack`?"

    def as_text(self) -> str:
        guess = f" {self.suggestion[:1].upper()}{self.suggestion[1:]}" if self.suggestion else ""
        return f"{self.message}{guess}\nUsage: `{self.usage}`"


# -- one parser per subcommand -----------------------------------------------------------

Parser = Callable[[Args], _Command]


def _incident_only(model: type[_OnIncident]) -> Parser:
    def parse_incident_only(args: Args) -> _Command:
        incident = read_incident(args, bare=True)  # nothing else a number could be here
        args.done()
        return model(incident=incident)

    return parse_incident_only


def _incident_and_text(model: type[_OnIncident], field: str, missing: str = "") -> Parser:
    """`[#N] [TEXT...]`; `missing` says what to ask for when the text is required."""

    def parse_incident_and_text(args: Args) -> _Command:
        incident, text = read_incident(args), args.rest()
        if text is None and missing:
            raise Refusal(missing)
        return model.model_validate({"incident": incident, field: text})

    return parse_incident_and_text


def _parse_help(args: Args) -> HelpCommand:
    token = args.peek()  # `help route test` is fine: the rest is ignored
    if token is None:
        return HelpCommand()
    if usage_for(token.value.lower()) is None:
        raise Refusal(
            f"There is no {shown(token.value)} command.",
            suggest(token.value, COMMAND_NAMES),
        )
    return HelpCommand(topic=token.value.lower())


def _parse_who(args: Args) -> WhoCommand:
    team = args.optional()
    args.done()
    return WhoCommand(team=team.value if team else None)


def _parse_timeline(args: Args) -> TimelineCommand:
    incident = read_incident(args, bare=True)
    page = 1
    if args.take_word("page"):
        page = read_number(args.take("page number after `page`"), "a page")
    args.done()
    return TimelineCommand(incident=incident, page=page)


def _parse_runbook(args: Args) -> RunbookCommand:
    incident = read_incident(args)  # `runbook #42 NAME` reads as well as `runbook NAME #42`
    runbook = args.take("runbook NAME").value
    incident = incident if incident is not None else read_incident(args)
    args.done()
    return RunbookCommand(incident=incident, runbook=runbook)


def _parse_silence(args: Args) -> SilenceCommand:
    matchers = tuple(
        found for token in read_until_for(args, "MATCHERS") for found in read_matchers(token)
    )
    if all(matcher.matches({}) for matcher in matchers):
        raise Refusal(
            "These matchers would silence every alert: add one that does not match an empty "
            'label, e.g. alertname="FTLHigh".'
        )
    duration = read_duration(args)
    return SilenceCommand(matchers=matchers, duration=duration, comment=args.rest())


def _parse_unsilence(args: Args) -> UnsilenceCommand:
    silence_id = args.take("silence ID (see `/oncall silences`)").value
    args.done()
    return UnsilenceCommand(silence_id=silence_id)


def _parse_maintenance(args: Args) -> MaintenanceCommand:
    team, *extra = read_until_for(args, "TEAM")
    if extra:
        raise Refusal(f"Unexpected {shown(extra[0].typed)}: give one TEAM before `for`.")
    duration = read_duration(args)
    return MaintenanceCommand(team=team.value, duration=duration, comment=args.rest())


def _parse_override(args: Args) -> OverrideCommand:
    user, *extra = read_until_for(args, "@user")
    if extra:
        raise Refusal(f"Unexpected {shown(extra[0].typed)}: give one @user before `for`.")
    user_id, duration = read_user(user), read_duration(args)
    team = args.optional()
    args.done()
    return OverrideCommand(user_id=user_id, duration=duration, team=team.value if team else None)


def _parse_digest(args: Args) -> DigestCommand:
    kind = args.take("digest kind: cost or noise").value.lower()
    if kind not in ("cost", "noise"):
        raise Refusal(
            f"{shown(kind)} is not a digest: choose cost or noise.",
            suggest(kind, ("cost", "noise")),
        )
    team = args.optional()
    args.done()
    return DigestCommand(kind=kind, team=team.value if team else None)  # type: ignore[arg-type]


def _parse_test_page(args: Args) -> TestPageCommand:
    user = args.optional()
    args.done()
    return TestPageCommand(user_id=read_user(user) if user else None)


def _parse_action(args: Args) -> ActionCommand:
    owner_id = read_user(args.take("@owner: who will do it"))
    due = None
    if len(args.tokens) - args.pos >= 2 and args.tokens[-2].is_word("due"):
        due, args.tokens = read_due_date(args.tokens[-1], args.today), args.tokens[:-2]
    text = args.rest()
    if text is None:
        raise Refusal("Missing TEXT: what needs doing?")
    return ActionCommand(owner_id=owner_id, text=text, due=due)


def _parse_done(args: Args) -> DoneCommand:
    action_id = read_number(args.take("ACTION_ID (see `/oncall actions`)"), "an action")
    args.done()
    return DoneCommand(action_id=action_id)


def _parse_route(args: Args) -> RouteTestCommand:
    if not args.take_word("test"):
        raise Refusal("`route` has one subcommand: `route test LABEL=VALUE...`.")
    labels = read_labels(args)
    if not labels:
        raise Refusal('Missing LABEL=VALUE, e.g. `route test alertname="FTLHigh"`.')
    return RouteTestCommand(labels=labels)


def _parse_change(args: Args) -> ChangeCommand:
    service = args.take("SERVICE, e.g. voice-agent").value
    kind = args.take("KIND: deploy, prompt, model, config, flag, provider or another word")
    summary = args.rest()
    if summary is None:
        raise Refusal('Missing "SUMMARY": what changed?')
    return ChangeCommand(service=service, kind=kind.value.lower(), summary=summary)


def _parse_journal(args: Args) -> JournalCommand:
    service = args.take("SERVICE, e.g. voice-agent").value
    since = None
    if args.peek() is not None:
        since = read_duration(args)
    args.done()
    return JournalCommand(service=service, since=since)


def _parse_page(args: Args) -> PageCommand:
    """`page TEAM [sevN] SUMMARY...`: the severity word is optional, the summary is not."""
    team = args.take("TEAM (see `/oncall who`)").value
    word = args.peek()
    severity = "sev2"
    if word is not None and word.value.lower() in ("sev1", "sev2", "sev3", "sev4"):
        severity, args.pos = word.value.lower(), args.pos + 1
    summary = args.rest()
    if summary is None:
        raise Refusal("Missing SUMMARY: say in a few words what is wrong.")
    return PageCommand(team=team, severity=severity, summary=summary)


def _no_arguments(model: type[_Command]) -> Parser:
    def parse_no_arguments(args: Args) -> _Command:
        args.done()
        return model()

    return parse_no_arguments


_PARSERS: dict[str, Parser] = {
    "help": _parse_help,
    "who": _parse_who,
    "ack": _incident_only(AckCommand),
    "resolve": _incident_and_text(ResolveCommand, "note"),
    "escalate": _incident_and_text(EscalateCommand, "reason"),
    "note": _incident_and_text(NoteCommand, "text", "Missing TEXT: what should the note say?"),
    "timeline": _parse_timeline,
    "runbook": _parse_runbook,
    "silence": _parse_silence,
    "silences": _no_arguments(SilencesCommand),
    "unsilence": _parse_unsilence,
    "maintenance": _parse_maintenance,
    "override": _parse_override,
    "digest": _parse_digest,
    "test-page": _parse_test_page,
    "action": _parse_action,
    "actions": _incident_only(ActionsCommand),
    "done": _parse_done,
    "postmortem": _incident_only(PostmortemCommand),
    "route": _parse_route,
    "audit": _no_arguments(AuditCommand),
    "change": _parse_change,
    "journal": _parse_journal,
    "page": _parse_page,
    "update": _incident_and_text(UpdateCommand, "text",
                                 "Missing TEXT: what should stakeholders hear?"),
    **SHARE_PARSERS,
}
COMMAND_NAMES: tuple[str, ...] = tuple(usage.name for usage in USAGES)
MAX_TEXT = 4000  # characters; also bounds the tokenizer's work


def parse(text: str, *, today: date) -> Command | ParseError:
    """Read one `/oncall` line; `today` resolves due dates such as `friday` (no clock here)."""
    if len(text) > MAX_TEXT:
        message = f"That is {len(text)} characters; a command can be at most {MAX_TEXT}."
        return ParseError(message=message, usage=GENERAL_USAGE)
    args = Args.read(text, today)
    first = args.peek()
    if first is None or not first.value:
        return HelpCommand()
    name, args.pos = first.value.lower(), 1
    parser = _PARSERS.get(name)
    if parser is None:
        message = f"{shown(first.value)} is not an /oncall command."
        return ParseError(
            message=message, usage=GENERAL_USAGE, suggestion=suggest(name, COMMAND_NAMES)
        )
    try:
        return parser(args)  # type: ignore[return-value]
    except Refusal as refusal:
        usage = usage_line(name)
        return ParseError(message=refusal.message, usage=usage, suggestion=refusal.suggestion)
