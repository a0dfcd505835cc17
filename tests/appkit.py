"""A running bot for tests: real HTTP server, real Bolt, a Slack fake, signed interactions."""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from sqlmodel import col, select

from bot.app import Components, build_components, build_web_app, server_options
from bot.config import parse_config
from bot.delivery.worker import DeliveryPolicy
from bot.services.context import Clock
from bot.settings import Settings
from bot.slack.action_ids import IncidentRef
from bot.store.db import migrate
from bot.store.models import AlertRow, IncidentRow, OutboxIntent, SlackMessage, TimelineEvent
from tests.fakes.slack_api import FakeSlack

PAYLOADS = Path(__file__).parent / "payloads"
SIGNING_SECRET = "test-signing-secret"
ALERT_TOKEN = "test-alert-token"
BOT_TOKEN = "xoxb-test"

CONFIG = """
teams:
  platform: {channel: "#platform-oncall", responders: [U0PLATFORM1]}
  ai-eng: {channel: "#ai-eng-oncall"}
  integrations: {channel: "#integrations-oncall"}
  finops: {channel: "#finops"}
admins: [U0ADMIN001]
tool_owners: {stripe: integrations}
route:
  receiver: platform
  group_by: [alertname, alert_type]
  routes:
    - {matchers: ['alert_type="infra"'], receiver: platform}
    - {matchers: ['alert_type="model"'], receiver: ai-eng}
    - {matchers: ['alert_type="tool"'], receiver_from_label: tool_name, receiver: platform}
    - {matchers: ['alert_type="cost"'], receiver: finops, digest: hourly}
"""

CHANNELS = {"CPLATFORM1": "platform-oncall", "CAIENG0001": "ai-eng-oncall",
            "CINTEGR001": "integrations-oncall", "CFINOPS001": "finops"}


class FakeClock:
    """Injected time: tests move it instead of sleeping."""

    def __init__(self, start: datetime | None = None):
        self.current = start or datetime(2026, 11, 23, 3, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


async def eventually(check, timeout: float = 5.0):
    """Events are acked before their listener runs: wait (briefly) for what it does."""
    import asyncio

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check() if asyncio.iscoroutinefunction(check) else check()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def database_url(request, tmp_path) -> str:
    """SQLite in tmp_path, or a fresh PostgreSQL database, by the fixture's param."""
    if getattr(request, "param", "sqlite") == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path}/oncall.db"


def payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / name).read_text())


def fast_policy() -> DeliveryPolicy:
    return DeliveryPolicy(post_interval_per_channel=0.01, updates_per_minute=60_000, burst=50,
                          post_burst=50,
                          base_backoff=0.01, max_backoff=0.05, idle_poll=0.05)


