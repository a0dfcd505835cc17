"""Listeners for people beyond the responders: Declare incident, Post update, the App Home.

Each acks first, decodes, and makes one service call; the Home is published by delivery
(`home_publish`), so a listener only records that the person looked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import SLACK_CHANNEL_ID
from bot.domain.errors import DomainError
from bot.domain.permissions import Action as Do
from bot.domain.stakeholders import DEFAULT_SEVERITY, Declaration
from bot.services import declare, home, incidents, status_updates
from bot.slack.action_ids import ActionId, IncidentRef
from bot.slack.incident.modals import ModalMeta, progress_view, submitted
from bot.slack.stakeholders.blocks import (
    SHORTCUT_DECLARE,
    StakeholderViewId,
    declare_modal,
    update_modal,
)
from bot.slack.transport.answers import answered, within_budget


def register(app: AsyncApp) -> None:
    app.shortcut(SHORTCUT_DECLARE)(answered(handle_declare_shortcut))
    app.view_submission(StakeholderViewId.DECLARE)(answered(handle_declare_submitted))
    app.action(ActionId.INCIDENT_POST_UPDATE.value)(answered(handle_incident_post_update))
    app.view_submission(StakeholderViewId.UPDATE)(answered(handle_update_submitted))
    app.event("app_home_opened")(answered(handle_app_home_opened))


async def handle_declare_shortcut(ack: AsyncAck, shortcut: dict, context: dict,
                                  client: AsyncWebClient) -> None:
    await ack()
    teams = sorted(context["services"].config.teams)
    await client.views_open(trigger_id=shortcut["trigger_id"], view=declare_modal(teams))


async def handle_declare_submitted(ack: AsyncAck, body: dict, view: dict,
                                   context: dict) -> None:
    declaration = Declaration(team=submitted(view, "team"),
                              severity=submitted(view, "severity") or DEFAULT_SEVERITY,
                              summary=submitted(view, "summary"),
                              service=submitted(view, "service"))

    async def work(ctx, actor) -> str:
        number = await declare.declare(ctx, actor, declaration)
        return (f":rotating_light: Declared #{number} in "
                f"{_channel(ctx.config.channel_of(declaration.team))}.")
    await _submit(ack, body, context, work, error_block="summary", title="Declared")


async def handle_incident_post_update(ack: AsyncAck, action: dict, body: dict, context: dict,
                                      client: AsyncWebClient) -> None:
    """From the incident message (or a Home): check the clicker may, then open the form."""
    await ack()
    ref = IncidentRef.decode(action.get("value", ""))
    actor = await context["actor_for"](body["user"]["id"])
    info = await incidents.describe(context["services"], ref.incident_id, actor=actor,
                                    action=Do.STATUS_UPDATE)
    await client.views_open(trigger_id=body["trigger_id"],
                            view=update_modal(ref.incident_id, info.title))


async def handle_update_submitted(ack: AsyncAck, body: dict, view: dict, context: dict) -> None:
    meta = ModalMeta.decode(view["private_metadata"])
    text = submitted(view, "text")

    async def work(ctx, actor) -> str:
        await status_updates.post_update(ctx, meta.incident_id, text, actor)
        return f":loudspeaker: Update posted on #{meta.incident_id}."
    await _submit(ack, body, context, work, error_block="text", title="Update posted")


async def handle_app_home_opened(event: dict, context: dict) -> None:
    """Bolt acked the event; the Home tab (not the Messages tab) is published by delivery."""
    if event.get("tab", "home") != "home":
        return
    actor = await context["actor_for"](event["user"])
    await home.opened(context["services"], actor)


async def _submit(ack: AsyncAck, body: dict, context: dict,
                  service: Callable[..., Awaitable[str]], *, error_block: str,
                  title: str) -> None:
    """Commit within the ack budget and show the outcome in the modal; a refusal is shown on
    the field; a slow database gets "working on it" and the outcome follows by views.update."""
    async def work() -> str:
        actor = await context["actor_for"](body["user"]["id"])
        return await service(context["services"], actor)
    done = await within_budget(work())
    if not done.done():
        await ack(response_action="update", view=progress_view(
            "Working on it", ":hourglass_flowing_sand: The database is busy; this window "
                             "shows the outcome in a moment."))
        text = await done
        await context["client"].views_update(view_id=body["view"]["id"],
                                             view=progress_view(title, text))
        return
    if isinstance(done.exception(), DomainError):
        await ack(response_action="errors", errors={error_block: str(done.exception())[:2000]})
        return
    await ack(response_action="update", view=progress_view(title, done.result()))


def _channel(channel: str) -> str:
    return f"<#{channel}>" if SLACK_CHANNEL_ID.match(channel) else f"#{channel.lstrip('#')}"
