"""End to end: a real Alertmanager sends its webhook to the bot, the bot posts to Slack."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.services.context import SystemClock
from tests.appkit import ALERT_TOKEN, start_bot

AM_CONFIG = """
route:
  receiver: oncall
  group_by: ['...']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: oncall
    webhook_configs:
      - url: {url}/alerts/alertmanager
        send_resolved: true
        max_alerts: 0
        http_config:
          authorization: {{type: Bearer, credentials: {token}}}
"""

ALERT = {"labels": {"alertname": "VoiceAgentErrorRate", "alert_type": "infra",
                    "service": "voice-agent", "severity": "critical"},
         "annotations": {"summary": "5xx rate 12% on voice-agent",
                         "dashboard_url": "https://grafana.example/d/voice"},
         "generatorURL": "http://prometheus.example/graph?g0.expr=errors"}


async def eventually(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.fixture
async def live_bot(tmp_path):
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", background=True,
                          clock=SystemClock())
    yield bot
    await bot.close()
    await bot.slack.stop()


async def test_alertmanager_webhook_posts_then_resolution_updates(live_bot,
                                                                  alertmanager_factory):
    am = await asyncio.to_thread(alertmanager_factory,
                                 AM_CONFIG.format(url=live_bot.url, token=ALERT_TOKEN))
    await asyncio.to_thread(am.push_alerts, [ALERT])

    async def posted():
        return live_bot.slack.calls_to("chat.postMessage")
    [post] = await eventually(posted)
    assert post.args["channel"] == "CPLATFORM1"
    assert "5xx rate 12% on voice-agent" in str(post.args["blocks"])
    assert "https://grafana.example/d/voice" in str(post.args["blocks"])

    await asyncio.to_thread(am.resolve, [ALERT])

    async def resolved():
        incidents = await live_bot.incidents()
        updates = live_bot.slack.calls_to("chat.update")
        return incidents and incidents[0].status == "resolved" and updates
    await eventually(resolved)
    [incident] = await live_bot.incidents()
    assert incident.resolved_by is None
    final = live_bot.slack.messages("CPLATFORM1")[-1]
    assert "resolved" in final["text"]
    assert len(live_bot.slack.calls_to("chat.postMessage")) == 1
