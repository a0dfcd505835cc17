"""The /slack/events door: unsigned, malformed or oversized requests never reach Bolt or the log."""

from __future__ import annotations

import json
import logging
import time

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.slack.transport.door import MAX_SLACK_BODY_BYTES
from tests.appkit import SIGNING_SECRET
from tests.test_interactions import open_incident

MARKER = "FORGED-BODY-MARKER"


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


async def post(bot, raw: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with bot.http.post(f"{bot.url}/slack/events", data=raw, headers=headers) as response:
        return response.status, await response.text()


def signed_headers(raw: bytes, *, timestamp: str | None = None) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp,
                                                                     body=raw)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature,
            "Content-Type": "application/json"}


@pytest.mark.parametrize("raw", [b"{not json " + MARKER.encode(), b"\xff\xfe" + MARKER.encode(),
                                 b"payload=%5B" + MARKER.encode(), b""])
async def test_unsigned_malformed_requests_get_401_and_no_body_in_the_log(bot, all_logs, raw):
    status, text = await post(bot, raw, {"Content-Type": "application/json"})

    assert status == 401 and json.loads(text) == {"error": "invalid request"}
    assert MARKER not in all_logs.text and "Traceback" not in all_logs.text
    assert bot.slack.calls_to("auth.test") == []  # Bolt never ran: its first call


async def test_a_body_that_is_not_utf8_is_401_even_with_a_signature_header(bot, all_logs):
    raw = b"\xff\xfe" + MARKER.encode()
    headers = signed_headers(b"anything")

    status, _ = await post(bot, raw, headers)

    assert status == 401
    assert MARKER not in all_logs.text and "Traceback" not in all_logs.text


async def test_a_forged_one_megabyte_request_writes_almost_nothing_to_the_log(bot, all_logs):
    raw = json.dumps({"type": "block_actions", "junk": MARKER * (1_000_000 // len(MARKER))})
    headers = signed_headers(raw.encode())
    headers["X-Slack-Signature"] = "v0=" + "0" * 64

    status, _ = await post(bot, raw.encode(), headers)

    assert status == 401
    assert MARKER not in all_logs.text
    assert len(all_logs.text) < 2000


@pytest.mark.parametrize("timestamp", ["not-a-number", "-5", "1"])
async def test_bad_or_stale_timestamps_are_401_not_500(bot, timestamp):
    raw = b'{"type": "url_verification", "challenge": "x"}'
    headers = signed_headers(raw, timestamp=str(int(time.time())))
    headers["X-Slack-Request-Timestamp"] = timestamp

    status, _ = await post(bot, raw, headers)

    assert status == 401


async def test_a_signed_body_over_slacks_size_is_refused_before_bolt(bot, all_logs):
    incident_id = await open_incident(bot)
    raw = ("payload=" + "x" * MAX_SLACK_BODY_BYTES).encode()

    status, _ = await post(bot, raw, signed_headers(raw))

    assert status == 413
    assert "x" * 100 not in all_logs.text
    assert (await bot.incident(incident_id)).status == "triggered"


async def test_a_signed_but_unparseable_body_is_400_not_a_traceback(bot, all_logs):
    for raw in (b"{broken json", b"payload=%5B1%2C2%5D", b"[1, 2]"):
        status, _ = await post(bot, raw, signed_headers(raw))
        assert status == 400, raw
    assert "Traceback" not in all_logs.text


async def test_a_large_signed_request_under_the_cap_reaches_bolt_whole(bot):
    padding = "p" * (MAX_SLACK_BODY_BYTES - 200)
    raw = json.dumps({"type": "url_verification", "challenge": "big", "pad": padding}).encode()

    async def chunks():  # no Content-Length: the door must read to the end, chunk by chunk
        for start in range(0, len(raw), 64 * 1024):
            yield raw[start:start + 64 * 1024]

    async with bot.http.post(f"{bot.url}/slack/events", data=chunks(),
                             headers=signed_headers(raw)) as response:
        assert response.status == 200 and "big" in await response.text()


async def test_a_chunked_body_over_the_cap_is_refused(bot):
    raw = b"x" * (MAX_SLACK_BODY_BYTES + 10)

    async def chunks():
        for start in range(0, len(raw), 64 * 1024):
            yield raw[start:start + 64 * 1024]

    async with bot.http.post(f"{bot.url}/slack/events", data=chunks(),
                             headers=signed_headers(raw)) as response:
        assert response.status == 413


async def test_a_signed_request_still_reaches_bolt(bot):
    raw = b'{"type": "url_verification", "token": "t", "challenge": "ch4ll3nge"}'

    status, text = await post(bot, raw, signed_headers(raw))

    assert status == 200 and "ch4ll3nge" in text
