"""An in-memory Slack Web API served over real HTTP on 127.0.0.1, for tests and the demo.

Point ``AsyncWebClient(base_url=fake.base_url)`` at it and the real slack_sdk code path runs:
form and JSON encoding, status codes, ``Retry-After``, timeouts. Response shapes follow
docs.slack.dev method pages (trimmed). Self-contained on purpose (stdlib + aiohttp): it is the
Slack stand-in of `oncall-bot demo` as well as the tests' fake (`tests/fakes/slack_api.py`),
so it imports neither pytest nor the rest of the bot.

    fake = FakeSlack(channels={"C0ALERTS": {"name": "alerts"}})
    await fake.start()
    client = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)
    await client.chat_postMessage(channel="#alerts", text="hi")
    assert fake.messages("C0ALERTS")[0]["text"] == "hi"
    await fake.stop()
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.devtools.fake_socket_mode import SocketModeStandIn

if TYPE_CHECKING:
    from multidict import CIMultiDict

Json = dict[str, Any]

MESSAGE_TEXT_MAX = 40_000  # chat.postMessage: Slack truncates above this; we refuse instead
UPDATE_TEXT_MAX = 4_000  # chat.update: msg_too_long above this (docs)
MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
JSON_ARGS = frozenset({"blocks", "attachments", "metadata", "view", "files"})
BOT_SCOPES = ",".join([
    "app_mentions:read", "channels:history", "channels:join", "channels:read", "chat:write",
    "chat:write.public", "commands", "dnd:read", "files:write", "groups:history",
    "groups:read", "im:write", "usergroups:read", "users:read",
])


class SlackError(Exception):
    """An ``ok: false`` answer; method handlers raise it so each stays a few lines."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> Json:
        return {"ok": False, "error": self.error, **self.extra}


@dataclass(frozen=True)
class Call:
    """One Web API request as the fake received it (query, form and JSON body merged)."""

    method: str
    args: Json
    headers: CIMultiDict[str]
    at: float


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: int | None
    error: str | None


# -- Block Kit validation: a table of small checks per block and element type --------------

Check = Callable[[Json, str], Iterator[str]]


def _problem(why: str, pointer: str) -> str:
    return f"[ERROR] {why} [json-pointer:{pointer}]"


def _too_long(value: Any, limit: int | None, pointer: str) -> Iterator[str]:
    if limit is not None and isinstance(value, str) and len(value) > limit:
        yield _problem(f"must be less than {limit + 1} characters", pointer)


def _text_problems(text: Any, limit: int | None, ptr: str, plain_only: bool) -> Iterator[str]:
    """A text object needs a known type and a non-empty ``text`` within the limit."""
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if not isinstance(text, dict) or text.get("type") not in kinds:
        yield _problem(f"must be a {' or '.join(kinds)} text object", ptr)
        return
    body = text.get("text")
    if not isinstance(body, str) or not body:
        yield _problem("must be more than 0 characters", f"{ptr}/text")
        return
    yield from _too_long(body, limit, f"{ptr}/text")


def _text(key: str, limit: int | None, *, required: bool = False, plain: bool = False) -> Check:
    def check(obj: Json, ptr: str) -> Iterator[str]:
        if key in obj:
            yield from _text_problems(obj[key], limit, f"{ptr}/{key}", plain)
        elif required:
            yield _problem(f"missing required field: {key}", ptr)

    return check


def _string(key: str, limit: int) -> Check:
    def check(obj: Json, ptr: str) -> Iterator[str]:
        yield from _too_long(obj.get(key), limit, f"{ptr}/{key}")

    return check


def _items(key: str, most: int, *, required: bool = False, each: Check | None = None) -> Check:
    def check(obj: Json, ptr: str) -> Iterator[str]:
        items, here = obj.get(key), f"{ptr}/{key}"
        if items is None:
            if required:
                yield _problem(f"missing required field: {key}", ptr)
            return
        if not isinstance(items, list):
            yield _problem("must be an array", here)
            return
        if len(items) > most:
            yield _problem(f"no more than {most} items allowed", here)
        if each is not None:
            for i, item in enumerate(items):
                yield from each(item, f"{here}/{i}")

    return check


def _element(key: str) -> Check:
    def check(obj: Json, ptr: str) -> Iterator[str]:
        if key in obj:
            yield from _element_problems(obj[key], f"{ptr}/{key}")

    return check


