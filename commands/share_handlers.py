"""`/oncall share`, `unshare`, `publish`: what leaves Slack for readers outside it."""

from __future__ import annotations

from bot.services import records, shares, statuspage
from bot.slack.text import escape_mrkdwn, slack_date
from commands.reply import Invocation, Reply
from commands.share_parsing import PublishCommand, ShareCommand, UnshareCommand


async def _share(ctx, command: ShareCommand, call: Invocation) -> Reply:
    if command.service is not None:
        shared = await shares.share_service(ctx, command.service, call.actor, command.duration)
    else:
        incident_id = await records.target_incident(ctx, command.incident, call.where)
        shared = await shares.share_incident(ctx, incident_id, call.actor, command.duration)
    return Reply(f"Read-only link to the journal of {escape_mrkdwn(shared.what)}, valid until "
                 f"{slack_date(shared.expires_at)}:\n{shared.url}\nAnyone with the link can "
                 "read it (public updates only, redacted); `/oncall unshare` revokes it.")


async def _unshare(ctx, command: UnshareCommand, call: Invocation) -> Reply:
    if command.token is not None:
        count = await shares.unshare(ctx, call.actor, token=command.token)
    else:
        incident_id = await records.target_incident(ctx, command.incident, call.where)
        count = await shares.unshare(ctx, call.actor, incident_id=incident_id)
    return Reply(f"Revoked {count} shared link(s): they now answer 404.")


async def _publish(ctx, command: PublishCommand, call: Invocation) -> Reply:
    incident_id = await records.target_incident(ctx, command.incident, call.where)
    await statuspage.publish(ctx, incident_id, call.actor)
    return Reply(f"Publishing #{incident_id} to the status page; its updates and resolution "
                 "follow it there.")


SHARE_HANDLERS = {ShareCommand: _share, UnshareCommand: _unshare, PublishCommand: _publish}