@dataclass
class BotUnderTest:
    """The bot served on 127.0.0.1 with its Slack pointed at a fake; helpers speak HTTP to it."""

    slack: FakeSlack
    parts: Components
    url: str
    runner: web.AppRunner
    clock: Clock
    http: aiohttp.ClientSession = field(default_factory=aiohttp.ClientSession)

    async def post_alerts(self, body: Any, *, source: str = "alertmanager",
                          token: str | None = ALERT_TOKEN) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.http.post(f"{self.url}/alerts/{source}", data=data,
                                  headers=headers) as response:
            if response.content_type != "application/json":
                return response.status, {"text": await response.text()}
            return response.status, await response.json()

    async def click(self, action_id: str, incident_id: int, user: str = "U0PLATFORM1",
                    value: str | None = None) -> int:
        """POST a signed block_actions payload exactly as Slack sends one."""
        message = await self.message_of(incident_id)
        body = block_actions(action_id, value or IncidentRef(incident_id=incident_id).encode(),
                             user=user, channel=message.channel_id if message else "C0",
                             ts=message.ts if message else "1.1",
                             response_url=self.slack.response_url(f"{action_id}-{user}"))
        status = await self.signed_post("/slack/events", body)
        await self.listeners_done()
        return status

    async def submit_view(self, callback_id: str, metadata: str, values: dict[str, dict],
                          user: str = "U0PLATFORM1", view_id: str = "V0VIEW0001",
                          wait: bool = True) -> dict:
        """POST a signed view_submission; returns Bolt's answer (response_action...) or {}."""
        body = view_submission(callback_id, metadata, values, user=user, view_id=view_id)
        status, text = await self.signed_post("/slack/events", body, with_body=True)
        assert status == 200, text
        if wait:
            await self.listeners_done()
        return json.loads(text) if text else {}

    async def slash(self, text: str, user: str = "U0PLATFORM1",
                    channel: str = "CPLATFORM1", wait: bool = True) -> dict:
        """A signed /oncall command as Slack posts it; returns the ack body (the reply)."""
        body = urllib.parse.urlencode({
            "token": "verification-token", "team_id": "T0001", "team_domain": "acme",
            "channel_id": channel, "channel_name": "oncall", "user_id": user,
            "user_name": user.lower(), "command": "/oncall", "text": text,
            "api_app_id": "A0APPID001", "is_enterprise_install": "false",
            "response_url": self.slack.response_url("slash"),
            "trigger_id": "13345224609.738474920.8088930838d88f008e0"})
        status, answer = await self.signed_post("/slack/events", body, with_body=True)
        assert status == 200, answer
        if wait:
            await self.listeners_done()
        return json.loads(answer) if answer.startswith("{") else {"text": answer}

    async def mention(self, text: str, *, user: str, channel: str, thread_ts: str | None,
                      event_id: str = "Ev0001") -> int:
        """A signed app_mention event (JSON), as the Events API delivers it."""
        event = {"type": "app_mention", "user": user, "text": f"<@UBOT> {text}",
                 "ts": f"{time.time():.6f}", "channel": channel, "event_ts": "1.2"}
        if thread_ts:
            event["thread_ts"] = thread_ts
        body = json.dumps({"token": "t", "team_id": "T0001", "api_app_id": "A0APPID001",
                           "event": event, "type": "event_callback", "event_id": event_id,
                           "event_time": int(time.time()),
                           "authorizations": [{"team_id": "T0001", "user_id": "UBOT",
                                               "is_bot": True}]})
        status = await self.signed_post("/slack/events", body, json_body=True)
        await self.listeners_done()
        return status

    async def shortcut(self, callback_id: str, message: dict, *, user: str,
                       channel: str) -> int:
        body = {"type": "message_action", "callback_id": callback_id, "trigger_id": "1.2.3",
                "response_url": self.slack.response_url("shortcut"),
                "team": {"id": "T0001", "domain": "acme"},
                "channel": {"id": channel, "name": "oncall"},
                "user": {"id": user, "name": user.lower()}, "message": message,
                "message_ts": message["ts"]}
        status = await self.signed_post("/slack/events",
                                        urllib.parse.urlencode({"payload": json.dumps(body)}))
        await self.listeners_done()
        return status

    async def listeners_done(self) -> None:
        """Bolt answers Slack at ack() and runs the rest of a listener as a task of its own:
        wait for those tasks, so a test sees what the click did (no sleeping)."""
        import asyncio

        running = [task for task in asyncio.all_tasks() if not task.done()
                   and task.get_coro().__name__ == "run_ack_function_asynchronously"]
        if running:
            await asyncio.wait(running)

    async def open_modal(self, action_id: str, incident_id: int,
                         user: str = "U0PLATFORM1") -> dict:
        """Click a button that opens a modal; returns the view Slack was asked to open."""
        before = len(self.slack.calls_to("views.open"))
        assert await self.click(action_id, incident_id, user=user) == 200
        opened = self.slack.calls_to("views.open")
        assert len(opened) == before + 1, "no modal was opened"
        return opened[-1].args["view"]

    async def signed_post(self, path: str, raw: str, *, secret: str = SIGNING_SECRET,
                          timestamp: int | None = None, with_body: bool = False,
                          json_body: bool = False):
        timestamp = timestamp or int(time.time())
        signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp),
                                                                 body=raw)
        kind = "application/json" if json_body else "application/x-www-form-urlencoded"
        headers = {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature,
                   "Content-Type": kind}
        async with self.http.post(f"{self.url}{path}", data=raw.encode(),
                                  headers=headers) as response:
            if with_body:
                return response.status, await response.text()
            return response.status

    async def drain(self, passes: int = 50) -> None:
        """Run delivery until nothing is due now (tests drive the worker, no background task)."""
        for _ in range(passes):
            if await self.parts.worker.run_once() == 0:
                return
        raise AssertionError("delivery did not settle")

    async def incidents(self) -> list[IncidentRow]:
        return await self._all(select(IncidentRow).order_by(col(IncidentRow.id)))

    async def incident(self, incident_id: int) -> IncidentRow:
        async with self.parts.db.reader() as s:
            return await s.get(IncidentRow, incident_id)

    async def alerts(self) -> list[AlertRow]:
        return await self._all(select(AlertRow).order_by(col(AlertRow.id)))

    async def timeline_kinds(self, incident_id: int) -> list[str]:
        rows = await self._all(select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
                               .order_by(col(TimelineEvent.id)))
        return [row.kind for row in rows]

    async def intents(self) -> list[OutboxIntent]:
        return await self._all(select(OutboxIntent).order_by(col(OutboxIntent.id)))

    async def message_of(self, incident_id: int) -> SlackMessage | None:
        rows = await self._all(select(SlackMessage).where(SlackMessage.incident_id == incident_id))
        return rows[0] if rows else None

    async def _all(self, query) -> list:
        async with self.parts.db.reader() as s:
            return list((await s.exec(query)).all())

    async def close(self) -> None:
        await self.http.close()
        await self.runner.cleanup()