def _element_problems(element: Any, ptr: str) -> Iterator[str]:
    if not isinstance(element, dict):
        yield _problem("must be an object", ptr)
        return
    yield from _too_long(element.get("action_id"), 255, f"{ptr}/action_id")
    for rule in ELEMENT_RULES.get(element.get("type"), ()):
        yield from rule(element, ptr)


def _field_text(item: Any, ptr: str) -> Iterator[str]:
    yield from _text_problems(item, 2000, ptr, plain_only=False)


def _context_item(item: Any, ptr: str) -> Iterator[str]:
    if isinstance(item, dict) and item.get("type") in ("plain_text", "mrkdwn"):
        yield from _text_problems(item, None, ptr, plain_only=False)


def _text_or_fields(block: Json, ptr: str) -> Iterator[str]:
    if "text" not in block and "fields" not in block:
        yield _problem("must define either `text` or `fields`", f"{ptr}/type")


ELEMENT_RULES: dict[str, tuple[Check, ...]] = {
    "button": (_text("text", 75, required=True, plain=True), _string("value", 2000),
               _string("url", 3000)),
    "overflow": (_items("options", 5, required=True),),
    "static_select": (_items("options", 100),),
    "multi_static_select": (_items("options", 100),),
}

BLOCK_RULES: dict[str, tuple[Check, ...]] = {
    "section": (_text_or_fields, _text("text", 3000), _items("fields", 10, each=_field_text),
                _element("accessory")),
    "header": (_text("text", 150, required=True, plain=True),),
    "context": (_items("elements", 10, required=True, each=_context_item),),
    "actions": (_items("elements", 25, required=True, each=_element_problems),),
    "divider": (),
    "image": (_string("image_url", 3000), _string("alt_text", 2000),
              _text("title", 2000, plain=True)),
    "input": (_text("label", 2000, required=True, plain=True), _element("element"),
              _text("hint", 2000, plain=True)),
    "markdown": (_string("text", 12_000),),
    "rich_text": (),
    "file": (),
    "video": (),
    "table": (),
    "context_actions": (_items("elements", 5, required=True),),
}

SURFACES = {"message": (MESSAGE_BLOCKS_MAX, "/blocks"), "view": (VIEW_BLOCKS_MAX, "/view/blocks")}

VIEW_RULES: tuple[Check, ...] = (
    _text("title", 24, plain=True), _text("submit", 24, plain=True),
    _text("close", 24, plain=True), _string("private_metadata", 3000),
    _string("callback_id", 255), _string("external_id", 255),
)


def _action_ids(block: Json) -> Iterator[tuple[str, str]]:
    """(action_id, pointer) of every element directly inside a block."""
    for key in ("accessory", "element"):
        if isinstance(block.get(key), dict) and "action_id" in block[key]:
            yield block[key]["action_id"], f"/{key}/action_id"
    elements = block.get("elements")
    for i, el in enumerate(elements if isinstance(elements, list) else ()):
        if isinstance(el, dict) and "action_id" in el:
            yield el["action_id"], f"/elements/{i}/action_id"


def _duplicate_action_ids(block: Json, ptr: str) -> Iterator[str]:
    """Slack: action_id "should be unique among all other action_ids in the containing block"."""
    seen: set[str] = set()
    for action_id, where in _action_ids(block):
        if action_id in seen:
            yield _problem(f"duplicate action_id: {action_id}", ptr + where)
        seen.add(action_id)


def _block_problems(block: Any, ptr: str, block_ids: set[str]) -> Iterator[str]:
    if not isinstance(block, dict):
        yield _problem("must be an object", ptr)
        return
    kind = block.get("type")
    if kind not in BLOCK_RULES:
        yield _problem(f"unsupported type: {kind}", f"{ptr}/type")
        return
    block_id = block.get("block_id")
    yield from _too_long(block_id, 255, f"{ptr}/block_id")
    if block_id is not None and block_id in block_ids:
        yield _problem(f"duplicate block_id: {block_id}", f"{ptr}/block_id")
    block_ids.add(block_id)
    for rule in BLOCK_RULES[kind]:
        yield from rule(block, ptr)
    yield from _duplicate_action_ids(block, ptr)


