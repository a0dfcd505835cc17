"""Channel names resolve to ids at start; the bot reports its own health and metrics."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.transport.directory import ChannelDirectory
from bot.slack.transport.errors import ChannelNotFound
from tests.appkit import BOT_TOKEN, payload
from tests.fakes.slack_api import FakeSlack


@pytest.fixture
async def slack():
    fake = FakeSlack(bot_token=BOT_TOKEN)
    fake.add_channel("C0PUBLIC01", "ai-eng-oncall", is_member=False)
    fake.add_channel("G0PRIVATE1", "secops", is_private=True, is_member=False)
    fake.add_channel("G0PRIVATE2", "exec-oncall", is_private=True, is_member=True)
    await fake.start()
    yield fake
    await fake.stop()


async def test_names_resolve_public_channels_are_joined_private_ones_reported(slack):
    directory = ChannelDirectory(AsyncWebClient(token=BOT_TOKEN, base_url=slack.base_url))

    problems = await directory.prepare(["#ai-eng-oncall", "#secops", "G0PRIVATE2"])

    assert [c.args["channel"] for c in slack.calls_to("conversations.join")] == ["C0PUBLIC01"]
    assert await directory.resolve("#ai-eng-oncall") == "C0PUBLIC01"
    [problem] = problems
    assert "secops" in problem and "invite" in problem


async def test_an_unknown_channel_name_is_a_clear_error(slack):
    directory = ChannelDirectory(AsyncWebClient(token=BOT_TOKEN, base_url=slack.base_url))
    with pytest.raises(ChannelNotFound, match="#nope"):
        await directory.resolve("#nope")


async def test_healthz_and_readyz_answer_when_all_is_well(bot):
    assert (await bot.http.get(f"{bot.url}/healthz")).status == 200
    response = await bot.http.get(f"{bot.url}/readyz")
    assert response.status == 200
    assert (await response.json())["checks"] == {"database": True, "migrations": True}


async def test_readyz_fails_when_the_database_is_gone(bot):
    from bot.store.db import Database

    bot.parts.db = Database("postgresql://nobody@127.0.0.1:1/none")
    response = await bot.http.get(f"{bot.url}/readyz")
    assert response.status == 503
    assert (await response.json())["checks"]["database"] is False


async def test_metrics_count_ingest_outbox_and_delivery(bot):
    await bot.post_alerts(payload("alertmanager/firing-model-ftl-p95.json"))
    text = await (await bot.http.get(f"{bot.url}/metrics")).text()
    assert 'oncall_ingest_alerts_total{outcome="accepted",source="alertmanager"} 1.0' in text
    assert "oncall_outbox_depth 1.0" in text

    await bot.drain()
    text = await (await bot.http.get(f"{bot.url}/metrics")).text()
    assert "oncall_outbox_depth 0.0" in text
    assert 'oncall_slack_calls_total{method="chat.postMessage",outcome="ok"} 1.0' in text
    assert 'oncall_delivery_latency_seconds_count{kind="sync_message"} 1.0' in text