def block_actions(action_id: str, value: str, *, user: str, channel: str, ts: str,
                  response_url: str) -> str:
    """A block_actions body as Slack posts it: form-encoded `payload=<json>`."""
    body = {
        "type": "block_actions", "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "api_app_id": "A0APPID001", "team": {"id": "T0001", "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
        "container": {"type": "message", "message_ts": ts, "channel_id": channel,
                      "is_ephemeral": False},
        "channel": {"id": channel, "name": "oncall"},
        "message": {"type": "message", "ts": ts, "text": "alert", "bot_id": "B0BOT00001"},
        "response_url": response_url, "state": {"values": {}},
        "actions": [{"action_id": action_id, "block_id": "incident-actions", "value": value,
                     "type": "button", "action_ts": f"{time.time():.6f}",
                     "text": {"type": "plain_text", "text": "Ack"}}],
    }
    return urllib.parse.urlencode({"payload": json.dumps(body)})


def view_submission(callback_id: str, metadata: str, values: dict[str, dict], *, user: str,
                    view_id: str) -> str:
    """A view_submission body as Slack posts it (values: block_id -> element state)."""
    body = {
        "type": "view_submission", "team": {"id": "T0001", "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
        "api_app_id": "A0APPID001", "trigger_id": "1234.5678.abcd",
        "view": {"id": view_id, "team_id": "T0001", "type": "modal", "blocks": [],
                 "private_metadata": metadata, "callback_id": callback_id,
                 "state": {"values": {block: {"value": state} for block, state in values.items()}},
                 "hash": "156772938.1827394", "title": {"type": "plain_text", "text": "x"},
                 "app_id": "A0APPID001", "bot_id": "B0BOT00001"},
        "response_urls": [],
    }
    return urllib.parse.urlencode({"payload": json.dumps(body)})


def text_input(value: str) -> dict:
    return {"type": "plain_text_input", "value": value}


def radio(value: str) -> dict:
    return {"type": "radio_buttons", "selected_option": {"value": value}}


def user_select(user: str) -> dict:
    return {"type": "users_select", "selected_user": user}


async def start_bot(database_url: str, *, config: str = CONFIG, background: bool = False,
                    slack: FakeSlack | None = None, clock: Clock | None = None,
                    policy: DeliveryPolicy | None = None,
                    socket_mode: bool = False,
                    alert_token: str | None = ALERT_TOKEN,
                    settings: dict[str, Any] | None = None) -> BotUnderTest:
    """Migrate, build and serve the bot on a random port; delivery runs only when asked."""
    if slack is None:
        slack = FakeSlack(bot_token=BOT_TOKEN)
        for channel_id, name in CHANNELS.items():
            slack.add_channel(channel_id, name)
        await slack.start()
    migrate(database_url)
    env = Settings(slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                   slack_api_url=slack.base_url, database_url=database_url,
                   alert_webhook_token=alert_token,
                   slack_app_token=slack.app_token if socket_mode else None, **(settings or {}))
    clock = clock or FakeClock()
    parts = build_components(env, parse_config(config), clock=clock,
                             policy=policy or fast_policy())
    parts.run_background = background
    runner = web.AppRunner(build_web_app(parts), **server_options(env))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return BotUnderTest(slack, parts, f"http://127.0.0.1:{port}", runner, clock)