def block_kit_problems(blocks: Any, *, surface: str = "message") -> list[str]:
    """Slack-style ``[ERROR] ... [json-pointer:...]`` lines for blocks; [] when Slack would accept.

    ``surface`` is "message" (50 blocks, pointers under /blocks) or "view" (100, /view/blocks).
    Usable directly in block-builder unit tests.
    """
    most, prefix = SURFACES[surface]
    if not isinstance(blocks, list):
        return [_problem("must be an array", prefix)]
    problems = []
    if len(blocks) > most:
        problems.append(_problem(f"no more than {most} items allowed", prefix))
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        problems.extend(_block_problems(block, f"{prefix}/{i}", block_ids))
    return problems


def _view_problems(view: Json) -> list[str]:
    problems = [p for rule in VIEW_RULES for p in rule(view, "/view")]
    if view.get("type") == "modal" and "title" not in view:
        problems.append(_problem("missing required field: title", "/view"))
    return problems + block_kit_problems(view.get("blocks", []), surface="view")


# -- small helpers -------------------------------------------------------------------------


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


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


def _decode_json_args(args: Json) -> Json:
    """slack_sdk sends blocks/metadata/view/files as JSON strings in forms and queries."""
    for key in JSON_ARGS & args.keys():
        if isinstance(args[key], str):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(args[key])
    return args


async def _read_args(request: web.Request) -> Json:
    args: Json = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            body = json.loads(await request.text() or "{}")
            args.update(body if isinstance(body, dict) else {})
        else:
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
    return _decode_json_args(args)


async def _read_upload(request: web.Request) -> bytes:
    """files.slack.com accepts raw bytes (what slack_sdk sends) or a multipart form."""
    if request.content_type != "multipart/form-data":
        return await request.read()
    reader = await request.multipart()
    async for part in reader:
        if getattr(part, "filename", None) or getattr(part, "name", None) in ("file", "filename"):
            return bytes(await part.read())  # type: ignore[union-attr]
    return b""


def _channel_object(cid: str, name: str, **flags: Any) -> Json:
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


_CHANNEL_TYPES: dict[str, Callable[[Json], bool]] = {
    "public_channel": lambda c: not c["is_private"],
    "private_channel": lambda c: c["is_private"] and not c["is_im"] and not c["is_mpim"]
    and c["is_member"],
    "im": lambda c: c["is_im"],
    "mpim": lambda c: c["is_mpim"],
}


# -- the fake ------------------------------------------------------------------------------


