"""Bolt middleware: hand services to listeners; recognise Slack's retried event deliveries."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.services import lookups
from bot.services.context import ServiceContext
from bot.slack.transport.usergroups import UsergroupDirectory

log = logging.getLogger(__name__)


def register(app: AsyncApp, ctx: ServiceContext, usergroups: UsergroupDirectory) -> None:
    """Nothing here may wait on the database or Slack: it runs before the listener's ack."""
    async def provide_services(context: AsyncBoltContext, next: Callable[[], Awaitable[None]]):
        context["services"] = ctx
        context["actor_for"] = usergroups.actor
        context["first_delivery"] = lambda body: first_delivery(ctx, body)
        await next()

    app.middleware(provide_services)


async def first_delivery(ctx: ServiceContext, body: dict) -> bool:
    """False for an Events API delivery already handled (Slack retries when an ack is late).

    Called by event listeners after Bolt acked the event, so a busy database never delays it.
    """
    event_id = body.get("event_id")
    if not event_id:
        return True
    first = await lookups.first_sight_of_event(ctx, event_id)
    if not first:
        log.info("dropping repeated Slack event %s", event_id)
    return first
