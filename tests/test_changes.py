"""Change events end to end: POST /changes, GitHub deployments, the message, context rules."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.store.models import ChangeRow, IncidentRow
from tests.appkit import ALERT_TOKEN, FakeClock, database_url, start_bot

GITHUB_SECRET = "gh-test-secret"
CONFIG = """
teams:
  platform: {channel: "#platform-oncall", responders: [U0PLATFORM1],
             escalation_policy: lead, time_zone: Europe/Berlin}
  ai-eng: {channel: "#ai-eng-oncall"}
admins: [U0ADMIN001]
route:
  receiver: platform
  group_by: [alertname]
  routes:
    - {matchers: ['alert_type="model"'], receiver: ai-eng}
escalation_policies:
  lead:
    levels:
      - {notify: [U0LEAD0001], after: 0m}
services:
  voice-agent: {depends_on: [openai]}
context:
  - name: fresh-deploy
    after_change: {kinds: [deploy, prompt], within: 30m}
    demote_to: notify
  - name: provider-outage
    matchers: ['service="voice-agent"']
    while_firing: {matchers: ['alertname="OpenAIDown"']}
    hold_for: 10m
"""


def said(incident) -> list[str]:
    """Every reason the incident gives: the route's, then the path decision's (the Why line)."""
    return incident.rationale["reasons"] + incident.rationale.get("why", [])


NOISE_RULE = """
  - name: dismissed-as-noise
    matchers: ['alertname="TTSGlitch"']
    recent_noise: {dismissed_at_least: 3, within: 7d}
    demote_to: triage
