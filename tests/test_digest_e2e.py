"""Digests end to end: webhooks in, ticks, what Slack received (messages, buttons, the chart)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.config import parse_config
from bot.digest_run import run_digest
from bot.services import digests
from bot.settings import Settings
from bot.slack.action_ids import ActionId
from bot.store.models import DigestRun, InstallInfo
from tests.appkit import BOT_TOKEN, BotUnderTest, FakeClock, database_url, payload, start_bot
from tests.appkit import CONFIG as APP_CONFIG

CONFIG = """
teams:
  platform: {channel: "#platform-oncall", schedule: platform, escalation_policy: standard}
  finops: {channel: "#finops", responders: [U0FINOPS01], schedule: finops,
           escalation_policy: standard}
route:
  receiver: platform
  group_by: [alertname]
  routes:
    - {matchers: ['alert_type="cost"'], receiver: finops, digest: hourly}
schedules:
  platform: {time_zone: UTC, start: "2026-11-02 09:00", rotation: weekly, members: [U0ALICE001]}
  finops: {time_zone: UTC, start: "2026-11-02 09:00", rotation: weekly, members: [U0FINOPS01]}
escalation_policies:
  standard: {levels: [{notify: [primary], after: 0m}]}
"""
ALICE, FINOPS = "U0ALICE001", "U0FINOPS01"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(params=["sqlite", "postgres"])
async def bot(request, tmp_path) -> BotUnderTest:
    clock = FakeClock(datetime(2026, 11, 23, 10, 5, tzinfo=UTC))
    running = await start_bot(database_url(request, tmp_path), config=CONFIG, clock=clock)
    running.slack.add_user(ALICE, "alice")
    running.slack.add_user(FINOPS, "fin")
    yield running
    await running.close()
    await running.slack.stop()


def cost_alert(value: str, *, service: str = "chat-agent", fingerprint: str = "c1") -> dict:
    """The cost-spike example with another spend rate (the baseline is 128.00)."""
    body = payload("alertmanager/firing-cost-spike.json")
    alert = body["alerts"][0]
    alert["annotations"]["value"] = value
    alert["labels"]["service"], alert["fingerprint"] = service, fingerprint
    alert["startsAt"] = "2026-11-23T10:00:00Z"
    return body


def page_alert(status: str = "firing") -> dict:
    body = cost_alert("1")
    alert = body["alerts"][0]
    alert["status"] = body["status"] = status
    alert["labels"] = {"alertname": "DiskFull", "severity": "critical"}
    alert["annotations"] = {"summary": "disk 97% full"}
    alert["startsAt"], alert["fingerprint"] = "2026-11-17T03:00:00Z", "d1"
    return body


async def test_a_cost_alert_at_3x_is_digested_and_pages_when_redelivered_at_8x(bot):
    status, body = await bot.post_alerts(cost_alert("384"))  # 3x
    await bot.drain()
    assert status == 202 and body["new"] == 1 and body["incidents_opened"] == []
    assert bot.slack.calls_to("chat.postMessage") == []

    bot.clock.advance(minutes=5)
    status, body = await bot.post_alerts(cost_alert("1024"))  # 8x: the same alert, repeated
    await bot.drain()

    [incident] = await bot.incidents()
    assert status == 202 and body["repeated"] == 1 and body["incidents_opened"] == [incident.id]
    assert (incident.team, incident.action) == ("finops", "page")
    channels = [call.args["channel"] for call in bot.slack.calls_to("chat.postMessage")]
    assert "CFINOPS001" in channels and bot.slack.dm_channel(FINOPS) in channels
    assert "paged" in await bot.timeline_kinds(incident.id)


async def test_the_hourly_digest_is_posted_once_and_a_line_opens_an_incident(bot):
    await bot.post_alerts(cost_alert("384"))
    await bot.post_alerts(cost_alert("256", service="voice-agent", fingerprint="v1"))
    ctx = bot.parts.services
    bot.clock.current = datetime(2026, 11, 23, 11, 2, tzinfo=UTC)
    assert await digests.cost_tick(ctx) == 1
    await bot.drain()
    assert await digests.cost_tick(ctx) == 0

    [message] = bot.slack.messages("#finops")
    header, _, worst, other = message["blocks"]
    assert header["text"]["text"] == ":money_with_wings: Cost spikes · finops · 10:00–11:00 UTC"
    assert worst["text"]["text"].startswith("*chat-agent* · gpt-4o — *3.0×* baseline")
    assert other["text"]["text"].startswith("*voice-agent* · gpt-4o — *2.0×* baseline")
    assert message["metadata"]["event_payload"]["intent_id"]

    value = worst["accessory"]["value"]
    for _ in range(2):
        assert await bot.click(ActionId.DIGEST_OPEN_INCIDENT, 0, user=FINOPS, value=value) == 200
    await bot.drain()

    [incident] = await bot.incidents()
    assert (incident.action, incident.title) == ("notify", "Cost spike: chat-agent / gpt-4o at "
                                                           "3.0x baseline")
    answers = [r["text"] for r in bot.slack.responses]
    assert answers == [f"Opened #{incident.id} in #finops.",
                       f"#{incident.id} is already open for this line in #finops."]
    assert len(bot.slack.messages("#finops")) == 2  # the digest, then the incident


async def test_only_the_team_may_open_an_incident_from_its_digest(bot):
    await bot.post_alerts(cost_alert("384"))
    bot.clock.current = datetime(2026, 11, 23, 11, 2, tzinfo=UTC)
    await digests.cost_tick(bot.parts.services)
    await bot.drain()
    value = bot.slack.messages("#finops")[0]["blocks"][2]["accessory"]["value"]

    assert await bot.click(ActionId.DIGEST_OPEN_INCIDENT, 0, user=ALICE, value=value) == 200

    assert await bot.incidents() == []
    assert "Only finops's responders and admins" in bot.slack.responses[0]["text"]


async def test_a_new_install_posts_no_review_of_the_weeks_before_it_started(bot):
    bot.clock.current = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)  # the schedule fired at 09:00

    assert await digests.noise_tick(bot.parts.services) == 0

    await bot.drain()
    assert bot.slack.messages("#platform-oncall") == bot.slack.messages("#finops") == []
    async with bot.parts.db.reader() as s:  # recorded when serving started, not by the tick
        assert (await s.get(InstallInfo, 1)).first_started_at == datetime(
            2026, 11, 23, 10, 5, tzinfo=UTC)
        assert (await s.get(DigestRun, 1)) is None


@pytest.fixture(params=["sqlite", "postgres"])
async def bot_since_monday(request, tmp_path) -> BotUnderTest:
    """The bot first started on Monday 16 Nov: the week of 16-22 Nov is its to review."""
    clock = FakeClock(datetime(2026, 11, 16, 8, 0, tzinfo=UTC))
    running = await start_bot(database_url(request, tmp_path), config=CONFIG, clock=clock)
    running.slack.add_user(ALICE, "alice")
    yield running
    await running.close()
    await running.slack.stop()


async def test_the_weekly_review_is_posted_with_its_chart_uploaded_in_the_thread(
        bot_since_monday):
    bot = bot_since_monday
    bot.clock.current = datetime(2026, 11, 17, 3, 0, tzinfo=UTC)
    await bot.post_alerts(page_alert())
    await bot.drain()
    [incident] = await bot.incidents()
    bot.clock.advance(minutes=4)
    assert await bot.click(ActionId.INCIDENT_ACK, incident.id, user=ALICE) == 200
    bot.clock.advance(minutes=26)
    await bot.post_alerts(page_alert("resolved"))
    await bot.drain()

    bot.clock.current = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 09:00 UTC
    assert await digests.noise_tick(bot.parts.services) == 1  # finops had a quiet week
    await bot.drain()
    assert await digests.noise_tick(bot.parts.services) == 0

    [review] = [m for m in bot.slack.messages("#platform-oncall")
                if m["text"].startswith("Noise review")]
    assert review["blocks"][0]["text"]["text"] == (
        ":bar_chart: Noise review · platform · Mon 16 Nov – Sun 22 Nov 2026")
    assert "1/1 acked · time to ack median 4 min, p90 4 min (n=1)" in json.dumps(
        review["blocks"], ensure_ascii=False)
    [chart] = bot.slack.files("#platform-oncall")
    assert chart["content"].startswith(PNG_MAGIC) and len(chart["content"]) > 5000
    assert chart["thread_ts"] == review["ts"] and chart["filename"].startswith("pages-per-day-")
    assert bot.slack.messages("#finops") == []  # no alerts, no review
    assert len(bot.slack.calls_to("files.completeUploadExternal")) == 1


async def test_on_demand_from_the_command_line_sends_now_and_claims_no_window(bot):
    settings = Settings(slack_bot_token=BOT_TOKEN, slack_api_url=bot.slack.base_url,
                        database_url=bot.parts.settings.database_url)
    await bot.post_alerts(cost_alert("384"))

    lines, code = await run_digest(settings, parse_config(CONFIG), "noise", dry_run=False,
                                   as_json=False, team="platform")

    assert code == 0 and lines[-1] == "sent    noise digest for platform in #platform-oncall"
    assert "Noise review · platform" in lines[1]
    assert [m["text"][:12] for m in bot.slack.messages("#platform-oncall")] == ["Noise review"]
    async with bot.parts.db.reader() as s:
        assert (await s.get(DigestRun, 1)) is None


def test_digest_noise_dry_run_json_prints_the_figures(tmp_path, monkeypatch):
    config = tmp_path / "oncall.yaml"
    config.write_text(APP_CONFIG)
    monkeypatch.setenv("ONCALL_CONFIG", str(config))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/oncall.db")
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    runner = CliRunner()

    result = runner.invoke(cli_app, ["digest", "noise", "--dry-run", "--json"])

    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["digest"] == "noise"
    assert set(figures["teams"]) == {"platform", "ai-eng", "integrations", "finops"}
    assert figures["teams"]["platform"]["health"]["time_to_ack_seconds"]["this_week"] == {
        "count": 0, "median": None, "p90": None}
    cost = runner.invoke(cli_app, ["digest", "cost", "--dry-run"])
    assert cost.exit_code == 0 and "nothing to report" in cost.output
    refused = runner.invoke(cli_app, ["digest", "cost"])
    assert refused.exit_code == 1 and "SLACK_BOT_TOKEN is not set" in refused.output
