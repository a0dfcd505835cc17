"""What each /oncall subcommand does: the same services as the buttons, answered in words.

One function per command; `run` dispatches on the parsed command's type. Replies are Slack
mrkdwn; anything taken from the record is escaped by the builders it comes from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.routing_report import describe, who_wakes_up
from bot.services import audit, digests, incidents, lookups, postmortem, records, runbooks
from bot.services.context import ServiceContext
from bot.services.route_holds import hold_state
from bot.services.test_page import pagers_for, test_page
from bot.slack.text import escape_mrkdwn, slack_date, truncate_mrkdwn, user_mention
from commands import parsing as p
from commands.change_handlers import CHANGE_HANDLERS
from commands.people_handlers import PEOPLE_HANDLERS
from commands.quiet_handlers import QUIET_HANDLERS
from commands.reply import Invocation, Reply
from commands.share_handlers import SHARE_HANDLERS
from commands.usage import help_text

TIMELINE_PAGE = 20


Handler = Callable[[ServiceContext, object, Invocation], Awaitable[Reply]]


async def run(ctx: ServiceContext, command: p.Command, call: Invocation) -> Reply:
    handler = HANDLERS.get(type(command))
    if handler is None:
        return Reply(f"`/oncall {command.name}` is not available in this version of the bot "
                     "yet. `/oncall help` lists what is.")
    return await handler(ctx, command, call)


async def _help(ctx, command: p.HelpCommand, call: Invocation) -> Reply:
    return Reply(help_text(command.topic))


async def _who(ctx: ServiceContext, command: p.WhoCommand, call: Invocation) -> Reply:
    teams = [command.team] if command.team else sorted(ctx.config.teams)
    unknown = [t for t in teams if t not in ctx.config.teams]
    if unknown:
        return Reply(f"No team {escape_mrkdwn(unknown[0])}; teams: "
                     f"{', '.join(sorted(ctx.config.teams))}.")
    on_call = await lookups.on_call(ctx, teams, ctx.clock.now())
    return Reply("\n".join(_who_line(team, now) for team, now in on_call))


def _who_line(team: str, on_call) -> str:
    if on_call is None or (on_call.primary is None and on_call.shift_end == on_call.shift_start):
        return f"*{escape_mrkdwn(team)}*: no schedule configured"
    if on_call.primary is None:
        return (f"*{escape_mrkdwn(team)}*: nobody on call (a gap) until "
                f"{slack_date(on_call.next_handoff)}")
    secondary = f", secondary <@{on_call.secondary}>" if on_call.secondary else ""
    return (f"*{escape_mrkdwn(team)}*: primary <@{on_call.primary}>{secondary} until "
            f"{slack_date(on_call.shift_end)}; next handoff {slack_date(on_call.next_handoff)}")


async def _ack(ctx, command: p.AckCommand, call: Invocation) -> Reply:
    incident_id = await records.target_incident(ctx, command.incident, call.where)
    await incidents.acknowledge(ctx, incident_id, call.actor)
    return Reply(f"Acknowledged #{incident_id}.")


async def _resolve(ctx, command: p.ResolveCommand, call: Invocation) -> Reply:
    incident_id = await records.target_incident(ctx, command.incident, call.where)
    await incidents.resolve(ctx, incident_id, call.actor, note=command.note or "")
    return Reply(f"Resolved #{incident_id}.")


async def _escalate(ctx, command: p.EscalateCommand, call: Invocation) -> Reply:
    incident_id = await records.target_incident(ctx, command.incident, call.where)
    await incidents.escalate(ctx, incident_id, call.actor, reason=command.reason or "")
    return Reply(f"Escalated #{incident_id} to the next level.")


async def _note(ctx, command: p.NoteCommand, call: Invocation) -> Reply:
    incident_id = await records.target_incident(ctx, command.incident, call.where)
    await records.add_note(ctx, incident_id, call.actor, command.text)
    return Reply(f"Noted on #{incident_id}'s timeline.")


async def _timeline(ctx, command: p.TimelineCommand, call: Invocation) -> Reply:
    incident_id = await records.target_incident(ctx, command.incident, call.where)
    incident, events = await records.timeline(ctx, incident_id, call.actor, call.where)
    pages = max(1, -(-len(events) // TIMELINE_PAGE))
    page = min(command.page, pages)
    shown = events[(page - 1) * TIMELINE_PAGE: page * TIMELINE_PAGE]
    lines = [f"{slack_date(e.at, '{date_short} {time_secs}')} *{e.kind}*"
             + (f" {user_mention(e.actor)}" if e.actor and e.actor[0] in "UW" else "")
             + (f": {_event_text(e)}" if e.text else "") for e in shown]
    more = (f"\nPage {page} of {pages}: `/oncall timeline #{incident_id} page {page + 1}` "
            "for more." if page < pages else "")
    return Reply(f"*Timeline of #{incident_id}* {escape_mrkdwn(incident.title)}\n"
                 + "\n".join(lines) + more)


def _event_text(event) -> str:
    """The bot's own mentions stay live; text from a person or an alert is inert."""
    text = event.text if event.mrkdwn else escape_mrkdwn(event.text)
    return truncate_mrkdwn(text, 300)


