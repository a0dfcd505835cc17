"""Channel names in oncall.yaml -> channel ids, and joining the channels the bot posts to."""

from __future__ import annotations

import logging
import re

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.transport.errors import ChannelNotFound

log = logging.getLogger(__name__)
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


class ChannelDirectory:
    """Resolves names once (conversations.list is paginated and rate limited) and caches them."""

    def __init__(self, client: AsyncWebClient):
        self.client = client
        self._by_name: dict[str, dict] = {}
        self._by_id: dict[str, dict] = {}
        self._loaded = False

    async def resolve(self, channel: str) -> str:
        if CHANNEL_ID.match(channel):
            return channel
        name = channel.removeprefix("#")
        if name not in self._by_name:
            await self.refresh()
        if name not in self._by_name:
            raise ChannelNotFound(f"channel {channel} not found: check the name, or if it is "
                                  f"private, invite the bot there with /invite @oncall-bot")
        return self._by_name[name]["id"]

    async def refresh(self) -> None:
        cursor = None
        while True:
            page = await self.client.conversations_list(
                types="public_channel,private_channel", exclude_archived=True, limit=1000,
                cursor=cursor)
            for channel in page.get("channels", []):
                self._by_name[channel["name"]] = channel
                self._by_id[channel["id"]] = channel
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        self._loaded = True

    async def prepare(self, channels: list[str]) -> list[str]:
        """Resolve every configured channel and join public ones; return what cannot work."""
        problems, to_join = await self.inspect(channels)
        for channel, channel_id in to_join:
            await self.client.conversations_join(channel=channel_id)
            self._by_id[channel_id]["is_member"] = True
            log.info("joined %s (%s) so mentions there reach the bot", channel, channel_id)
        return problems

    async def inspect(self, channels: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
        """What cannot work, and the public channels the bot would join; changes nothing."""
        problems, to_join = [], []
        for channel in sorted(set(channels)):
            try:
                channel_id = await self.resolve(channel)
                info = await self._info(channel_id)
            except ChannelNotFound as exc:
                problems.append(str(exc))
                continue
            except SlackApiError as exc:
                problems.append(f"channel {channel}: Slack said {exc.response.get('error')}")
                continue
            if info.get("is_archived"):
                problems.append(f"channel {channel} is archived: nothing can be posted there")
            elif info.get("is_private") and not info.get("is_member"):
                problems.append(f"channel {channel} is private and the bot is not in it: "
                                f"invite it with /invite @oncall-bot")
            elif not info.get("is_member"):
                to_join.append((channel, channel_id))
        return problems, to_join

    async def _info(self, channel_id: str) -> dict:
        info = self._by_id.get(channel_id)
        if info is None:
            info = (await self.client.conversations_info(channel=channel_id))["channel"]
            self._by_id[channel_id] = info
        return info
