"""Malformed webhooks never get a 5xx, and a batch with bad alerts keeps its good ones.

Alertmanager retries a 5xx forever and drops a 4xx: a per-alert problem must be a per-alert
rejection in the 202 answer, a whole-body problem a 4xx. Hypothesis throws junk at the real
aiohttp app; the specific cases of the issue come first, on SQLite and PostgreSQL (their
columns differ: PostgreSQL enforces VARCHAR lengths and refuses NUL, SQLite does neither).
"""

from __future__ import annotations

import itertools
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.appkit import database_url, start_bot

_serial = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgres"])
async def bot(request, tmp_path):
    running = await start_bot(database_url(request, tmp_path))
    yield running
    await running.close()
    await running.slack.stop()


def good_alert(**changes) -> dict:
    n = next(_serial)
    alert = {"status": "firing",
             "labels": {"alertname": f"Good{n}", "alert_type": "model", "severity": "page"},
             "annotations": {"summary": f"good alert {n}"},
             "startsAt": "2026-11-23T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://prometheus:9090/graph", "fingerprint": f"{n:016x}"}
    alert.update(changes)
    return alert


def envelope(alerts: list, **extra) -> dict:
    return {"version": "4", "status": "firing", "receiver": "oncall", "groupKey": "{}:{}",
            "truncatedAlerts": 0, "alerts": alerts, **extra}


def raw(body: dict) -> bytes:
    """json.dumps writes lone surrogates as \\udXXX escapes and NaN/Infinity as bare words,
    exactly the malformed JSON a sender can produce."""
    return json.dumps(body).encode()


async def stored_fingerprints(bot) -> set[str]:
    return {a.fingerprint for a in await bot.alerts()}


LONG = "x" * 5000

# (how the bad alert differs from a good one, the rejected field)
PER_ALERT_PROBLEMS = [
    ({"annotations": {"summary": "cut mid-emoji \ud83d"}}, "alerts[1].annotations.summary"),
    ({"labels": {"alertname": "Lone\udc00", "alert_type": "model"}}, "alerts[1].labels.alertname"),
    ({"labels": {"alertname": "Nul\x00", "alert_type": "model"}}, "alerts[1].labels.alertname"),
    ({"annotations": {"summary": "nul \x00 inside"}}, "alerts[1].annotations.summary"),
    ({"startsAt": "0001-01-01T00:00:00+01:00"}, "alerts[1].startsAt"),
    ({"startsAt": "9999-12-31T23:59:59-01:00"}, "alerts[1].startsAt"),
    ({"endsAt": "0001-01-01T00:30:00+05:00"}, "alerts[1].endsAt"),
    ({"fingerprint": "f" * 200}, "alerts[1].fingerprint"),
    ({"labels": {"alertname": "Big", "n": 2**70}}, "alerts[1].labels.n"),
    ({"annotations": {"value": math.nan}}, "alerts[1].annotations.value"),
    ({"values": {"A": math.inf}}, "alerts[1].values.A"),
]


async def test_each_per_alert_problem_rejects_only_that_alert(bot):
    for changes, field in PER_ALERT_PROBLEMS:
        good, bad = good_alert(), good_alert(**changes)
        status, answer = await bot.post_alerts(raw(envelope([good, bad])))

        assert status == 202, (changes, answer)
        assert answer["accepted"] == 1, (changes, answer)
        assert [r["field"] for r in answer["rejected"]][:1] == [field], (changes, answer)
        fingerprints = await stored_fingerprints(bot)
        assert good["fingerprint"] in fingerprints and bad["fingerprint"] not in fingerprints


async def test_values_longer_than_their_columns_are_truncated_with_a_marker(bot):
    long_labels = {"alertname": "L" * 300, "alert_type": "model", "severity": "s" * 300,
                   "service": "v" * 300, "big": LONG}
    body = envelope([good_alert(labels=long_labels, generatorURL="http://x/" + LONG)])

    status, answer = await bot.post_alerts(raw(body))

    assert status == 202 and answer["accepted"] == 1, answer
    [alert] = await bot.alerts()
    assert alert.labels == long_labels  # labels are JSON: kept whole
    assert len(alert.generator_url) == 4096 and alert.generator_url.endswith("…")
    [incident] = await bot.incidents()
    assert len(incident.severity) == 32 and incident.severity.endswith("…")
    assert len(incident.service) == 128 and len(incident.title) <= 512
    await bot.drain()
    [post] = bot.slack.calls_to("chat.postMessage")
    assert "LLL" in post.args["text"]


