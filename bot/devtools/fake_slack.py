"""An in-memory Slack Web API served over real HTTP on 127.0.0.1, for tests and the demo.

Point ``AsyncWebClient(base_url=fake.base_url)`` at it and the real slack_sdk code path runs:
form and JSON encoding, status codes, ``Retry-After``, timeouts. Response shapes follow
docs.slack.dev method pages (trimmed). Self-contained on purpose (stdlib + aiohttp): it is the
Slack stand-in of `oncall-bot demo` as well as the tests' fake (`tests/fakes/slack_api.py`),
so it imports neither pytest nor the rest of the bot, only its own parts:
`fake_slack_state` (the workspace in memory), `fake_slack_methods` (one handler per Web API
method) and `fake_slack_blocks` (Block Kit validation). This module is the HTTP server, the
fault injection and what tests set up and read.

    fake = FakeSlack(channels={"C0ALERTS": {"name": "alerts"}})
    await fake.start()
    client = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)
    await client.chat_postMessage(channel="#alerts", text="hi")
    assert fake.messages("C0ALERTS")[0]["text"] == "hi"
    await fake.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.devtools.fake_slack_blocks import block_kit_problems
from bot.devtools.fake_slack_limits import SlackLimits, retry_after_header
from bot.devtools.fake_slack_methods import SlackMethods
from bot.devtools.fake_slack_state import Json, SlackError, channel_object, truthy
from bot.devtools.fake_socket_mode import SocketModeStandIn

if TYPE_CHECKING:
    from multidict import CIMultiDict

# block_kit_problems is re-exported: tests/fakes/slack_api.py imports it from here.
__all__ = ["Call", "FakeSlack", "block_kit_problems"]

JSON_ARGS = frozenset({"blocks", "attachments", "metadata", "view", "files"})
BOT_SCOPES = ",".join([
    "app_mentions:read", "channels:history", "channels:join", "channels:read", "chat:write",
    "chat:write.public", "commands", "dnd:read", "files:write", "groups:history",
    "groups:read", "im:history", "im:write", "usergroups:read", "users:read",
    "users:read.email",
])


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


# -- the fake ------------------------------------------------------------------------------


class FakeSlack(SlackMethods):
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
        limits: SlackLimits | None = None,
    ) -> None:
        self.bot_token, self.bot_user_id, self.team_id, self.bot_id = (
            bot_token, bot_user_id, team_id, bot_id)
        self.chat_write_public = chat_write_public
        self.app_token = app_token
        self.socket_mode = SocketModeStandIn()
        self.down = False
        self.limits = limits  # Slack's rate limits, enforced only when given
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
        self.scopes = BOT_SCOPES  # what the token was granted: the x-oauth-scopes header
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
        self._channels[id] = channel_object(id, name, is_private=is_private,
                                            is_member=is_member, is_archived=is_archived)

    def add_user(self, id: str, name: str, *, tz: str = "UTC", dnd_until: int | None = None,
                 is_bot: bool = False, dnd_from: int | None = None, email: str = "") -> None:
        """dnd_until: the user is in Do Not Disturb from now (or `dnd_from`) until this second.
        `email` shows in users.info's profile (as with the users:read.email scope)."""
        ZoneInfo(tz)  # fail here, not inside a request, on a typo
        start = int(self._clock()) if dnd_from is None else dnd_from
        self._users[id] = {"id": id, "name": name, "tz": tz, "is_bot": is_bot,
                           "dnd_start": start, "dnd_until": dnd_until, "email": email}

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
        wait = self.limits.check(method, args) if self.limits is not None else None
        if wait is not None:
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": retry_after_header(wait)})
        body = self._answer(method, args, request)
        delay = self._pop(self._hangs, method)
        if delay:
            await self._sleep(delay)
        return web.json_response(body, headers={"x-oauth-scopes": self.scopes})

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
        if ts and truthy(body.get("delete_original")):
            self._messages[cid] = [m for m in self._messages[cid] if m["ts"] != ts]
        elif ts and truthy(body.get("replace_original")):
            self._apply_update(self._find_message(cid, ts), body)
        elif body.get("response_type") == "in_channel":
            self._store_message(cid, body)