"""


@pytest.fixture
async def bot(tmp_path):
    running = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=CONFIG + NOISE_RULE,
                              settings={"github_webhook_secret": GITHUB_SECRET})
    yield running
    await running.close()
    await running.slack.stop()


async def post(bot, path: str, body, *, headers: dict | None = None,
               token: str | None = ALERT_TOKEN) -> tuple[int, dict]:
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with bot.http.post(f"{bot.url}{path}", data=data, headers=sent) as response:
        return response.status, await response.json()


def alert(name: str, service: str = "voice-agent", at: str = "2026-11-23T02:59:00Z",
          **labels: str) -> dict:
    labels = {"alertname": name, "service": service, "severity": "critical", **labels}
    return {"alerts": [{"labels": labels,
                        "annotations": {"summary": f"{name} on {service}"}, "startsAt": at}]}


async def changes(bot) -> list[ChangeRow]:
    return await bot._all(select(ChangeRow).order_by(col(ChangeRow.id)))


# -- POST /changes ------------------------------------------------------------------------


async def test_one_change_is_stored_with_its_time_or_now(bot):
    status, body = await post(bot, "/changes", {
        "service": "voice-agent", "kind": "Deploy", "version": "v1.4.2", "author": "alice",
        "url": "https://github.com/acme/voice/pull/7", "summary": "faster greeting"})
    assert status == 202 and body["accepted"] == 1 and body["rejected"] == []
    [row] = await changes(bot)
    assert (row.service, row.kind, row.version, row.author, row.source) == (
        "voice-agent", "deploy", "v1.4.2", "alice", "api")
    assert row.at == bot.clock.now()


async def test_a_batch_keeps_the_good_events_and_names_the_bad_fields(bot):
    status, body = await post(bot, "/changes", {"changes": [
        {"service": "voice-agent", "kind": "prompt", "at": "2026-11-23T02:40:00Z"},
        {"service": "voice-agent"},
        {"service": "voice agent!", "kind": "model"},
        {"service": "tts", "kind": "flag", "url": "javascript:alert(1)"},
        {"service": "tts", "kind": "config", "at": "2026-11-24T03:00:00Z"},
        {"service": "tts", "kind": "config", "colour": "red"}]})
    assert status == 202 and body["accepted"] == 1
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (1, "changes[1].kind"), (2, "changes[2].service"), (3, "changes[3].url"),
        (5, "changes[5].colour"), (4, "changes[4].at")]
    assert "future" in body["rejected"][-1]["error"]
    assert [(r.kind, r.at.isoformat()) for r in await changes(bot)] == [
        ("prompt", "2026-11-23T02:40:00+00:00")]


async def test_nothing_good_is_a_400_naming_the_field_and_nothing_is_stored(bot):
    status, body = await post(bot, "/changes", [{"service": "voice-agent", "kind": "two words"}])
    assert status == 400 and body["field"] == "[0].kind"
    status, body = await post(bot, "/changes", "a string")
    assert status == 400 and body["field"] == "body"
    assert await changes(bot) == []


async def test_changes_need_the_bearer_token(bot):
    status, _ = await post(bot, "/changes", {"service": "x", "kind": "deploy"}, token="wrong")
    assert status == 401
    assert await changes(bot) == []


# -- GitHub deployment_status -------------------------------------------------------------

DEPLOYMENT = {
    "action": "created",
    "deployment_status": {"state": "success", "environment": "production",
                          "target_url": "https://github.com/acme/voice-agent/actions/runs/1",
                          "creator": {"login": "alice"},
                          "created_at": "2026-11-23T02:45:00Z",
                          "updated_at": "2026-11-23T02:45:00Z"},
    "deployment": {"ref": "v1.4.2", "sha": "8f3c2d1e0b9a8f3c2d1e", "environment": "production",
                   "description": "faster greeting"},
    "repository": {"name": "voice-agent", "full_name": "acme/voice-agent",
                   "html_url": "https://github.com/acme/voice-agent"},
    "sender": {"login": "alice"},
}


def signed(raw: bytes, secret: str = GITHUB_SECRET) -> dict:
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": "deployment_status"}


async def test_a_signed_github_deployment_is_stored_as_a_deploy(bot):
    raw = json.dumps(DEPLOYMENT).encode()
    status, body = await post(bot, "/changes/github", raw, headers=signed(raw), token=None)
    assert status == 202 and body["accepted"] == 1
    [row] = await changes(bot)
    assert (row.service, row.kind, row.version, row.author, row.source, row.summary) == (
        "voice-agent", "deploy", "v1.4.2", "alice", "github", "faster greeting")
    assert row.url == "https://github.com/acme/voice-agent/actions/runs/1"
    assert row.at.isoformat() == "2026-11-23T02:45:00+00:00"


async def test_a_github_payload_with_a_wrong_signature_is_refused(bot):
    raw = json.dumps(DEPLOYMENT).encode()
    forged = signed(raw, secret="not-the-secret")
    status, body = await post(bot, "/changes/github", raw, headers=forged, token=None)
    assert status == 401 and body["field"] == "X-Hub-Signature-256"
    tampered = raw.replace(b"v1.4.2", b"v6.6.6")
    status, _ = await post(bot, "/changes/github", tampered, headers=signed(raw), token=None)
    assert status == 401
    status, _ = await post(bot, "/changes/github", raw, token=None,
                           headers={"X-GitHub-Event": "deployment_status"})
    assert status == 401
    assert await changes(bot) == []


async def test_github_ping_and_unsuccessful_deployments_store_nothing(bot):
    raw = b'{"zen": "Keep it logically awesome."}'
    status, body = await post(bot, "/changes/github", raw, token=None,
                              headers={**signed(raw), "X-GitHub-Event": "ping"})
    assert (status, body) == (200, {"ok": True})
    pending = json.loads(json.dumps(DEPLOYMENT))
    pending["deployment_status"]["state"] = "pending"
    raw = json.dumps(pending).encode()
    status, body = await post(bot, "/changes/github", raw, headers=signed(raw), token=None)
    assert status == 202 and body["accepted"] == 0
    assert await changes(bot) == []


@pytest.mark.parametrize("body", [b"[1, 2]", b'{"deployment_status": "x"}',
                                  b'{"deployment_status": {"state": "success"}}',
                                  b'{"deployment_status": {"state": "success", "updated_at": '
                                  b'"yesterday"}, "repository": {"name": "voice"}}',
                                  b"not json"])
async def test_a_signed_but_broken_github_payload_is_a_400_not_a_500(bot, body):
    status, answer = await post(bot, "/changes/github", body, headers=signed(body), token=None)
    assert status == 400 and answer["field"] in ("body", "deployment_status")
    assert await changes(bot) == []


async def test_without_a_configured_secret_github_is_refused(tmp_path):
    running = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=CONFIG)
    try:
        raw = json.dumps(DEPLOYMENT).encode()
        status, body = await post(running, "/changes/github", raw, headers=signed(raw),
                                  token=None)
        assert status == 401 and "GITHUB_WEBHOOK_SECRET" in body["error"]
    finally:
        await running.close()
        await running.slack.stop()


# -- the message and the context rules ------------------------------------------------------


def message_text(bot, channel: str = "CPLATFORM1") -> str:
    calls = [c for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] == channel]
    calls += [c for c in bot.slack.calls_to("chat.update") if c.args["channel"] == channel]
    return json.dumps(calls[-1].args["blocks"])


@pytest.fixture(params=["sqlite", "postgres"])
async def any_bot(request, tmp_path):
    running = await start_bot(database_url(request, tmp_path), config=CONFIG)
    yield running
    await running.close()
    await running.slack.stop()


async def test_a_deploy_then_an_alert_shows_the_change_and_demotes_the_page(any_bot):
    bot = any_bot
    await post(bot, "/changes", {"service": "voice-agent", "kind": "deploy", "version": "v1.4.2",
                                 "author": "alice", "url": "https://ci.example/runs/1",
                                 "summary": "<!channel> faster greeting",
                                 "at": "2026-11-23T02:40:00Z"})
    await post(bot, "/changes", {"service": "openai", "kind": "provider",
                                 "summary": "gpt-4o latency", "at": "2026-11-23T02:10:00Z"})
    await post(bot, "/changes", {"service": "billing", "kind": "deploy",
                                 "at": "2026-11-23T02:50:00Z"})
    status, _ = await bot.post_alerts(alert("VoiceLatencyHigh"), source="generic")
    assert status == 202
    await bot.drain()
    [incident] = await bot.incidents()
    assert incident.action == "notify" and incident.first_paged_at is None
    assert incident.context == {"services": ["voice-agent", "openai"],
                                "rules": ["fresh-deploy"]}
    reasons = said(incident)
    assert any("deploy v1.4.2 of voice-agent 20m before" in r and "(fresh-deploy)" in r
               and "page → notify" in r for r in reasons)
    text = message_text(bot)
    assert "Recent changes" in text
    assert "deploy v1.4.2" in text and "by alice" in text and "19m before" in text
    assert "<https://ci.example/runs/1|link>" in text
    assert "provider" in text and "openai" in text  # a dependency's change
    assert "billing" not in text
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


async def test_without_a_recent_change_the_alert_pages(bot):
    await post(bot, "/changes", {"service": "voice-agent", "kind": "deploy",
                                 "at": "2026-11-23T00:30:00Z"})  # hours ago: too old
    await bot.post_alerts(alert("VoiceLatencyHigh"), source="generic")
    await bot.drain()
    [incident] = await bot.incidents()
    assert incident.action == "page" and incident.first_paged_at == bot.clock.now()
    assert incident.context == {"services": ["voice-agent", "openai"], "rules": []}
    assert "Recent changes" not in message_text(bot)


async def test_a_provider_outage_firing_holds_the_page(bot):
    await bot.post_alerts(alert("OpenAIDown", service="openai"), source="generic")
    await bot.post_alerts(alert("VoiceLatencyHigh"), source="generic")
    await bot.drain()
    voice = next(i for i in await bot.incidents() if i.title.startswith("VoiceLatencyHigh"))
    assert voice.action == "page" and voice.first_paged_at is None
    assert voice.next_step_kind == "page"
    assert voice.next_step_at == voice.started_at + timedelta(minutes=10)
    assert any("OpenAIDown is firing" in r and "provider-outage" in r
               for r in said(voice)), said(voice)


async def test_a_change_after_the_alert_started_is_shown_as_after(tmp_path):
    clock = FakeClock()
    running = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=CONFIG, clock=clock)
    try:
        await running.post_alerts(alert("VoiceLatencyHigh"), source="generic")
        clock.advance(minutes=4)
        await post(running, "/changes", {"service": "voice-agent", "kind": "deploy",
                                         "version": "rollback"})
        async with running.parts.db.transaction() as s:
            incident = (await s.exec(select(IncidentRow))).one()
            from bot.services.outbox import queue_sync
            await queue_sync(s, incident, clock.now())
        await running.drain()
        assert "5m after" in message_text(running)
    finally:
        await running.close()
        await running.slack.stop()


def test_runbook_templates_get_the_recent_changes_escaped_for_where_they_land():
    from bot.domain.templating import make_context, render, template_problems

    context = make_context({"service": "voice"}, {}, "prompt v42 · voice · by <!channel>")
    assert render("Changed: {{ changes }}", context, for_code=False) == (
        "Changed: prompt v42 · voice · by &lt;!channel&gt;")
    assert render("echo {{ changes }}", context, for_code=True, language="shell") == (
        "echo 'prompt v42 · voice · by <!channel>'")
    assert render("{{ changes }}", make_context({}, {}), for_code=False) == (
        "(no recent changes recorded)")
    assert template_problems("{{ changes }}", "text") == []


async def test_an_alert_dismissed_as_noise_three_times_this_week_goes_to_triage(bot):
    from bot.store.models import FeedbackRow

    await bot.post_alerts(alert("TTSGlitch", service="tts"), source="generic")
    [first] = await bot.incidents()
    assert first.action == "page"
    async with bot.parts.db.transaction() as s:
        for day, user in ((1, "U0A0000001"), (2, "U0B0000002"), (3, "U0C0000003")):
            s.add(FeedbackRow(incident_id=first.id, user_id=user, verdict="noise",
                              rule="TTSGlitch", at=bot.clock.now() - timedelta(days=day)))
    await bot.post_alerts({"alerts": [{**alert("TTSGlitch", service="tts")["alerts"][0],
                                       "status": "resolved",
                                       "endsAt": "2026-11-23T03:00:00Z"}]}, source="generic")
    bot.clock.advance(hours=2)
    await bot.post_alerts(alert("TTSGlitch", service="tts", at="2026-11-23T04:59:00Z"),
                          source="generic")
    latest = (await bot.incidents())[-1]
    assert latest.action == "triage" and latest.id != first.id
    assert any("called noise 3× in 1w: page → triage (dismissed-as-noise)" in r
               for r in said(latest))
