"""/oncall silence, silences, unsilence, maintenance, override, action, actions, done."""

from __future__ import annotations

from bot.domain.durations import format_duration
from bot.domain.errors import DomainError
from bot.services import followups, records, silences
from bot.services.context import ServiceContext
from bot.slack.text import escape_mrkdwn, slack_date
from commands import parsing as p
from commands.reply import Invocation, Reply


async def _silence(ctx: ServiceContext, command: p.SilenceCommand, call: Invocation) -> Reply:
    silence = await silences.create_silence(ctx, list(command.matchers), command.duration,
                                            command.comment or "", call.actor)
    what = ", ".join(f"`{escape_mrkdwn(m)}`" for m in silence.matchers)
    return Reply(f":mute: Silence {silence.id} by <@{call.actor.user_id}>: {what} for "
                 f"{format_duration(command.duration)}, until {slack_date(silence.ends_at)}. "
                 "Matching alerts are stored, not posted; still-firing ones are posted when it "
                 "ends. Announced in the team's channel with an End now button.")


async def _silences(ctx: ServiceContext, command: p.SilencesCommand, call: Invocation) -> Reply:
    active = await silences.active_silences(ctx, viewer=call.actor)
    if not active:
        return Reply("No active silences.")
    lines = [f"*{s.id}* {', '.join(f'`{escape_mrkdwn(m)}`' for m in s.matchers)} until "
             f"{slack_date(s.ends_at)} by <@{s.created_by}>, {s.suppressed} held"
             + (f": {escape_mrkdwn(s.comment)}" if s.comment else "") for s in active]
    return Reply("\n".join(lines))


async def _unsilence(ctx: ServiceContext, command: p.UnsilenceCommand, call: Invocation) -> Reply:
    if not command.silence_id.isdigit():
        raise DomainError("Silence ids are numbers; `/oncall silences` lists them.")
    silence = await silences.end_silence(ctx, int(command.silence_id), call.actor)
    return Reply(f":loud_sound: Silence {silence.id} ended by <@{call.actor.user_id}>; "
                 f"{silence.suppressed} held alert(s) are routed now if still firing.")


async def _maintenance(ctx: ServiceContext, command: p.MaintenanceCommand,
                       call: Invocation) -> Reply:
    window = await silences.create_maintenance(ctx, command.team, command.duration,
                                               command.comment or "", call.actor)
    return Reply(f":wrench: {escape_mrkdwn(window.team)} is in maintenance until "
                 f"{slack_date(window.ends_at)}: its pages become notifications without "
                 "mentions, and whatever is still open then pages. Announced in its channel "
                 "with an End now button.")


async def _override(ctx: ServiceContext, command: p.OverrideCommand, call: Invocation) -> Reply:
    schedule, row = await followups.take_shift(ctx, command.user_id, command.duration,
                                               command.team, call.actor)
    return Reply(f":handshake: <@{row.user}> is on call for {escape_mrkdwn(schedule)} until "
                 f"{slack_date(row.end)} (set by <@{call.actor.user_id}>).", in_channel=True)


async def _action(ctx: ServiceContext, command: p.ActionCommand, call: Invocation) -> Reply:
    try:
        incident_id = await records.target_incident(ctx, None, call.where)
    except DomainError:
        incident_id = None  # an action item need not belong to one incident
    item = await followups.add_action(ctx, command.owner_id, command.text, command.due,
                                      incident_id, call.actor)
    about = f" for #{incident_id}" if incident_id else ""
    due = f", due {item.due}" if item.due else ""
    return Reply(f"Action item {item.id}{about}: <@{item.owner}> {escape_mrkdwn(item.text)}{due}.")


async def _actions(ctx: ServiceContext, command: p.ActionsCommand, call: Invocation) -> Reply:
    items = await followups.open_actions(ctx, command.incident, viewer=call.actor)
    if not items:
        return Reply("No open action items.")
    today = ctx.clock.now().date()
    lines = [f"*{i.id}* <@{i.owner}> {escape_mrkdwn(i.text)}"
             + (f" (#{i.incident_id})" if i.incident_id else "")
             + (f", due {i.due}" + (" :warning: overdue" if i.due < today else "")
                if i.due else "") for i in items]
    return Reply("\n".join(lines))


async def _done(ctx: ServiceContext, command: p.DoneCommand, call: Invocation) -> Reply:
    item = await followups.mark_done(ctx, command.action_id, call.actor)
    return Reply(f":white_check_mark: Action item {item.id} done: {escape_mrkdwn(item.text)}.")


QUIET_HANDLERS = {
    p.SilenceCommand: _silence, p.SilencesCommand: _silences, p.UnsilenceCommand: _unsilence,
    p.MaintenanceCommand: _maintenance, p.OverrideCommand: _override,
    p.ActionCommand: _action, p.ActionsCommand: _actions, p.DoneCommand: _done,
}
