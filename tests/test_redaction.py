"""Secrets in alerts never leave the bot: not to Slack, pagers, webhooks, postmortems or logs."""

from __future__ import annotations

import json
import logging

import pytest

from bot.config import ConfigError, parse_config
from bot.domain.redaction import RedactConfig
from bot.services import paging
from bot.services.postmortem import draft
from tests.appkit import BotUnderTest, payload, start_bot
from tests.fakes.receiver import Receiver

ALICE = "U0ALICE001"
SECRETS = {
    "bearer": "Bearer abcDEF123.token-value",
    "api_key": "sk-proj-A1b2C3d4E5f6G7h8I9j0",
    "slack": "xoxb-1111-2222-SECRETslack",
    "aws_key": "AKIAIOSFODNN7EXAMPLE",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl",
    "card": "4111 1111 1111 1111",
}
FRAGMENTS = ["abcDEF123", "A1b2C3d4E5f6G7h8I9j0", "SECRETslack", "IOSFODNN7EXAMPLE",
             "eyJzdWIiOiJib2IifQ", "4111 1111 1111 1111"]

CONFIG = """
teams:
  platform: {{channel: "#platform-oncall", responders: [U0PLATFORM1], schedule: platform,
              escalation_policy: standard{team_extra}}}
route:
  receiver: platform
  group_by: [alertname]
  routes:
    - {{matchers: ['customer="acme-corp"'], receiver: platform}}
schedules:
  platform:
    time_zone: UTC
    start: "2026-11-02 09:00"
    rotation: weekly
    members: [U0ALICE001]
escalation_policies:
  standard:
    levels:
      - {{notify: [primary, "pager:pd", "pager:hook"], after: 0m}}
pagers:
  pd: {{type: pagerduty, routing_key_env: TEST_PD_KEY, url: "{receiver}/pd"}}
  hook: {{type: webhook, url: "{receiver}/hook", secret_env: TEST_HOOK_SECRET}}
{redact}
"""


def leaky_alert() -> dict:
    body = payload("alertmanager/firing-model-ftl-p95.json")
    alert = body["alerts"][0]
    alert["labels"].update({"alertname": "UpstreamAuth", "severity": "critical",
                            "api_key": SECRETS["api_key"], "customer": "acme-corp"})
    alert["annotations"] = {
        "summary": f"401 from upstream with Authorization: {SECRETS['bearer']}",
        "description": (f"slack token {SECRETS['slack']} aws {SECRETS['aws_key']} "
                        f"jwt {SECRETS['jwt']} card {SECRETS['card']} at 1732345678901"),
    }
    alert["startsAt"] = "2026-11-23T03:00:00Z"
    return body


@pytest.fixture
async def receiver():
    running = Receiver()
    await running.start()
    yield running
    await running.stop()


async def start(tmp_path, receiver, monkeypatch, *, redact: str = "",
                team_extra: str = "") -> BotUnderTest:
    monkeypatch.setenv("TEST_PD_KEY", "pd-routing-key")
    monkeypatch.setenv("TEST_HOOK_SECRET", "hook-secret")
    config = CONFIG.format(receiver=receiver.url, redact=redact, team_extra=team_extra)
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=config)
    bot.slack.add_user(ALICE, "alice")
    return bot


@pytest.fixture
async def bot(tmp_path, receiver, monkeypatch):
    running = await start(tmp_path, receiver, monkeypatch)
    yield running
    await running.close()
    await running.slack.stop()


async def page_and_deliver(bot: BotUnderTest) -> int:
    status, _ = await bot.post_alerts(leaky_alert())
    assert status == 202
    await bot.drain()
    await paging.tick(bot.parts.services)
    await bot.drain()
    [incident] = await bot.incidents()
    return incident.id


def everything_sent(bot: BotUnderTest, receiver: Receiver) -> str:
    slack = json.dumps([call.args for call in bot.slack.calls])
    outbound = "".join(r.body.decode() for r in receiver.requests)
    return slack + outbound


