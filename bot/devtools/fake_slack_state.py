"""The workspace a FakeSlack holds in memory, and the lookups its Web API methods share.

Conversations (channels, DMs, group DMs) and their messages, with Slack's rules for
finding them: by id, by #name or DM user id where Slack accepts those, private channels
invisible unless the bot is a member. `WorkspaceState` is a mixin: `FakeSlack`
(`bot.devtools.fake_slack`) creates the state in its constructor.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Json", "SlackError", "WorkspaceState", "channel_object", "truthy"]

Json = dict[str, Any]


class SlackError(Exception):
    """An ``ok: false`` answer; method handlers raise it so each stays a few lines."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> Json:
        return {"ok": False, "error": self.error, **self.extra}


def truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def channel_object(cid: str, name: str, **flags: Any) -> Json:
    private = flags.get("is_private", False)
    return {
        "id": cid, "name": name, "name_normalized": name, "is_channel": not private,
        "is_group": private, "is_im": False, "is_mpim": False, "is_private": private,
        "is_archived": flags.get("is_archived", False), "is_member": flags.get("is_member", True),
        "is_general": False, "is_shared": False, "is_ext_shared": False, "is_org_shared": False,
        "created": int(time.time()), "creator": "U0CREATOR",
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0}, "previous_names": [],
    }


class WorkspaceState:
    """Conversation lookups and the message store (a mixin; FakeSlack sets the state)."""

    bot_user_id: str
    bot_id: str
    chat_write_public: bool
    _clock: Callable[[], float]
    _last_ts: int
    _ids: itertools.count[int]
    _channels: dict[str, Json]
    _messages: dict[str, list[Json]]
    _users: dict[str, Json]
    _dms: dict[str, str]

    def _next_ts(self) -> str:
        """Wall-clock based like Slack's, strictly increasing, unique across channels."""
        self._last_ts = max(int(self._clock() * 1_000_000), self._last_ts + 1)
        return f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def _lookup(self, ref: Any, *, by_name: bool = False, open_dm: bool = False) -> Json:
        """A conversation by id; by name and DM user id only where Slack accepts them."""
        if ref in self._channels:
            return self._channels[ref]
        if by_name and ref in self._users:
            if open_dm:
                return self._open_dm(ref)
            if ref in self._dms:
                return self._channels[self._dms[ref]]
        if by_name and isinstance(ref, str):
            for channel in self._channels.values():
                if channel["name"] and channel["name"] == ref.removeprefix("#"):
                    return channel
        raise SlackError("channel_not_found")

    def _visible(self, ref: Any, **how: bool) -> Json:
        """Private channels the bot is not in do not exist, as far as a bot token can tell."""
        channel = self._lookup(ref, **how)
        if channel["is_private"] and not channel["is_member"]:
            raise SlackError("channel_not_found")
        return channel

    def _postable(self, ref: Any) -> Json:
        channel = self._visible(ref, by_name=True, open_dm=True)
        if channel["is_archived"]:
            raise SlackError("is_archived")
        if not channel["is_member"] and not self.chat_write_public:
            raise SlackError("not_in_channel")
        return channel

    def _readable(self, ref: Any) -> Json:
        channel = self._visible(ref)
        if not channel["is_member"]:
            raise SlackError("not_in_channel")
        return channel

    def _open_dm(self, user_id: str) -> Json:
        if user_id not in self._users:
            raise SlackError("user_not_found")
        if user_id not in self._dms:
            cid = self._new_id("D")
            self._channels[cid] = {**channel_object(cid, "", is_private=True),
                                   "name": None, "is_channel": False, "is_group": False,
                                   "is_im": True, "user": user_id}
            self._dms[user_id] = cid
        return self._channels[self._dms[user_id]]

    def _open_mpim(self, users: list[str]) -> Json:
        cid = self._new_id("G")
        name = "mpdm-" + "--".join(self._users[u]["name"] for u in users) + "-1"
        self._channels[cid] = {**channel_object(cid, name, is_private=True),
                               "is_mpim": True, "is_group": True, "members": users}
        return self._channels[cid]

    def _store_message(self, cid: str, args: Json, **extra: Any) -> Json:
        msg = {"type": "message", "ts": self._next_ts(), "user": self.bot_user_id,
               "bot_id": self.bot_id, "text": args.get("text") or "",
               "blocks": args.get("blocks") or [], "attachments": args.get("attachments") or [],
               "metadata": args.get("metadata"), "thread_ts": args.get("thread_ts") or None,
               **extra}
        if msg["thread_ts"] and truthy(args.get("reply_broadcast")):
            msg["subtype"] = "thread_broadcast"
        self._messages[cid].append(msg)
        return msg

    @staticmethod
    def _apply_update(msg: Json, args: Json) -> None:
        """chat.update semantics: text without blocks drops the blocks; [] clears them."""
        if "blocks" in args:
            msg["blocks"] = args["blocks"] or []
        elif "text" in args:
            msg["blocks"] = []
        for key in ("text", "attachments", "metadata"):
            if key in args:
                msg[key] = args[key]

    def _find_message(self, cid: str, ts: Any, error: str = "message_not_found") -> Json:
        for msg in self._messages[cid]:
            if msg["ts"] == ts:
                return msg
        raise SlackError(error)
