"""`/oncall page` (declare an incident, anyone) and `/oncall update` (a stakeholder update)."""

from __future__ import annotations

from bot.config import SLACK_CHANNEL_ID
from bot.domain.stakeholders import Declaration
from bot.services import declare, records, status_updates
from bot.services.context import ServiceContext
from commands import parsing as p
from commands.reply import Invocation, Reply


async def _page(ctx: ServiceContext, command: p.PageCommand, call: Invocation) -> Reply:
    number = await declare.declare(ctx, call.actor, Declaration(
        team=command.team, severity=command.severity, summary=command.summary))
    channel = ctx.config.channel_of(command.team)
    shown = f"<#{channel}>" if SLACK_CHANNEL_ID.match(channel) else f"#{channel.lstrip('#')}"
    return Reply(f":rotating_light: Declared #{number} ({command.severity}) in {shown}.")


async def _update(ctx: ServiceContext, command: p.UpdateCommand, call: Invocation) -> Reply:
    incident_id = await records.target_incident(ctx, command.incident, call.where)
    await status_updates.post_update(ctx, incident_id, command.text, call.actor)
    return Reply(f":loudspeaker: Update posted on #{incident_id}.")


PEOPLE_HANDLERS = {p.PageCommand: _page, p.UpdateCommand: _update}
