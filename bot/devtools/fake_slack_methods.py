"""The Slack Web API methods the fake answers: one handler per method, docs-shaped answers.

`SlackMethods` is a mixin on top of the workspace state (`bot.devtools.fake_slack_state`):
`FakeSlack` (`bot.devtools.fake_slack`) routes each request to the handler that
`_method_table` names, and a handler answers with the response body or raises
`SlackError` for an ``ok: false`` answer. Chat, conversations, users, usergroups, dnd,
views and files; trimmed to the fields and errors the bot relies on.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.devtools.fake_slack_blocks import block_kit_problems, view_problems
from bot.devtools.fake_slack_state import Json, SlackError, WorkspaceState, truthy

__all__ = ["MESSAGE_TEXT_MAX", "UPDATE_TEXT_MAX", "SlackMethods"]

MESSAGE_TEXT_MAX = 40_000  # chat.postMessage: Slack truncates above this; we refuse instead
UPDATE_TEXT_MAX = 4_000  # chat.update: msg_too_long above this (docs)


def _ts_key(ts: Any) -> int:
    """'1700000000.000100' -> microseconds, so comparisons never go through a float."""
    seconds, _, fraction = str(ts).partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()):
        raise ValueError(ts)
    return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])


def _ts_bound(args: Json, key: str) -> int | None:
    if not args.get(key):
        return None
    try:
        return _ts_key(args[key])
    except ValueError:
        raise SlackError(f"invalid_ts_{key}") from None


def _in_window(ts: str, oldest: int | None, latest: int | None, inclusive: bool) -> bool:
    key = _ts_key(ts)
    above = oldest is None or key > oldest or (inclusive and key == oldest)
    below = latest is None or key < latest or (inclusive and key == latest)
    return above and below


def _paginate(items: list[Any], args: Json, default_limit: int = 100) -> tuple[list[Any], str]:
    """Cursor pagination as Slack does it: an opaque next_cursor, "" on the last page."""
    try:
        start = int(base64.b64decode(args["cursor"]).decode().removeprefix("offset:")) if (
            args.get("cursor")) else 0
        limit = int(args.get("limit") or default_limit)
    except ValueError:
        raise SlackError("invalid_cursor") from None
    end = start + max(limit, 1)
    cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], cursor


def _is_top_level(msg: Json) -> bool:
    return msg["thread_ts"] in (None, msg["ts"]) or msg.get("subtype") == "thread_broadcast"


def _check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
    if not (isinstance(metadata, dict) and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)):
        raise SlackError("invalid_metadata_format")


def _check_blocks(blocks: Any, *, surface: str = "message") -> None:
    if isinstance(blocks, str):
        raise SlackError("invalid_blocks_format")
    problems = block_kit_problems(blocks, surface=surface)
    if problems:
        raise SlackError("invalid_blocks", response_metadata={"messages": problems})


def _check_content(args: Json, text_max: int) -> None:
    """What chat.postMessage/update/postEphemeral refuse before touching any state."""
    if not any(k in args for k in ("text", "blocks", "attachments")):
        raise SlackError("no_text")
    text = args.get("text")
    if isinstance(text, str) and len(text) > text_max:
        raise SlackError("msg_too_long")
    if "blocks" in args:
        _check_blocks(args["blocks"])
    _check_metadata(args.get("metadata"))


_CHANNEL_TYPES: dict[str, Callable[[Json], bool]] = {
    "public_channel": lambda c: not c["is_private"],
    "private_channel": lambda c: c["is_private"] and not c["is_im"] and not c["is_mpim"]
    and c["is_member"],
    "im": lambda c: c["is_im"],
    "mpim": lambda c: c["is_mpim"],
}


class SlackMethods(WorkspaceState):
    """Every Web API method of the fake (a mixin; FakeSlack serves them over HTTP)."""

    team_id: str
    views: dict[str, Json]
    root_url: str  # a property of FakeSlack: the server's http://127.0.0.1:port
    _usergroups: dict[str, list[str]]
    _uploads: dict[str, Json]
    _files: dict[str, Json]

    def _method_table(self) -> dict[str, Callable[[Json], Json]]:
        return {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.list": self._conversations_list,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_join,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "dnd.info": self._dnd_info,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }

    # -- auth and chat ------------------------------------------------------------------

    def _auth_test(self, args: Json) -> Json:
        return {"ok": True, "url": "https://fake-workspace.slack.com/", "team": "Fake Workspace",
                "user": self._users[self.bot_user_id]["name"], "team_id": self.team_id,
                "user_id": self.bot_user_id, "bot_id": self.bot_id, "is_enterprise_install": False}

    def _apps_connections_open(self, args: Json) -> Json:
        return {"ok": True, "url": self.root_url.replace("http://", "ws://") + "/socket-mode"}

    def _chat_post_message(self, args: Json) -> Json:
        channel = self._postable(args.get("channel"))
        _check_content(args, MESSAGE_TEXT_MAX)
        msg = self._store_message(channel["id"], args)
        return {"ok": True, "channel": channel["id"], "ts": msg["ts"],
                "message": self._public_message(channel["id"], msg, metadata=True)}

    def _chat_update(self, args: Json) -> Json:
        channel = self._visible(args.get("channel"))
        msg = self._find_message(channel["id"], args.get("ts"))
        if channel["is_archived"]:
            raise SlackError("is_inactive")
        _check_content(args, UPDATE_TEXT_MAX)
        self._apply_update(msg, args)
        return {"ok": True, "channel": channel["id"], "ts": msg["ts"], "text": msg["text"],
                "message": self._public_message(channel["id"], msg, metadata=True)}

    def _chat_post_ephemeral(self, args: Json) -> Json:
        self._postable(args.get("channel"))
        if args.get("user") not in self._users:
            raise SlackError("user_not_in_channel")
        _check_content(args, MESSAGE_TEXT_MAX)
        return {"ok": True, "message_ts": self._next_ts()}

    def _chat_get_permalink(self, args: Json) -> Json:
        channel = self._visible(args.get("channel"))
        msg = self._find_message(channel["id"], args.get("message_ts"))
        link = f"https://fake-workspace.slack.com/archives/{channel['id']}/p" + msg["ts"].replace(
            ".", "")
        if msg["thread_ts"] not in (None, msg["ts"]):
            link += f"?thread_ts={msg['thread_ts']}&cid={channel['id']}"
        return {"ok": True, "channel": channel["id"], "permalink": link}

    def _replies(self, cid: str, ts: str) -> list[Json]:
        return [m for m in self._messages[cid] if m["thread_ts"] == ts and m["ts"] != ts]

    def _public_message(self, cid: str, msg: Json, *, metadata: bool) -> Json:
        """A message as the Web API returns it: empty fields left out, thread counts added."""
        out = {k: copy.deepcopy(v) for k, v in msg.items() if v not in (None, []) or k == "text"}
        if not metadata:
            out.pop("metadata", None)
        replies = self._replies(cid, msg["ts"]) if msg["thread_ts"] in (None, msg["ts"]) else []
        if replies:
            out.update(thread_ts=msg["ts"], reply_count=len(replies),
                       latest_reply=replies[-1]["ts"],
                       reply_users=sorted({r["user"] for r in replies}))
        return out

    # -- conversations ------------------------------------------------------------------

    def _conversations_history(self, args: Json) -> Json:
        """Newest first, thread parents only, metadata only with include_all_metadata."""
        cid = self._readable(args.get("channel"))["id"]
        oldest, latest = _ts_bound(args, "oldest"), _ts_bound(args, "latest")
        inclusive = truthy(args.get("inclusive"))
        found = [m for m in reversed(self._messages[cid])
                 if _is_top_level(m) and _in_window(m["ts"], oldest, latest, inclusive)]
        return self._message_page(cid, found, args)

    def _conversations_replies(self, args: Json) -> Json:
        cid = self._readable(args.get("channel"))["id"]
        msg = self._find_message(cid, args.get("ts"), error="thread_not_found")
        root = self._find_message(cid, msg["thread_ts"] or msg["ts"], error="thread_not_found")
        return self._message_page(cid, [root, *self._replies(cid, root["ts"])], args)

    def _message_page(self, cid: str, found: list[Json], args: Json) -> Json:
        page, cursor = _paginate(found, args)
        with_metadata = truthy(args.get("include_all_metadata"))
        return {"ok": True, "has_more": bool(cursor), "pin_count": 0,
                "messages": [self._public_message(cid, m, metadata=with_metadata) for m in page],
                "response_metadata": {"next_cursor": cursor}}

    def _conversations_list(self, args: Json) -> Json:
        types = (args.get("types") or "public_channel").split(",")
        if any(t not in _CHANNEL_TYPES for t in types):
            raise SlackError("invalid_types")
        found = [c for c in self._channels.values() if any(_CHANNEL_TYPES[t](c) for t in types)]
        if truthy(args.get("exclude_archived")):
            found = [c for c in found if not c["is_archived"]]
        page, cursor = _paginate(found, args)
        return {"ok": True, "channels": copy.deepcopy(page),
                "response_metadata": {"next_cursor": cursor}}

    def _conversations_info(self, args: Json) -> Json:
        return {"ok": True, "channel": copy.deepcopy(self._visible(args.get("channel")))}

    def _conversations_join(self, args: Json) -> Json:
        channel = self._lookup(args.get("channel"))
        if channel["is_private"]:
            raise SlackError("method_not_supported_for_channel_type")
        if channel["is_archived"]:
            raise SlackError("is_archived")
        answer: Json = {"ok": True}
        if channel["is_member"]:
            answer.update(warning="already_in_channel",
                          response_metadata={"warnings": ["already_in_channel"]})
        channel["is_member"] = True
        return {**answer, "channel": copy.deepcopy(channel)}

    def _conversations_open(self, args: Json) -> Json:
        channel = self._conversation_to_open(args)
        shown = copy.deepcopy(channel) if truthy(args.get("return_im")) else {"id": channel["id"]}
        return {"ok": True, "channel": shown}

    def _conversation_to_open(self, args: Json) -> Json:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if not users and args.get("channel"):
            return self._visible(args["channel"])
        if not users:
            raise SlackError("users_list_not_supplied")
        if len(users) > 8:
            raise SlackError("too_many_users")
        if any(u not in self._users for u in users):
            raise SlackError("user_not_found")
        return self._open_dm(users[0]) if len(users) == 1 else self._open_mpim(users)

    # -- users, usergroups, dnd ---------------------------------------------------------

    def _users_info(self, args: Json) -> Json:
        if args.get("user") not in self._users:
            raise SlackError("user_not_found")
        return {"ok": True, "user": self._user_object(args["user"])}

    def _user_object(self, uid: str) -> Json:
        user = self._users[uid]
        now = datetime.now(ZoneInfo(user["tz"]))
        offset = now.utcoffset()
        return {
            "id": uid, "team_id": self.team_id, "name": user["name"], "deleted": False,
            "real_name": user["name"], "tz": user["tz"], "tz_label": now.tzname(),
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "is_bot": user["is_bot"], "is_app_user": False, "updated": int(self._clock()),
            "profile": {"real_name": user["name"], "display_name": user["name"],
                        "real_name_normalized": user["name"],
                        "display_name_normalized": user["name"], "team": self.team_id,
                        **({"email": user["email"]} if user.get("email") else {})},
        }

    def _usergroups_users_list(self, args: Json) -> Json:
        if args.get("usergroup") not in self._usergroups:
            raise SlackError("no_such_subteam")
        return {"ok": True, "users": list(self._usergroups[args["usergroup"]])}

    def _dnd_info(self, args: Json) -> Json:
        """snooze_* only for the caller itself: Slack hides them for other users (docs)."""
        uid = args.get("user") or self.bot_user_id
        if uid not in self._users:
            raise SlackError("user_not_found")
        user = self._users[uid]
        start, end = (user["dnd_start"], user["dnd_until"]) if user["dnd_until"] else (1, 1)
        answer: Json = {"ok": True, "dnd_enabled": bool(user["dnd_until"]),
                        "next_dnd_start_ts": start, "next_dnd_end_ts": end}
        if uid == self.bot_user_id:
            answer["snooze_enabled"] = False
        return answer

    # -- views --------------------------------------------------------------------------

    def _checked_view(self, args: Json) -> Json:
        view = args.get("view")
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments",
                             response_metadata={"messages": ["[ERROR] invalid `view`"]})
        problems = view_problems(view)
        if problems:
            raise SlackError("invalid_arguments", response_metadata={"messages": problems})
        return view

    def _store_view(self, view: Json, view_id: str | None = None) -> Json:
        vid = view_id or self._new_id("V")
        old = self.views.get(vid, {})
        self.views[vid] = {
            "private_metadata": "", "callback_id": "", "external_id": "", **copy.deepcopy(view),
            "id": vid, "team_id": self.team_id, "state": {"values": {}},
            "hash": f"{int(self._clock())}.{next(self._ids):08x}",
            "root_view_id": old.get("root_view_id", vid), "previous_view_id": None,
            "app_id": "A0FAKEAPP", "bot_id": self.bot_id,
        }
        return {"ok": True, "view": copy.deepcopy(self.views[vid])}

    def _views_open(self, args: Json) -> Json:
        if not (args.get("trigger_id") or args.get("interactivity_pointer")):
            raise SlackError("invalid_arguments",
                             response_metadata={"messages": ["invalid `trigger_id`"]})
        return self._store_view(self._checked_view(args))

    def _views_update(self, args: Json) -> Json:
        vid = args.get("view_id") or next(
            (v["id"] for v in self.views.values()
             if args.get("external_id") and v["external_id"] == args["external_id"]), None)
        if vid not in self.views:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != self.views[vid]["hash"]:
            raise SlackError("hash_conflict")
        return self._store_view(self._checked_view(args), vid)

    def _views_publish(self, args: Json) -> Json:
        if args.get("user_id") not in self._users:
            raise SlackError("user_not_found")
        return self._store_view(self._checked_view(args), f"VHOME{args['user_id']}")

    # -- files --------------------------------------------------------------------------

    def _files_get_upload_url(self, args: Json) -> Json:
        if not args.get("filename") or "length" not in args:
            raise SlackError("invalid_arguments")
        if int(args["length"]) <= 0:
            raise SlackError("missing_argument")
        fid = self._new_id("F")
        self._uploads[fid] = {"id": fid, "filename": args["filename"], "content": None,
                              "length": int(args["length"])}
        return {"ok": True, "upload_url": f"{self.root_url}/upload/v1/{fid}", "file_id": fid}

    def _files_complete_upload(self, args: Json) -> Json:
        specs = args.get("files")
        if not isinstance(specs, list) or not specs:
            raise SlackError("invalid_arguments")
        targets = self._share_targets(args)
        uploads = [self._uploaded(spec) for spec in specs]
        done = [self._keep_file(upload, spec, targets, args)
                for upload, spec in zip(uploads, specs, strict=True)]
        for cid in targets:
            shared = [{"id": f["id"], "name": f["filename"], "title": f["title"]} for f in done]
            self._store_message(cid, {"text": args.get("initial_comment") or "",
                                      "thread_ts": args.get("thread_ts")}, files=shared)
        return {"ok": True, "files": [{"id": f["id"], "title": f["title"], "name": f["filename"]}
                                      for f in done]}

    def _share_targets(self, args: Json) -> list[str]:
        refs = [args["channel_id"]] if args.get("channel_id") else []
        refs += [r for r in str(args.get("channels") or "").split(",") if r]
        return [self._postable(ref)["id"] for ref in refs]

    def _uploaded(self, spec: Any) -> Json:
        upload = self._uploads.get(spec.get("id")) if isinstance(spec, dict) else None
        if upload is None or upload["content"] is None:
            raise SlackError("file_not_found")
        return upload

    def _keep_file(self, upload: Json, spec: Json, targets: Iterable[str], args: Json) -> Json:
        del self._uploads[upload["id"]]
        self._files[upload["id"]] = {
            "id": upload["id"], "filename": upload["filename"],
            "title": spec.get("title") or upload["filename"], "content": upload["content"],
            "channels": list(targets), "thread_ts": args.get("thread_ts"),
            "initial_comment": args.get("initial_comment"),
        }
        return self._files[upload["id"]]
