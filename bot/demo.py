"""`oncall-bot demo`: the real pipeline, offline, against a local Slack stand-in."""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from bot.app import Components, build_components, build_web_app
from bot.config import load_config
from bot.devtools.fake_slack import FakeSlack
from bot.services import outbox
from bot.settings import Settings
from bot.slack.action_ids import ActionId, IncidentRef
from bot.store.db import migrate

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CONFIG = ROOT / "oncall.example.yaml"
SECRET, TOKEN, BOT_TOKEN = "demo-signing-secret", "demo-alert-token", "xoxb-demo"
DEMO_USER = "U0DEMOUSER1"


async def run_demo(echo: Callable[[str], None]) -> None:
    config = load_config(CONFIG)
    slack = FakeSlack(bot_token=BOT_TOKEN)
    for n, team in enumerate(config.teams.values()):
        slack.add_channel(f"C0DEMO{n:04d}", team.channel.removeprefix("#"))
    for user in _people(config):  # so page DMs reach someone in the stand-in workspace
        slack.add_user(user, user.lower())
    await slack.start()
    with tempfile.TemporaryDirectory(prefix="oncall-demo-") as workdir:
        database_url = f"sqlite:///{workdir}/demo.db"
        migrate(database_url)
        settings = Settings(slack_bot_token=BOT_TOKEN, slack_signing_secret=SECRET,
                            slack_api_url=slack.base_url, database_url=database_url,
                            alert_webhook_token=TOKEN, slack_app_token=None)
        parts = build_components(settings, config)
        runner = web.AppRunner(build_web_app(parts))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            await _play(url, slack, echo, parts)
        finally:
            await runner.cleanup()
            await slack.stop()
    for channel_id, name in _channels(slack):
        echo(f"\n{name} ({channel_id})")
        for message in slack.messages(channel_id):
            echo(render_text(message))


async def _play(url: str, slack: FakeSlack, echo: Callable[[str], None],
                parts: Components) -> None:
    async with aiohttp.ClientSession() as http:
        for path in sorted(EXAMPLES.glob("*.json")):
            async with http.post(f"{url}/alerts/alertmanager", data=path.read_bytes(),
                                 headers={"Authorization": f"Bearer {TOKEN}",
                                          "Content-Type": "application/json"}) as response:
                echo(f"POST /alerts/alertmanager {path.name} -> {response.status} "
                     f"{json.dumps(await response.json())}")
            await _settled(slack, parts)
        status = await _click(http, url, slack, ActionId.INCIDENT_ACK,
                              IncidentRef(incident_id=2).encode())
        echo(f"{DEMO_USER} clicked Ack on #2 -> {status}")
        await _settled(slack, parts)
        status = await _click(http, url, slack, ActionId.INCIDENT_RUNBOOK_START,
                              IncidentRef(incident_id=2).encode())
        echo(f"{DEMO_USER} clicked Start runbook on #2 -> {status}")
        await _settled(slack, parts)
        await _answer_first_step(http, url, slack, echo, parts)


async def _answer_first_step(http: aiohttp.ClientSession, url: str, slack: FakeSlack,
                             echo: Callable[[str], None], parts: Components) -> None:
    """Press the first answer of the runbook step the demo just started, as a responder would.

    The step is posted by the delivery worker at Slack's pace: wait for it to appear.
    """
    deadline = time.monotonic() + 15
    while (button := _first_answer(slack)) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    if button is None:
        echo("the runbook step did not appear")
        return
    status = await _click(http, url, slack, button["action_id"], button["value"])
    echo(f"{DEMO_USER} answered '{button['text']['text']}' -> {status}")
    before = len(slack.calls_to("chat.postMessage"))
    while len(slack.calls_to("chat.postMessage")) == before and time.monotonic() < deadline:
        await asyncio.sleep(0.2)  # the next step, posted at Slack's pace
    await _settled(slack, parts)


def _first_answer(slack: FakeSlack) -> dict | None:
    for channel_id in list(slack.channels):
        for message in slack.messages(channel_id):
            for block in message.get("blocks") or []:
                if block.get("type") != "actions":
                    continue
                for element in block.get("elements", []):
                    if element["action_id"].startswith("runbook.choose."):
                        return element
    return None


async def _click(http: aiohttp.ClientSession, url: str, slack: FakeSlack, action: str,
                 value: str) -> int:
    body = {"type": "block_actions", "user": {"id": DEMO_USER}, "team": {"id": "T0001"},
            "api_app_id": "A0DEMO", "trigger_id": "1.2.3", "response_url": slack.response_url(),
            "actions": [{"action_id": str(action), "type": "button", "value": value}]}
    raw = urllib.parse.urlencode({"payload": json.dumps(body)})
    ts = str(int(time.time()))  # wall clock ok: Slack signs requests with real time
    headers = {"X-Slack-Request-Timestamp": ts, "Content-Type": "application/x-www-form-urlencoded",
               "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=ts,
                                                                                 body=raw)}
    async with http.post(f"{url}/slack/events", data=raw, headers=headers) as response:
        return response.status


async def _settled(slack: FakeSlack, parts: Components, quiet: float = 0.3,
                   limit: float = 20.0) -> None:
    """Wait until the outbox is empty and Slack has seen no new call for `quiet` seconds
    (delivery runs at Slack's pace, so a fixed wait would be too short or too long)."""
    deadline = time.monotonic() + limit
    seen = -1
    while time.monotonic() < deadline:
        waiting, _ = await outbox.depth(parts.db, parts.services.clock.now())
        if waiting == 0 and seen == len(slack.calls):
            return
        seen = len(slack.calls)
        await asyncio.sleep(quiet)


def _people(config) -> set[str]:
    people = {m for s in config.schedules.values() for m in [*s.members, *(s.secondary or [])]}
    return people | {t.value for p in config.escalation_policies.values() for level in p.levels
                     for t in level.notify if t.kind.value == "user"}


def _channels(slack: FakeSlack) -> list[tuple[str, str]]:
    return [(cid, f"#{info['name']}" if info.get("name") else f"DM to @{info.get('user')}")
            for cid, info in sorted(slack.channels.items()) if slack.messages(cid)]


def render_text(message: dict) -> str:
    """A message as a person would read it, in plain text."""
    lines = []
    for block in message.get("blocks") or []:
        lines.extend(_block_lines(block))
    return "\n".join(f"  {line}" for line in lines or [message.get("text", "")]) + "\n  ---"


def _block_lines(block: dict) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        return [f"== {plain(block['text']['text'])} =="]
    if kind == "section":
        lines = [plain(block["text"]["text"])] if block.get("text") else []
        fields = [plain(f["text"]).replace("*", "").replace("\n", ": ", 1).replace("\n", " · ")
                  for f in block.get("fields", [])]
        return lines + fields
    if kind == "context":
        return [plain(" · ".join(e.get("text", "") for e in block["elements"]))]
    if kind == "actions":
        return [" ".join(f"[{e['text']['text']}]" for e in block["elements"])]
    return []


def plain(text: str) -> str:
    text = re.sub(r"<!date\^\d+\^[^|>]*\|([^>]*)>", r"\1", text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    text = re.sub(r"<@([A-Z0-9]+)>", r"@\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