async def test_nothing_secret_reaches_slack_pagers_postmortems_or_logs(bot, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    incident_id = await page_and_deliver(bot)
    postmortem = await draft(bot.parts.services, incident_id)

    assert {r.path for r in receiver.requests} == {"/pd", "/hook"}
    assert bot.slack.calls_to("chat.postMessage")
    sent = everything_sent(bot, receiver)
    for fragment in FRAGMENTS:
        assert fragment not in sent, fragment
        assert fragment not in postmortem, fragment
        assert fragment not in caplog.text, fragment
    assert "[redacted:bearer]" in sent and "[redacted:bearer]" in postmortem
    assert "1732345678901" in sent  # a timestamp is not a card number (Luhn)


async def test_the_database_keeps_only_redacted_values_by_default(bot, receiver):
    await page_and_deliver(bot)

    [alert] = await bot.alerts()
    assert alert.labels["api_key"] == "[redacted:api_key]"
    assert alert.annotations["summary"] == (
        "401 from upstream with Authorization: [redacted:bearer]")
    assert "[redacted:credit_card]" in alert.annotations["description"]
    assert alert.original is None
    [incident] = await bot.incidents()
    assert "abcDEF123" not in incident.title


async def test_store_original_keeps_the_sender_values_apart_and_never_renders_them(
        tmp_path, receiver, monkeypatch):
    bot = await start(tmp_path, receiver, monkeypatch, redact="redact: {store_original: true}")
    try:
        await page_and_deliver(bot)
        [alert] = await bot.alerts()
        assert alert.original["labels"]["api_key"] == SECRETS["api_key"]
        assert SECRETS["bearer"] in alert.original["annotations"]["summary"]
        sent = everything_sent(bot, receiver)
        assert all(fragment not in sent for fragment in FRAGMENTS)
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_a_redelivery_is_redacted_too_and_stays_one_alert(bot, receiver):
    await page_and_deliver(bot)
    again = leaky_alert()
    again["alerts"][0]["annotations"]["summary"] = "now with sk-ant-ZZZZZZZZZZZZZZZZZZZZ"

    await bot.post_alerts(again)
    await bot.drain()

    [alert] = await bot.alerts()
    assert alert.annotations["summary"] == "now with [redacted:api_key]" and alert.deliveries == 2
    assert "ZZZZZZZZZZZZZZZZZZZZ" not in everything_sent(bot, receiver)


async def test_own_patterns_and_optional_emails(tmp_path, receiver, monkeypatch):
    redact = ("redact:\n  builtin: [bearer, email]\n"
              "  patterns: {ticket: 'TKT-[0-9]{6}'}")
    bot = await start(tmp_path, receiver, monkeypatch, redact=redact)
    try:
        body = leaky_alert()
        body["alerts"][0]["annotations"]["summary"] = "bob@example.com opened TKT-123456"
        await bot.post_alerts(body)
        await bot.drain()
        [alert] = await bot.alerts()
        assert alert.annotations["summary"] == "[redacted:email] opened [redacted:ticket]"
        assert alert.labels["api_key"] == SECRETS["api_key"]  # api_key left out of `builtin`
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_hidden_labels_and_annotations_are_not_shown(tmp_path, receiver, monkeypatch):
    bot = await start(tmp_path, receiver, monkeypatch,
                      team_extra=", hide_labels: [customer, summary, dashboard_url]")
    try:
        await page_and_deliver(bot)
        sent = everything_sent(bot, receiver)
        assert "acme-corp" not in sent
        assert "401 from upstream" not in sent
        assert "UpstreamAuth" in sent  # the title falls back to the alert name
        [alert] = await bot.alerts()
        assert alert.labels["customer"] == "acme-corp"  # hidden, not deleted
    finally:
        await bot.close()
        await bot.slack.stop()


@pytest.mark.parametrize("section, fragment", [
    ("redact: {patterns: {bad: '(?<=x)y'}}", "redact.patterns"),
    ("redact: {builtin: [bearer, phone]}", "phone"),
    ("redact: {patterns: {'has space': 'x'}}", "has space"),
])
def test_bad_redact_config_names_the_key(section, fragment):
    text = CONFIG.format(receiver="http://x", redact=section, team_extra="")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert fragment in str(caught.value)


def test_defaults_are_on_without_a_redact_section():
    redactor = RedactConfig().redactor
    assert redactor.text(f"k={SECRETS['api_key']} mail bob@example.com") == (
        "k=[redacted:api_key] mail bob@example.com")


def test_redact_patterns_go_through_the_one_regex_door():
    """Patterns compile via `compile_regex` (Go's RE2 dialect): what Go refuses is refused
    with Go's words, and a value with a lone surrogate is redacted, not a crash."""
    text = CONFIG.format(receiver="http://x", team_extra="",
                         redact="redact: {patterns: {named: '(?<n>tkt)'}}")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert "redact.patterns" in str(caught.value)
    assert "named: not a valid RE2 pattern: error parsing regexp: invalid or unsupported Perl "\
        "syntax" in str(caught.value)
    redactor = RedactConfig(patterns={"ticket": "TKT-[0-9]{6}"}).redactor
    assert redactor.text("\ud800 4111 1111 1111 1111 or 4111 1111 1111 1112, TKT-123456") == (
        "\ufffd [redacted:credit_card] or 4111 1111 1111 1112, [redacted:ticket]")


async def test_hidden_labels_stay_out_of_timeline_rows_and_the_postmortem(
        tmp_path, receiver, monkeypatch):
    """The route matches on a hidden label: its value must not be stored on the timeline,
    nor printed by `oncall-bot postmortem` (the same draft `/oncall postmortem` uploads)."""
    from datetime import timedelta

    from sqlmodel import select

    from bot.domain.matchers import parse_matchers
    from bot.services.silences import create_silence
    from bot.store.models import TimelineEvent

    bot = await start(tmp_path, receiver, monkeypatch,
                      team_extra=", hide_labels: [customer, summary]")
    try:
        incident_id = await page_and_deliver(bot)
        await create_silence(bot.parts.services, parse_matchers(
            '{team="platform",alertname="UpstreamAuth"}'), timedelta(hours=1), "quiet",
            "U0PLATFORM1")
        second = leaky_alert()
        second["alerts"][0]["labels"]["instance"] = "another"
        second["alerts"][0]["fingerprint"] = "0123456789abcdef"
        await bot.post_alerts(second)
        await bot.drain()

        rows = await bot._all(select(TimelineEvent).where(
            TimelineEvent.incident_id == incident_id))
        by_kind = {row.kind: row for row in rows}
        assert {"received", "routed", "alert_silenced"} <= set(by_kind)
        stored = json.dumps([[row.text, row.data] for row in rows])
        assert "acme-corp" not in stored and "customer" not in stored
        assert by_kind["received"].data["labels"]["alertname"] == "UpstreamAuth"
        assert "customer" not in by_kind["alert_silenced"].data["labels"]
        assert by_kind["routed"].data["route_path"] == ["root", "(hidden label)"]
        assert by_kind["routed"].data["matched"] == ["(hidden label)"]
        [incident] = await bot.incidents()
        assert incident.rationale["matched"] == ['customer="acme-corp"']  # kept for routing

        postmortem = await draft(bot.parts.services, incident_id)
        assert "acme-corp" not in postmortem and "401 from upstream" not in postmortem
        assert "Route: root > (hidden label)" in postmortem
        assert "# Postmortem draft: #1 UpstreamAuth" in postmortem
    finally:
        await bot.close()
        await bot.slack.stop()
