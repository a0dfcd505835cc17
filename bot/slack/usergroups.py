"""User-group membership for permission checks, cached: usergroups.users.list is Tier 2."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.services.incidents import Actor

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
