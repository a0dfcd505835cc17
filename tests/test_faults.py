"""Nothing lost, nothing doubled: Slack outages, rate limits, timeouts and a killed process."""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import socket
import subprocess
import sys
import time

import aiohttp
import pytest

from bot.delivery.worker import DeliveryPolicy
from tests.appkit import (
    ALERT_TOKEN,
    BOT_TOKEN,
    CHANNELS,
    CONFIG,
    SIGNING_SECRET,
    BotUnderTest,
    fast_policy,
    payload,
    start_bot,
)
from tests.fakes.slack_api import FakeSlack


def alert_in_group(n: int) -> dict:
    body = payload("alertmanager/firing-model-ftl-p95.json")
    alert = body["alerts"][0]
    alert["labels"]["alertname"] = f"ModelAlert{n}"
    alert["fingerprint"] = f"{n:016x}"
    return body


async def deliver_until_idle(bot: BotUnderTest, rounds: int = 20) -> None:
    """Drain, moving the injected clock past every backoff and Retry-After."""
    for _ in range(rounds):
        await bot.drain()
        if all(i.state in ("done", "failed") for i in await bot.intents()):
            return
        bot.clock.advance(seconds=30)
    raise AssertionError("outbox never emptied")


def posts_per_incident(slack: FakeSlack, channel: str) -> dict[int, int]:
    counts: dict[int, int] = {}
    for message in slack.messages(channel):
        incident_id = message["metadata"]["event_payload"]["incident_id"]
        counts[incident_id] = counts.get(incident_id, 0) + 1
    return counts


async def test_slack_down_then_back_loses_nothing_and_doubles_nothing(bot):
    bot.slack.down = True
    for n in range(3):
        assert (await bot.post_alerts(alert_in_group(n)))[0] == 202
    await bot.drain()
    assert bot.slack.messages("CAIENG0001") == []
    assert {i.state for i in await bot.intents()} == {"pending"}

    bot.slack.down = False
    await deliver_until_idle(bot)

    assert posts_per_incident(bot.slack, "CAIENG0001") == {1: 1, 2: 1, 3: 1}


async def test_429_is_retried_after_retry_after_and_counted(bot):
    bot.slack.fail_next("chat.postMessage", status=429, retry_after=7, times=3)
    await bot.post_alerts(alert_in_group(1))

    await bot.drain()
    [intent] = await bot.intents()
    assert intent.state == "pending" and intent.last_error == "ratelimited"
    assert (intent.due_at - bot.clock.now()).total_seconds() == pytest.approx(7)

    await deliver_until_idle(bot)
    assert posts_per_incident(bot.slack, "CAIENG0001") == {1: 1}
    metrics = await (await bot.http.get(f"{bot.url}/metrics")).text()
    limited = 'oncall_slack_calls_total{method="chat.postMessage",outcome="ratelimited"} 3.0'
    assert limited in metrics


async def test_a_timed_out_post_that_reached_slack_is_found_not_reposted(tmp_path):
    policy = DeliveryPolicy(**{**fast_policy().__dict__, "call_timeout": 0.2})
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", policy=policy)
    try:
        bot.slack.hang_next("chat.postMessage", seconds=1.0)
        await bot.post_alerts(alert_in_group(1))
        await bot.drain()
        [intent] = await bot.intents()
        assert intent.state == "pending" and intent.maybe_sent

        await deliver_until_idle(bot)

        assert posts_per_incident(bot.slack, "CAIENG0001") == {1: 1}
        assert len(bot.slack.calls_to("conversations.history")) == 1
        assert await bot.message_of(1) is not None
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_an_archived_channel_fails_the_intent_without_blocking_others(bot):
    bot.slack.fail_next("chat.postMessage", status=200, error="is_archived")
    await bot.post_alerts(alert_in_group(1))
    await bot.post_alerts(alert_in_group(2))
    await deliver_until_idle(bot)

    states = [i.state for i in await bot.intents()]
    assert states == ["failed", "done"]
    assert "delivery_failed" in await bot.timeline_kinds(1)
    metrics = await (await bot.http.get(f"{bot.url}/metrics")).text()
    assert 'oncall_delivery_failed_total{error="is_archived",kind="sync_message"} 1.0' in metrics


async def test_many_changes_to_one_incident_coalesce_into_few_updates(bot):
    body = alert_in_group(1)
    await bot.post_alerts(body)
    await bot.drain()
    for n in range(10):
        changed = copy.deepcopy(body)
        changed["alerts"][0]["annotations"]["summary"] = f"p95 now {900 + n} ms"
        await bot.post_alerts(changed)
    await bot.drain()

    assert len(bot.slack.calls_to("chat.update")) == 1
    assert "p95 now 909 ms" in str(bot.slack.messages("CAIENG0001")[0]["blocks"])


# -- a real process, killed -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serving(tmp_path, slack: FakeSlack, port: int) -> subprocess.Popen:
    config = tmp_path / "oncall.yaml"
    config.write_text(CONFIG)
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": slack.base_url, "DATABASE_URL": f"sqlite:///{tmp_path}/oncall.db",
           "ONCALL_CONFIG": str(config), "ALERT_WEBHOOK_TOKEN": ALERT_TOKEN,
           "PORT": str(port), "HOST": "127.0.0.1", "LOG_LEVEL": "WARNING"}
    env.pop("SLACK_APP_TOKEN", None)
    return subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=(tmp_path / "serve.log").open("a"))


async def wait_healthy(url: str, proc: subprocess.Popen, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the bot exited during start-up"
            try:
                async with http.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the bot did not start")


async def test_sigkill_after_202_then_restart_posts_every_alert_exactly_once(tmp_path):
    slack = FakeSlack(bot_token=BOT_TOKEN)
    for channel_id, name in CHANNELS.items():
        slack.add_channel(channel_id, name)
    await slack.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    slack.hang_next("chat.postMessage", seconds=3.0, times=2)  # Slack got it; we never hear
    proc = start_serving(tmp_path, slack, port)
    try:
        await wait_healthy(url, proc)
        async with aiohttp.ClientSession() as http:
            for n in range(5):
                async with http.post(f"{url}/alerts/alertmanager", json=alert_in_group(n),
                                     headers={"Authorization": f"Bearer {ALERT_TOKEN}"}) as r:
                    assert r.status == 202
        while not slack.calls_to("chat.postMessage"):
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

        proc = start_serving(tmp_path, slack, port)
        await wait_healthy(url, proc)
        deadline = time.monotonic() + 30
        while len(posts_per_incident(slack, "CAIENG0001")) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

        assert posts_per_incident(slack, "CAIENG0001") == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
    finally:
        proc.kill()
        proc.wait(timeout=10)
        await slack.stop()


async def test_a_429_on_chat_update_holds_back_every_channel_until_retry_after(bot):
    model, infra = alert_in_group(1), alert_in_group(2)
    infra["alerts"][0]["labels"]["alert_type"] = "infra"
    await bot.post_alerts(model)
    await bot.post_alerts(infra)
    await bot.drain()
    bot.slack.fail_next("chat.update", status=429, retry_after=10)
    for body in (model, infra):
        body["alerts"][0]["annotations"]["summary"] = "worse"
        await bot.post_alerts(body)

    await bot.drain()
    assert len(bot.slack.calls_to("chat.update")) == 1  # the second lane waited, no call
    bot.clock.advance(seconds=11)
    await bot.drain()

    assert len(bot.slack.calls_to("chat.update")) == 3
    assert {i.state for i in await bot.intents()} == {"done"}
