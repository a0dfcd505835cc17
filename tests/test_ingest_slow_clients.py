"""Slow clients cannot hold the webhook door open: headers and bodies must arrive within the
read timeout; beyond a number of webhooks in progress a webhook waits its turn for at most
WEBHOOK_QUEUE_WAIT, then the answer is a 503 with Retry-After (Alertmanager retries it)."""

from __future__ import annotations

import asyncio

import pytest

from tests.appkit import start_bot
from tests.test_ingest_fuzz import envelope, good_alert

TIMEOUT = 0.5


@pytest.fixture
async def bot(tmp_path):
    running = await start_bot(f"sqlite:///{tmp_path}/oncall.db", settings={
        "http_read_timeout": TIMEOUT, "webhook_max_concurrent": 1, "webhook_queue_wait": 0})
    yield running
    await running.close()
    await running.slack.stop()


async def open_request(bot, head: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = bot.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head)
    await writer.drain()
    return reader, writer


async def test_headers_that_never_finish_are_cut_off(bot):
    reader, writer = await open_request(bot, b"POST /alerts/alertmanager HTTP/1.1\r\nHost: x\r\n")

    closed = await asyncio.wait_for(reader.read(), timeout=TIMEOUT * 10)

    assert closed == b""  # the server hung up without waiting for the rest
    writer.close()


async def test_a_body_that_never_finishes_is_answered_408(bot):
    reader, writer = await open_request(bot, (
        b"POST /alerts/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer test-alert-token\r\nContent-Length: 500\r\n\r\n{\"vers"))

    status_line = await asyncio.wait_for(reader.readline(), timeout=TIMEOUT * 10)

    assert status_line.startswith(b"HTTP/1.1 408")
    writer.close()
    assert await bot.alerts() == []


async def test_beyond_the_concurrency_cap_a_quick_503_with_retry_after(bot):
    _, slow = await open_request(bot, (
        b"POST /alerts/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer test-alert-token\r\nContent-Length: 500\r\n\r\n{"))
    await asyncio.sleep(TIMEOUT / 5)  # the slow request holds the only slot

    async with bot.http.post(f"{bot.url}/alerts/alertmanager", json=envelope([good_alert()]),
                             headers={"Authorization": "Bearer test-alert-token"}) as refused:
        assert refused.status == 503
        assert refused.headers["Retry-After"] == "5"
        assert "retry later" in (await refused.json())["error"]
    slow.close()

    await asyncio.sleep(TIMEOUT * 2)  # the slow one timed out and gave its slot back
    status, _ = await bot.post_alerts(envelope([good_alert()]))
    assert status == 202


async def test_beyond_the_cap_a_webhook_waits_its_turn_instead_of_a_503(tmp_path):
    queued = await start_bot(f"sqlite:///{tmp_path}/queued.db", settings={
        "http_read_timeout": TIMEOUT, "webhook_max_concurrent": 1,
        "webhook_queue_wait": TIMEOUT * 10})
    try:
        _, slow = await open_request(queued, (
            b"POST /alerts/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nAuthorization: Bearer test-alert-token\r\nContent-Length: 500\r\n\r\n{"))
        await asyncio.sleep(TIMEOUT / 5)  # the slow request holds the only slot

        status, _ = await queued.post_alerts(envelope([good_alert()]))

        assert status == 202  # it waited until the slow one timed out, then went in
        assert len(await queued.alerts()) == 1
        slow.close()
    finally:
        await queued.close()
        await queued.slack.stop()


async def test_a_webhook_that_waited_too_long_is_answered_503_and_gives_its_place_up(tmp_path):
    queued = await start_bot(f"sqlite:///{tmp_path}/queued.db", settings={
        "http_read_timeout": TIMEOUT, "webhook_max_concurrent": 1,
        "webhook_queue_wait": TIMEOUT / 4})
    try:
        _, slow = await open_request(queued, (
            b"POST /alerts/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nAuthorization: Bearer test-alert-token\r\nContent-Length: 500\r\n\r\n{"))
        await asyncio.sleep(TIMEOUT / 5)  # the slow request holds the only slot

        status, answer = await queued.post_alerts(envelope([good_alert()]))
        assert status == 503 and "retry later" in answer["error"]

        await asyncio.sleep(TIMEOUT * 2)  # the slow one timed out and gave its slot back
        statuses = [(await queued.post_alerts(envelope([good_alert()])))[0] for _ in range(3)]
        assert statuses == [202] * 3  # the one that gave up left no slot and no place taken
        slow.close()
    finally:
        await queued.close()
        await queued.slack.stop()


async def test_a_flood_beyond_the_cap_is_let_in_by_turns_and_every_webhook_lands(tmp_path):
    queued = await start_bot(f"sqlite:///{tmp_path}/queued.db", settings={
        "webhook_max_concurrent": 2, "webhook_queue_wait": 30.0})
    try:
        bodies = [envelope([good_alert()]) for _ in range(40)]  # 40 distinct alerts
        answers = await asyncio.gather(*(queued.post_alerts(body) for body in bodies))
        assert [status for status, _ in answers] == [202] * 40
        assert len(await queued.alerts()) == 40
        status, _ = await queued.post_alerts(envelope([good_alert()]))
        assert status == 202  # every slot came back
    finally:
        await queued.close()
        await queued.slack.stop()
