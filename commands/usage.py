"""What `/oncall help` says: one usage line per subcommand, reused by parse errors and the manifest.

Pure text, no Slack imports. The syntax column is what `commands.parsing` accepts; a test
keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "COMMAND",
    "GENERAL_USAGE",
    "USAGES",
    "Usage",
    "help_text",
    "manifest_usage_hint",
    "usage_for",
    "usage_line",
]

COMMAND = "/oncall"


@dataclass(frozen=True)
class Usage:
    """One subcommand: its syntax, what it does, and an example that parses."""

    name: str
    syntax: str
    summary: str
    example: str

    @property
    def line(self) -> str:
        return f"{COMMAND} {self.syntax}"


USAGES: tuple[Usage, ...] = (
    Usage("help", "help [COMMAND]", "list the commands, or explain one", "help silence"),
    Usage("who", "who [TEAM]", "who is on call now, for every team or one", "who voice"),
    Usage(
        "ack", "ack [#N]", "acknowledge an incident (the thread's when #N is left out)", "ack #42"
    ),
    Usage(
        "resolve",
        "resolve [#N] [NOTE...]",
        "resolve an incident, with a note",
        "resolve #42 rolled back",
    ),
    Usage(
        "escalate",
        "escalate [#N] [REASON...]",
        "page the next escalation level now",
        "escalate #42 no answer",
    ),
    Usage(
        "note",
        "note [#N] TEXT...",
        "add a note to an incident's timeline",
        "note #42 restarted the pods",
    ),
    Usage(
        "timeline", "timeline [#N] [page N]", "show an incident's timeline", "timeline #42 page 2"
    ),
    Usage(
        "runbook",
        "runbook NAME [#N]",
        "start a runbook, for an incident or on its own",
        "runbook gpu-oom #42",
    ),
    Usage(
        "silence",
        "silence MATCHERS for DURATION [COMMENT...]",
        "silence matching alerts (Alertmanager matchers)",
        'silence alertname="FTLHigh" service=~"voice.*" for 2h30m deploy in progress',
    ),
    Usage("silences", "silences", "list active silences", "silences"),
    Usage("unsilence", "unsilence ID", "end a silence early", "unsilence 7"),
    Usage(
        "maintenance",
        "maintenance TEAM for DURATION [COMMENT...]",
        "hold a team's pages during maintenance",
        "maintenance voice for 1h db upgrade",
    ),
    Usage(
        "override",
        "override @user for DURATION [TEAM]",
        "put someone on call in place of the schedule",
        "override @alice for 8h voice",
    ),
    Usage(
        "digest",
        "digest cost|noise [TEAM]",
        "send the cost or noise digest now, to your teams' channels or one team's",
        "digest noise voice",
    ),
    Usage(
        "test-page",
        "test-page [@user]",
        "send a test page (to yourself by default)",
        "test-page @alice",
    ),
    Usage(
        "action",
        "action @owner TEXT... [due DATE]",
        "record a follow-up; DATE is YYYY-MM-DD, today, tomorrow, a weekday or +3d",
        "action @alice add a GPU memory alert due friday",
    ),
    Usage(
        "actions", "actions [#N]", "list open follow-ups, for one incident or all", "actions #42"
    ),
    Usage("done", "done ACTION_ID", "mark a follow-up done", "done 12"),
    Usage("postmortem", "postmortem [#N]", "draft an incident's postmortem", "postmortem #42"),
    Usage(
        "route",
        "route test LABEL=VALUE...",
        "show where an alert with these labels would go",
        'route test alertname="FTLHigh" service=voice',
    ),
    Usage("audit", "audit", "recent audit entries of your teams (responders)", "audit"),
    Usage(
        "change",
        'change SERVICE KIND "SUMMARY"',
        "record a change no tool reports (a provider incident, a flag flipped by hand)",
        'change voice-agent provider "OpenAI degraded in eu-west"',
    ),
    Usage(
        "journal",
        "journal SERVICE [DURATION]",
        "a service's changes and incidents in time order (default: the last 7 days)",
        "journal voice-agent 3d",
    ),
    Usage(
        "page",
        "page TEAM [sev1|sev2|sev3|sev4] SUMMARY...",
        "declare an incident for a team (anyone; sev1/sev2 page its on-call, default sev2)",
        "page voice sev1 customers hear silence on calls",
    ),
    Usage(
        "update",
        "update [#N] TEXT...",
        "post a stakeholder update: thread, status channel, timeline",
        "update #42 failover done, error rate falling",
    ),
    Usage(
        "share",
        "share [#N|SERVICE] [for DURATION]",
        "a read-only link to an incident's or a service's journal, for people outside Slack",
        "share #42 for 3d",
    ),
    Usage(
        "unshare", "unshare #N|TOKEN", "revoke shared journal links", "unshare #42"
    ),
    Usage("publish", "publish [#N]", "publish an incident to the status page", "publish #42"),
)

_BY_NAME: Mapping[str, Usage] = MappingProxyType({usage.name: usage for usage in USAGES})

GENERAL_USAGE = f"{COMMAND} COMMAND [ARGS]; {COMMAND} help lists the commands"


def usage_for(name: str) -> Usage | None:
    """The entry for a subcommand, or None when there is no such subcommand."""
    return _BY_NAME.get(name)


def usage_line(name: str) -> str:
    """The usage line to show with an error: the subcommand's own, or the general one."""
    usage = _BY_NAME.get(name)
    return usage.line if usage else GENERAL_USAGE


def help_text(topic: str | None = None) -> str:
    """The reply to `/oncall help` (mrkdwn): every command, or one with an example."""
    usage = _BY_NAME.get(topic or "")
    if usage is not None:
        summary = usage.summary[:1].upper() + usage.summary[1:]
        return f"`{usage.line}`\n{summary}.\nExample: `{COMMAND} {usage.example}`"
    lines = [f"• `{usage.line}`: {usage.summary}" for usage in USAGES]
    return "\n".join([f"*{COMMAND} commands*", *lines])


def manifest_usage_hint() -> str:
    """The short hint Slack shows while typing the command (app manifest `usage_hint`)."""
    return " | ".join(_BY_NAME)
