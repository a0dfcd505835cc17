"""Listeners of the storm summary's buttons and of its silence modal: ack first, one service
call, the clicker hears the outcome (refusals go through the one error handler)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.durations import DurationError, parse_duration
from bot.services import storm_actions
from bot.slack.incident.actions import _submit
from bot.slack.incident.modals import submitted
from bot.slack.storm.blocks import StormActionId, StormRef, silence_modal
from bot.slack.transport.answers import answered


def register(app: AsyncApp) -> None:
    app.action(StormActionId.ACK_ALL)(answered(handle_ack_all))
    app.action(StormActionId.RESOLVE_ALL)(answered(handle_resolve_all))
    app.action(StormActionId.PAGE)(answered(handle_page))
    app.action(StormActionId.SILENCE)(answered(handle_silence))
    app.view_submission(StormActionId.SILENCE_SUBMIT)(answered(handle_silence_submitted))


async def handle_ack_all(ack: AsyncAck, action: dict, body: dict, context: dict,
                         respond: AsyncRespond) -> None:
    await _bulk(ack, action, body, context, respond, storm_actions.ack_all, "acknowledged")


async def handle_resolve_all(ack: AsyncAck, action: dict, body: dict, context: dict,
                             respond: AsyncRespond) -> None:
    await _bulk(ack, action, body, context, respond, storm_actions.resolve_all, "resolved")


async def _bulk(ack, action, body, context, respond, service, verb: str) -> None:
    await ack()
    ref = StormRef.decode(action.get("value", ""))
    actor = await context["actor_for"](body["user"]["id"])
    outcome = await service(context["services"], ref.storm_id, actor)
    skipped = f" ({outcome.skipped} skipped: changed meanwhile)" if outcome.skipped else ""
    await respond(text=f"{outcome.done} incidents of storm {ref.storm_id} {verb}{skipped}.",
                  response_type="ephemeral", replace_original=False)


async def handle_page(ack: AsyncAck, action: dict, body: dict, context: dict,
                      respond: AsyncRespond) -> None:
    await ack()
    ref = StormRef.decode(action.get("value", ""))
    actor = await context["actor_for"](body["user"]["id"])
    lead = await storm_actions.page_storm(context["services"], ref.storm_id, actor)
    await respond(text=f"Paged the team once for storm {ref.storm_id} (as #{lead}).",
                  response_type="ephemeral", replace_original=False)


async def handle_silence(ack: AsyncAck, action: dict, body: dict, context: dict,
                         client: AsyncWebClient) -> None:
    """Show the silence before it is made: the modal lists its matchers."""
    await ack()
    ref = StormRef.decode(action.get("value", ""))
    plan = await storm_actions.silence_plan(context["services"], ref.storm_id)
    await client.views_open(trigger_id=body["trigger_id"],
                            view=silence_modal(ref.storm_id, plan.matchers, plan.incidents))


async def handle_silence_submitted(ack: AsyncAck, body: dict, view: dict, context: dict,
                                   client: AsyncWebClient) -> None:
    ref = StormRef.decode(view["private_metadata"])
    try:
        duration = parse_duration(submitted(view, "duration"))
    except DurationError as exc:
        await ack(response_action="errors", errors={"duration": str(exc)[:150]})
        return
    await _submit(ack, body, context, client, lambda ctx, actor: storm_actions.silence_storm(
        ctx, ref.storm_id, actor, duration, submitted(view, "reason")))