async def test_truncated_alerts_beyond_64_bits_is_noted_not_a_failed_batch(bot):
    good = good_alert()
    status, answer = await bot.post_alerts(raw(envelope([good], truncatedAlerts=2**64)))

    assert status == 202 and answer["accepted"] == 1
    assert answer["rejected"] == [{"index": None, "field": "truncatedAlerts",
                                   "error": "expected a whole number from 0 to 2^63-1"}]
    assert good["fingerprint"] in await stored_fingerprints(bot)


async def test_an_integer_too_long_for_python_is_a_per_alert_rejection(bot):
    good, bad = good_alert(), good_alert()
    text = raw(envelope([good, bad])).decode()
    text = text.replace(f'"fingerprint": "{bad["fingerprint"]}"', '"fingerprint": ' + "9" * 5000)

    status, answer = await bot.post_alerts(text.encode())

    assert status == 202 and answer["rejected"][0]["field"] == "alerts[1].fingerprint"
    assert await stored_fingerprints(bot) >= {good["fingerprint"]}


# -- hypothesis -----------------------------------------------------------------------------

JSON_LEAVES = (st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
               | st.floats() | st.text(max_size=40))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
NASTY_TEXT = st.text(alphabet=st.characters(codec=None, categories=None), max_size=60) | \
    st.sampled_from(["\ud83d", "\x00", "a\udfff", LONG, "", " ", "\u2028"])
TIMES = st.sampled_from([
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59Z", "2026-11-23T02:00:00", "2026-13-01T00:00:00Z", "yesterday",
    "2026-11-23T02:00:00.123456789+05:30", "", "1e400"]) | JSON_LEAVES
FIELDS = ["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
          "fingerprint", "values"]


@st.composite
def bad_alert(draw) -> dict:
    alert = good_alert()
    for name in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True)):
        alert[name] = draw(st.one_of(
            JSON_VALUES, NASTY_TEXT, TIMES,
            st.dictionaries(NASTY_TEXT, NASTY_TEXT | JSON_LEAVES, min_size=1, max_size=3)))
    if draw(st.booleans()):
        alert.pop(draw(st.sampled_from(FIELDS)), None)
    return alert


@st.composite
def batches(draw) -> tuple[list[dict], list[dict], dict]:
    good = [good_alert() for _ in range(draw(st.integers(0, 2)))]
    bad = draw(st.lists(bad_alert(), min_size=1, max_size=3))
    extra = draw(st.dictionaries(st.sampled_from(["truncatedAlerts", "groupLabels", "status",
                                                  "version"]), JSON_VALUES, max_size=2))
    return good, bad, extra


FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@FUZZ
@given(case=batches(), source=st.sampled_from(["alertmanager", "grafana", "generic"]))
async def test_fuzzed_batches_never_get_5xx_and_keep_their_good_alerts(bot, case, source):
    good, bad, extra = case
    alerts = [*good, *bad]
    body = {**envelope(alerts), **extra}
    if source != "alertmanager":
        body.pop("version", None)

    status, answer = await bot.post_alerts(raw(body), source=source)

    assert status < 500, answer
    if good and not extra:
        assert status == 202, answer  # a usable envelope with good alerts is never refused
    if good and status == 202:
        assert {a["fingerprint"] for a in good} <= await stored_fingerprints(bot)
        assert answer["accepted"] >= len(good)


async def test_long_group_labels_keep_their_groups_apart(bot):
    """Group keys beyond their column end in a hash: cutting them would merge two groups."""
    first, second = ("A" * 2000 + "1"), ("A" * 2000 + "2")
    for name in (first, second, first):
        body = envelope([good_alert(labels={"alertname": name, "alert_type": "model"})])
        assert (await bot.post_alerts(raw(body)))[0] == 202

    incidents = await bot.incidents()
    assert len(incidents) == 2
    assert all(len(i.group_key) <= 1024 for i in incidents)
    assert len({i.group_key for i in incidents}) == 2
