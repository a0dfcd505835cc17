"""User groups: membership for permission checks (cached: usergroups.users.list is Tier 2),
and paging every member of a group named in an escalation level."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery.outcome import Undelivered
from bot.services import page_outcomes
from bot.services.incidents import Actor
from bot.slack.outbox.sender import SlackSender
from bot.store.models import OutboxIntent

log = logging.getLogger(__name__)
TTL_SECONDS = 300.0


class UsergroupDirectory:
    def __init__(self, client: AsyncWebClient, groups: Iterable[str]):
        self.client = client
        self.groups = sorted(set(groups))
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    async def actor(self, user_id: str) -> Actor:
        """The user with the configured responder groups they belong to."""
        mine = [g for g in self.groups if user_id in await self.members(g)]
        return Actor(user_id=user_id, groups=frozenset(mine))

    async def members(self, group: str) -> frozenset[str]:
        cached = self._members.get(group)
        if cached and time.monotonic() - cached[0] < TTL_SECONDS:
            return cached[1]
        try:
            response = await self.client.usergroups_users_list(usergroup=group)
            users = frozenset(response.get("users", []))
        except SlackApiError as exc:  # a free plan has no user groups: nobody is in one
            log.warning("usergroups.users.list %s: %s", group, exc.response.get("error"))
            users = cached[1] if cached else frozenset()
        self._members[group] = (time.monotonic(), users)
        return users


class UsergroupPager:
    """Outbox sender for a user group in an escalation level: each member is paged by DM."""

    def __init__(self, sender: SlackSender):
        self.sender, self.ctx = sender, sender.ctx

    async def page_usergroup(self, intent: OutboxIntent) -> None:
        """Members from usergroups.users.list go to the service, which records and DMs each;
        an answer that will not change (no such group, a free plan) is recorded as failed."""
        payload = intent.payload
        group = payload["usergroup"]
        members, error = None, None
        try:
            response = await self.sender.call("usergroups.users.list", usergroup=group)
            members = list(response.get("users", []))
        except Undelivered as exc:
            if exc.outcome.delay is not None or exc.outcome.maybe_sent:
                raise  # rate limited, 5xx, network: try again
            error = exc.outcome.label
        await page_outcomes.page_group_members(self.ctx, intent.id, intent.incident_id, group,
                                               payload["step"], payload["level"], members, error)