class FakeSlack:
    """Slack's Web API in memory: state you can assert on, faults you can inject."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-test",
        bot_user_id: str = "UBOT",
        team_id: str = "T0001",
        channels: dict[str, dict] | None = None,
        bot_id: str = "B0BOT",
        chat_write_public: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bot_token, self.bot_user_id, self.team_id, self.bot_id = (
            bot_token, bot_user_id, team_id, bot_id)
        self.chat_write_public = chat_write_public
        self.app_token = app_token
        self.socket_mode = SocketModeStandIn()
        self.down = False
        self.calls: list[Call] = []
        self.responses: list[Json] = []
        self.views: dict[str, Json] = {}
        self._clock = clock
        self._last_ts = 0
        self._ids = itertools.count(1)
        self._channels: dict[str, Json] = {}
        self._messages: dict[str, list[Json]] = defaultdict(list)
        self._users: dict[str, Json] = {}
        self._dms: dict[str, str] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._uploads: dict[str, Json] = {}
        self._files: dict[str, Json] = {}
        self._bindings: dict[str, tuple[str | None, str | None]] = {}
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._hangs: dict[str, deque[float]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._methods = self._method_table()
        self.add_user(bot_user_id, "oncall-bot", is_bot=True)
        for cid, spec in (channels or {}).items():
            self.add_channel(cid, **spec)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port; base_url is valid from here on."""
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(self._build_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()

    async def stop(self) -> None:
        """Release hung answers first, so stopping never waits on a hang_next delay."""
        self._closing.set()
        await self.socket_mode.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def root_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("FakeSlack is not started")
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/api/"

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        app.router.add_post("/response/{key}", self._handle_response_url)
        app.router.add_get("/socket-mode", self.socket_mode.handle)
        return app

    # -- workspace setup ----------------------------------------------------------------

    def add_channel(self, id: str, name: str, *, is_private: bool = False,
                    is_member: bool = True, is_archived: bool = False) -> None:
        self._channels[id] = _channel_object(id, name, is_private=is_private,
                                             is_member=is_member, is_archived=is_archived)

    def add_user(self, id: str, name: str, *, tz: str = "UTC", dnd_until: int | None = None,
                 is_bot: bool = False, dnd_from: int | None = None) -> None:
        """dnd_until: the user is in Do Not Disturb from now (or `dnd_from`) until this second."""
        ZoneInfo(tz)  # fail here, not inside a request, on a typo
        start = int(self._clock()) if dnd_from is None else dnd_from
        self._users[id] = {"id": id, "name": name, "tz": tz, "is_bot": is_bot,
                           "dnd_start": start, "dnd_until": dnd_until}

    def add_usergroup(self, id: str, handle: str, users: list[str]) -> None:
        """usergroups.users.list answers with ``users``; the handle is for readability."""
        self._usergroups[id] = list(users)

    def response_url(self, key: str = "r1", *, channel: str | None = None,
                     message_ts: str | None = None) -> str:
        """A URL that records POSTs; bound to a message, replace/delete_original act on it."""
        self._bindings[key] = (channel, message_ts)
        return f"{self.root_url}/response/{key}"

    def dm_channel(self, user_id: str) -> str:
        """The bot's DM channel id with a user, opening it as chat.postMessage would."""
        return self._open_dm(user_id)["id"]

    # -- faults -------------------------------------------------------------------------

    def fail_next(self, method: str, *, status: int = 429, retry_after: int | None = 1,
                  error: str | None = None, times: int = 1) -> None:
        """429 (+Retry-After), a plain 5xx, or 200 with ``ok: false`` and ``error``."""
        if status == 200 and not error:
            raise ValueError("a 200 failure needs an error code, e.g. channel_not_found")
        self._faults[method].extend([_Fault(status, retry_after, error)] * times)

    def hang_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Do the work, then answer late: the caller times out not knowing it happened."""
        self._hangs[method].extend([seconds] * times)

    def reset_calls(self) -> None:
        """Forget calls made while arranging a test, keeping all workspace state."""
        self.calls.clear()

    # -- what tests read ----------------------------------------------------------------

    @property
    def channels(self) -> dict[str, Json]:
        """Every conversation by id, DMs included (their name is None); a copy."""
        return copy.deepcopy(self._channels)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def messages(self, channel: str) -> list[Json]:
        """Current state of every message in a channel (id, #name, name or DM user id), oldest
        first, thread replies included: ts, text, blocks, metadata, thread_ts, user, ..."""
        cid = self._lookup(channel, by_name=True)["id"]
        return copy.deepcopy(self._messages[cid])

    def files(self, channel: str | None = None) -> list[Json]:
        """Completed uploads: id, filename, title, content (bytes), channels, thread_ts."""
        cid = self._lookup(channel, by_name=True)["id"] if channel else None
        return [copy.deepcopy(f) for f in self._files.values()
                if cid is None or cid in f["channels"]]

    # -- HTTP handlers ------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args = await _read_args(request)
        self.calls.append(Call(method, copy.deepcopy(args), request.headers.copy(),
                               time.monotonic()))
        if self.down:
            return web.Response(status=503, text="Service Unavailable")
        fault = self._pop(self._faults, method)
        if fault is not None:
            return self._fault_response(fault)
        body = self._answer(method, args, request)
        delay = self._pop(self._hangs, method)
        if delay:
            await self._sleep(delay)
        return web.json_response(body, headers={"x-oauth-scopes": BOT_SCOPES})

    def _answer(self, method: str, args: Json, request: web.Request) -> Json:
        try:
            self._authenticate(request, args, method)
            handler = self._methods.get(method)
            if handler is None:
                raise SlackError("unknown_method")
            return handler(args)
        except SlackError as exc:
            return exc.body()

    def _authenticate(self, request: web.Request, args: Json, method: str) -> None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header else args.get("token")
        if not token:
            raise SlackError("not_authed")
        wanted = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != wanted:
            raise SlackError("invalid_auth")

    @staticmethod
    def _pop(queues: dict[str, deque[Any]], method: str) -> Any:
        queue = queues.get(method)
        return queue.popleft() if queue else None

    @staticmethod
    def _fault_response(fault: _Fault) -> web.Response:
        if fault.status == 429:
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            return web.json_response({"ok": False, "error": fault.error or "ratelimited"},
                                     status=429, headers=headers)
        if fault.status >= 500:
            return web.Response(status=fault.status, text="upstream unavailable")
        return web.json_response({"ok": False, "error": fault.error}, status=fault.status)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503, text="Service Unavailable")
        pending = self._uploads.get(request.match_info["file_id"])
        if pending is None:
            return web.Response(status=404, text="unknown upload")
        pending["content"] = await _read_upload(request)
        return web.Response(text=f"OK - {len(pending['content'])}")

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        body = json.loads(await request.text() or "{}")
        self.responses.append({"key": key, **body})
        self._apply_response(key, body)
        return web.Response(text="ok")

    def _apply_response(self, key: str, body: Json) -> None:
        """What Slack does with a response_url POST, when the URL is bound to a message."""
        channel, ts = self._bindings.get(key, (None, None))
        if channel is None:
            return
        cid = self._lookup(channel, by_name=True)["id"]
        if ts and _truthy(body.get("delete_original")):
            self._messages[cid] = [m for m in self._messages[cid] if m["ts"] != ts]
        elif ts and _truthy(body.get("replace_original")):
            self._apply_update(self._find_message(cid, ts), body)
        elif body.get("response_type") == "in_channel":
            self._store_message(cid, body)

    # -- state helpers ------------------------------------------------------------------

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
            self._channels[cid] = {**_channel_object(cid, "", is_private=True),
                                   "name": None, "is_channel": False, "is_group": False,
                                   "is_im": True, "user": user_id}
            self._dms[user_id] = cid
        return self._channels[self._dms[user_id]]

    def _open_mpim(self, users: list[str]) -> Json:
        cid = self._new_id("G")
        name = "mpdm-" + "--".join(self._users[u]["name"] for u in users) + "-1"
        self._channels[cid] = {**_channel_object(cid, name, is_private=True),
                               "is_mpim": True, "is_group": True, "members": users}
        return self._channels[cid]

    def _store_message(self, cid: str, args: Json, **extra: Any) -> Json:
        msg = {"type": "message", "ts": self._next_ts(), "user": self.bot_user_id,
               "bot_id": self.bot_id, "text": args.get("text") or "",
               "blocks": args.get("blocks") or [], "attachments": args.get("attachments") or [],
               "metadata": args.get("metadata"), "thread_ts": args.get("thread_ts") or None,
               **extra}
        if msg["thread_ts"] and _truthy(args.get("reply_broadcast")):
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
                        "display_name_normalized": user["name"], "team": self.team_id},
        }

    # -- Web API methods ----------------------------------------------------------------

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

    def _conversations_history(self, args: Json) -> Json:
        """Newest first, thread parents only, metadata only with include_all_metadata."""
        cid = self._readable(args.get("channel"))["id"]
        oldest, latest = _ts_bound(args, "oldest"), _ts_bound(args, "latest")
        inclusive = _truthy(args.get("inclusive"))
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
        with_metadata = _truthy(args.get("include_all_metadata"))
        return {"ok": True, "has_more": bool(cursor), "pin_count": 0,
                "messages": [self._public_message(cid, m, metadata=with_metadata) for m in page],
                "response_metadata": {"next_cursor": cursor}}

    def _conversations_list(self, args: Json) -> Json:
        types = (args.get("types") or "public_channel").split(",")
        if any(t not in _CHANNEL_TYPES for t in types):
            raise SlackError("invalid_types")
        found = [c for c in self._channels.values() if any(_CHANNEL_TYPES[t](c) for t in types)]
        if _truthy(args.get("exclude_archived")):
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
        shown = copy.deepcopy(channel) if _truthy(args.get("return_im")) else {"id": channel["id"]}
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

    def _users_info(self, args: Json) -> Json:
        if args.get("user") not in self._users:
            raise SlackError("user_not_found")
        return {"ok": True, "user": self._user_object(args["user"])}

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

    def _checked_view(self, args: Json) -> Json:
        view = args.get("view")
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments",
                             response_metadata={"messages": ["[ERROR] invalid `view`"]})
        problems = _view_problems(view)
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
