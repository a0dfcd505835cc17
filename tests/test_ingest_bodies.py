"""Whole-body problems are 4xx (Alertmanager drops them) and never 5xx (it would retry them
forever): not JSON, nested too deep, a false Content-Encoding, a wrong Content-Type."""

from __future__ import annotations

import gzip
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ingest.body import MAX_DEPTH, too_deep
from tests.test_ingest_fuzz import FUZZ, JSON_VALUES, envelope, good_alert, raw

BODY = b'{"version": "4", "alerts": []}'
WHOLE_BODY_PROBLEMS = [
    (b"[" * 100_000 + b"]" * 100_000, {}, 400),  # json.loads would hit RecursionError
    (b'{"alerts": ' + b'{"a": ' * 70 + b"1" + b"}" * 71, {}, 400),
    (BODY, {"Content-Encoding": "gzip"}, 400),  # says gzip, is not
    (BODY, {"Content-Encoding": "deflate"}, 400),
    (gzip.compress(BODY)[:-9], {"Content-Encoding": "gzip"}, 400),  # a cut gzip stream
    (BODY, {"Content-Encoding": "compress"}, 415),
    (BODY, {"Content-Encoding": "br"}, 415),
    (gzip.compress(b" " * (11 * 1024 * 1024)), {"Content-Encoding": "gzip"}, 413),  # a bomb
    (BODY, {"Content-Type": "text/html"}, 415),
    (BODY, {"Content-Type": "application/x-www-form-urlencoded"}, 415),
    (b'\xff\xfe{"version"', {}, 400),
    (b'{"version": "4", "alerts": [' + b"9" * 5000 + b"]}", {}, 400),  # every alert rejected
]


async def test_whole_body_problems_are_4xx(bot):
    for data, extra, status in WHOLE_BODY_PROBLEMS:
        headers = {"Authorization": "Bearer test-alert-token",
                   "Content-Type": "application/json", **extra}
        async with bot.http.post(f"{bot.url}/alerts/alertmanager", data=data,
                                 headers=headers) as response:
            assert response.status == status, (data[:40], extra, await response.text())
            assert "error" in await response.json()
    assert await bot.alerts() == []


async def test_gzip_bodies_that_are_gzip_and_json_types_are_accepted(bot):
    good, other = good_alert(), good_alert()
    headers = {"Authorization": "Bearer test-alert-token", "Content-Type": "application/json",
               "Content-Encoding": "gzip"}
    async with bot.http.post(f"{bot.url}/alerts/alertmanager", headers=headers,
                             data=gzip.compress(raw(envelope([good])))) as response:
        assert response.status == 202
    headers = {"Authorization": "Bearer test-alert-token",
               "Content-Type": "application/vnd.example+json; charset=utf-8"}
    async with bot.http.post(f"{bot.url}/alerts/alertmanager", headers=headers,
                             data=raw(envelope([other]))) as response:
        assert response.status == 202
    assert {a.fingerprint for a in await bot.alerts()} == {good["fingerprint"],
                                                           other["fingerprint"]}


@FUZZ
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode)
       | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
async def test_fuzzed_bytes_never_get_5xx(bot, data):
    status, _ = await bot.post_alerts(data)
    assert status < 500


def nested(shape: list[bool]) -> object:
    """A value nested len(shape) deep, a list or an object at each level."""
    value: object = "]}[{"  # brackets inside a string do not count
    for is_list in reversed(shape):
        value = [1, value, {}] if is_list else {"k": value, "e": []}
    return value


@settings(max_examples=200)
@given(shape=st.lists(st.booleans(), min_size=0, max_size=MAX_DEPTH + 20))
def test_too_deep_counts_exactly_what_json_nests(shape):
    assert too_deep(json.dumps(nested(shape)).encode()) is (len(shape) > MAX_DEPTH)