async def _runbook(ctx, command: p.RunbookCommand, call: Invocation) -> Reply:
    incident_id = await records.target_incident(ctx, command.incident, call.where)
    await runbooks.start_run(ctx, incident_id, call.actor, command.runbook)
    return Reply(f"Started runbook {escape_mrkdwn(command.runbook)} in #{incident_id}'s thread.")


async def _test_page(ctx, command: p.TestPageCommand, call: Invocation) -> Reply:
    user = command.user_id or call.actor.user_id
    await test_page(ctx, user, requested_by=call.actor)
    targets = ["a Slack DM"] + [f"pager {escape_mrkdwn(n)}" for n in pagers_for(ctx, user)]
    return Reply(f"Sending a test page to <@{user}> through {', '.join(targets)}.")


async def _route_test(ctx, command: p.RouteTestCommand, call: Invocation) -> Reply:
    holds = await hold_state(ctx, ctx.clock.now())
    report = describe(ctx.config, command.labels, holds=holds, runbooks=ctx.runbooks)
    lines = []
    for i, match in enumerate(report["matches"], 1):
        lines.append(f"{i}. team *{escape_mrkdwn(match['team'])}* channel "
                     f"{escape_mrkdwn(match['channel'])} action *{match['action']}*")
        lines += [f"   • {escape_mrkdwn(r)}" for r in match["reasons"]]
        lines += [f"   • context: {escape_mrkdwn(r)}" for r in match.get("context", [])]
        lines += [f"   • {escape_mrkdwn(r)}" for r in who_wakes_up(match)]
    return Reply("\n".join(lines))


async def _postmortem(ctx, command: p.PostmortemCommand, call: Invocation) -> Reply:
    incident_id = await records.target_incident(ctx, command.incident, call.where)
    await postmortem.share(ctx, incident_id, call.actor)
    return Reply(f"Uploading the postmortem draft of #{incident_id} to its thread.")


async def _digest(ctx, command: p.DigestCommand, call: Invocation) -> Reply:
    """On demand: never claims a scheduled window, so the hourly or weekly one still goes out.
    Without TEAM: every team for an admin, else the teams the caller responds for."""
    send = digests.send_cost_digests_now if command.kind == "cost" else \
        digests.send_noise_reviews_now
    what = "cost digest" if command.kind == "cost" else "noise review"
    mine = [None] if audit.is_admin(ctx, call.actor) else audit.teams_of(ctx, call.actor)
    sent = []
    for team in [command.team] if command.team else mine or [None]:
        sent += await send(ctx, team, actor=call.actor)
    if not sent:
        return Reply(f"Nothing to send: the {what} would be empty.")
    return Reply(f"Sending {len(sent)} {what} message(s) to the team channels.")


async def _audit(ctx: ServiceContext, command: p.AuditCommand, call: Invocation) -> Reply:
    rows = await audit.team_entries(ctx, call.actor)
    if not rows:
        return Reply("No audit entries for your teams yet.")
    lines = [f"{slack_date(r.at, '{date_short} {time_secs}')} <@{r.actor}> *{r.action}*"
             f"{' :no_entry: refused' if r.outcome == 'refused' else ''} "
             f"{escape_mrkdwn(r.target)}" + (f": {escape_mrkdwn(r.detail)[:200]}"
                                             if r.detail else "") for r in rows]
    return Reply("*Recent audit entries of your teams*\n" + "\n".join(lines))


HANDLERS: dict[type, Handler] = {
    p.HelpCommand: _help, p.WhoCommand: _who, p.AckCommand: _ack, p.ResolveCommand: _resolve,
    p.EscalateCommand: _escalate, p.NoteCommand: _note, p.TimelineCommand: _timeline,
    p.RunbookCommand: _runbook, p.TestPageCommand: _test_page,
    p.RouteTestCommand: _route_test, p.PostmortemCommand: _postmortem, p.DigestCommand: _digest,
    p.AuditCommand: _audit,
    **QUIET_HANDLERS,
    **CHANGE_HANDLERS,
    **PEOPLE_HANDLERS,
    **SHARE_HANDLERS,
}
