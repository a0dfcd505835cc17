"""/oncall change, /oncall journal and `oncall-bot journal`: the contemporaneous record."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli import app
from bot.store.models import AuditRow, ChangeRow
from tests.appkit import ALERT_TOKEN, start_bot

CONFIG = """
teams:
  platform: {channel: "#platform-oncall", responders: [U0PLATFORM1]}
  secret: {channel: "#platform-oncall", responders: [U0SECRET01], private: true}
admins: [U0ADMIN001]
route:
  receiver: platform
  group_by: [alertname]
  routes:
    - {matchers: ['team="secret"'], receiver: secret}
services:
  voice-agent: {depends_on: [openai]}
"""
RESPONDER, STRANGER = "U0PLATFORM1", "U0STRANGER1"


@pytest.fixture
async def bot(tmp_path):
    running = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=CONFIG)
    yield running
    await running.close()
    await running.slack.stop()


async def post_change(bot, body: dict) -> None:
    async with bot.http.post(f"{bot.url}/changes", json=body,
                             headers={"Authorization": f"Bearer {ALERT_TOKEN}"}) as response:
        assert response.status == 202, await response.text()


def alert(name: str, **labels: str) -> dict:
    return {"alerts": [{"labels": {"alertname": name, "service": "voice-agent",
                                   "severity": "warning", **labels},
                        "startsAt": "2026-11-23T02:59:00Z"}]}


async def test_oncall_change_is_recorded_for_a_responder_and_refused_to_a_stranger(bot):
    reply = await bot.slash('change voice-agent provider "OpenAI <!channel> degraded"',
                            user=RESPONDER)
    assert "Recorded change 1" in reply["text"] and "&lt;!channel&gt;" in reply["text"]
    [row] = await bot._all(select(ChangeRow))
    assert (row.service, row.kind, row.author, row.source, row.summary) == (
        "voice-agent", "provider", RESPONDER, "slack", "OpenAI <!channel> degraded")
    reply = await bot.slash('change voice-agent flag "off"', user=STRANGER)
    assert ":no_entry:" in reply["text"]
    audit = await bot._all(select(AuditRow).where(AuditRow.action == "change")
                           .order_by(col(AuditRow.id)))
    assert [(a.actor, a.outcome) for a in audit] == [(RESPONDER, "done"), (STRANGER, "refused")]
    assert len(await bot._all(select(ChangeRow))) == 1


async def test_oncall_change_says_what_is_missing(bot):
    reply = await bot.slash("change voice-agent deploy", user=RESPONDER)
    assert "SUMMARY" in reply["text"] and "Usage:" in reply["text"]
    reply = await bot.slash('change "voice agent" deploy "x"', user=RESPONDER)
    assert "service" in reply["text"]


async def test_the_journal_merges_changes_and_the_incident_story_in_time_order(bot, tmp_path,
                                                                               monkeypatch):
    await post_change(bot, {"service": "voice-agent", "kind": "prompt", "version": "v42",
                            "author": "alice", "at": "2026-11-23T02:40:00Z"})
    await post_change(bot, {"service": "openai", "kind": "provider", "summary": "latency",
                            "at": "2026-11-23T02:20:00Z"})
    await post_change(bot, {"service": "billing", "kind": "deploy",
                            "at": "2026-11-23T02:30:00Z"})
    await bot.post_alerts(alert("VoiceLatencyHigh"), source="generic")
    await bot.post_alerts(alert("HiddenThing", team="secret"), source="generic")
    await bot.drain()
    bot.clock.advance(minutes=3)
    await bot.slash("ack #1", user=RESPONDER)
    bot.clock.advance(minutes=2)
    await bot.slash("note #1 rolled back prompt v42", user=RESPONDER)
    bot.clock.advance(minutes=5)
    await bot.slash("resolve #1 fixed", user=RESPONDER)

    reply = await bot.slash("journal voice-agent", user=STRANGER)
    lines = reply["text"].splitlines()
    assert lines[0] == "*Journal of voice-agent*"
    kinds = [line.split("*")[1] for line in lines[1:]]
    assert kinds == ["change", "change", "received", "acked", "note", "resolved"]
    assert "provider" in lines[1] and "prompt v42 by alice" in lines[2]
    assert "#1 opened: VoiceLatencyHigh" in lines[3]
    assert "HiddenThing" not in reply["text"] and "billing" not in reply["text"]

    monkeypatch.setenv("DATABASE_URL", bot.parts.settings.database_url)
    config = tmp_path / "oncall.yaml"
    config.write_text(CONFIG)
    result = await asyncio.to_thread(CliRunner().invoke, app, [
        "journal", "voice-agent", "--since", "3650d", "--json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    entries = [json.loads(line) for line in result.output.splitlines()]
    assert [e["kind"] for e in entries] == ["change", "change", "received", "received",
                                            "acked", "note", "resolved"]  # the CLI sees all
    assert entries[0]["service"] == "openai" and entries[0]["at"] == "2026-11-23T02:20:00+00:00"
    assert entries[4]["incident"] == 1 and entries[4]["actor"] == RESPONDER
    everything = (await asyncio.to_thread(CliRunner().invoke, app, [
        "journal", "--since", "3650d", "--config", str(config)])).output
    assert "HiddenThing" in everything and "billing" in everything
    bad = await asyncio.to_thread(CliRunner().invoke, app, [
        "journal", "--since", "soon", "--config", str(config)])
    assert bad.exit_code == 2


async def test_an_empty_journal_says_so(bot):
    reply = await bot.slash("journal voice-agent 2d", user=STRANGER)
    assert "nothing recorded" in reply["text"]


async def test_oncall_route_test_shows_the_context_that_holds_now(tmp_path):
    config = CONFIG + """
tiers:
  trial: {pages: never, otherwise: notify_only}
"""
    running = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=config)
    try:
        reply = await running.slash('route test alertname="X" severity=critical tier=trial')
        assert "action *notify*" in reply["text"]
        assert "context: tier trial never pages: notified only: page → notify (tier trial)" \
            in reply["text"]
    finally:
        await running.close()
        await running.slack.stop()
