"""/oncall change and /oncall journal: record what changed, read what happened to a service."""

from __future__ import annotations

from datetime import timedelta

from pydantic import ValidationError

from bot.domain.changes import ChangeEvent
from bot.domain.errors import DomainError
from bot.services import changes, journal
from bot.services.context import ServiceContext
from bot.slack.text import escape_mrkdwn, slack_date, truncate_mrkdwn, user_mention
from commands import parsing as p
from commands.reply import Invocation, Reply

JOURNAL_DEFAULT = timedelta(days=7)
JOURNAL_SHOWN = 40
ENTRY_MAX = 300


async def _change(ctx: ServiceContext, command: p.ChangeCommand, call: Invocation) -> Reply:
    try:
        event = ChangeEvent(service=command.service, kind=command.kind, summary=command.summary)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise DomainError(f"{first['loc'][0]}: {first['msg'].removeprefix('Value error, ')}"
                          ) from None
    change_id = await changes.record_from_slack(ctx, call.actor, event)
    return Reply(f"Recorded change {change_id}: *{escape_mrkdwn(event.kind)}* of "
                 f"{escape_mrkdwn(event.service)} by {user_mention(call.actor.user_id)}: "
                 f"{escape_mrkdwn(event.summary)}. Incident messages of the service (and of "
                 "those that depend on it) list it under Recent changes.")


async def _journal(ctx: ServiceContext, command: p.JournalCommand, call: Invocation) -> Reply:
    since = command.since or JOURNAL_DEFAULT
    entries = await journal.service_journal(ctx, command.service, ctx.clock.now() - since,
                                            viewer=call.actor)
    head = f"*Journal of {escape_mrkdwn(command.service)}*"
    if not entries:
        return Reply(f"{head}: nothing recorded in the last {since.days or 1} day(s).")
    shown = entries[-JOURNAL_SHOWN:]
    more = (f"\n_{len(entries) - len(shown)} earlier entries: `oncall-bot journal "
            f"{escape_mrkdwn(command.service)}` prints them all._" if len(entries) > len(shown)
            else "")
    return Reply(head + "\n" + "\n".join(_line(e) for e in shown) + more)


def _line(entry: journal.JournalEntry) -> str:
    where = f"#{entry.incident} " if entry.incident else ""
    what = "change" if entry.kind == "change" else entry.kind.replace("_", " ")
    text = truncate_mrkdwn(escape_mrkdwn(entry.text), ENTRY_MAX)
    return f"{slack_date(entry.at, '{date_short} {time}')} {where}*{what}*: {text}"


CHANGE_HANDLERS = {p.ChangeCommand: _change, p.JournalCommand: _journal}
