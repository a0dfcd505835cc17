"""Bolt middleware: hand services to listeners, and drop Slack's retried event deliveries."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.services import lookups
from bot.services.context import ServiceContext
from bot.slack.usergroups import UsergroupDirectory

log = logging.getLogger(__name__)


def register(app: AsyncApp, ctx: ServiceContext, usergroups: UsergroupDirectory) -> None:
    async def provide_services(context: AsyncBoltContext, next: Callable[[], Awaitable[None]]):
        context["services"] = ctx
        context["actor_for"] = usergroups.actor
        await next()

    async def drop_repeated_events(body: dict, req: AsyncBoltRequest,
                                   next: Callable[[], Awaitable[None]]):
        event_id = body.get("event_id")
        if event_id and not await lookups.first_sight_of_event(ctx, event_id):
            retry = req.headers.get("x-slack-retry-num", [None])[0]
            log.info("dropping repeated Slack event %s (retry %s)", event_id, retry)
            return BoltResponse(status=200, body="")
        await next()

    app.middleware(provide_services)
    app.middleware(drop_repeated_events)
