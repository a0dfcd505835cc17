"""A failed delivery is final, visible and never blocks the rest (issue 9, delivery part)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.config import ConfigError, parse_config
from bot.delivery.worker import DeliveryPolicy
from bot.domain.alerts import Action, FailureLine, IncidentStatus, IncidentView, PageLine
from bot.services import delivery_failures, records
from bot.slack.incident.responders import failures_text, paged_text
from bot.store import repo
from bot.store.models import OutboxIntent, PageRow, TimelineEvent
from tests.appkit import (
    CONFIG,
    BotUnderTest,
    FakeClock,
    database_url,
    fast_policy,
    payload,
    start_bot,
)

CAROL = "U0CAROL003"  # primary of the `platform` rotation at the FakeClock's start

PAGING_CONFIG = """
teams:
  platform: {channel: "#platform-oncall", responders: [U0PLATFORM1], schedule: platform,
             escalation_policy: standard}
  ai-eng: {channel: "#ai-eng-oncall"}
route:
  receiver: platform
  group_by: [alertname]
  routes:
    - {matchers: ['alert_type="model"'], receiver: ai-eng}
schedules:
  platform:
    time_zone: Europe/Berlin
    start: "2026-11-02 09:00"
    rotation: weekly
    members: [U0ALICE001, U0BOBBY002, U0CAROL003]
escalation_policies:
  standard:
    levels:
      - {notify: [primary, "pager:pagerduty-ai"], after: 0m}
pagers:
  pagerduty-ai: {type: pagerduty, routing_key_env: PAGERDUTY_ROUTING_KEY_AI,
                 url: "http://127.0.0.1:9/v2/enqueue"}
"""


def alert(n: int, alert_type: str = "model") -> dict:
    body = payload("alertmanager/firing-model-ftl-p95.json")
    labels = body["alerts"][0]["labels"]
    labels.update({"alertname": f"Alert{n}", "alert_type": alert_type})
    body["alerts"][0]["fingerprint"] = f"{n:016x}"
    return body


async def stopped(bot: BotUnderTest) -> None:
    await bot.close()
    await bot.slack.stop()


@pytest.fixture(params=["sqlite", "postgres"])
async def paging_bot(request, tmp_path, monkeypatch):
    monkeypatch.delenv("PAGERDUTY_ROUTING_KEY_AI", raising=False)
    running = await start_bot(database_url(request, tmp_path), config=PAGING_CONFIG)
    for user, name in ((CAROL, "carol"), ("U0ALICE001", "alice"), ("U0BOBBY002", "bob")):
        running.slack.add_user(user, name)
    yield running
    await stopped(running)


async def timeline(bot: BotUnderTest, incident_id: int) -> list[TimelineEvent]:
    async with bot.parts.db.reader() as s:
        return list((await s.exec(select(TimelineEvent).where(
            TimelineEvent.incident_id == incident_id).order_by(col(TimelineEvent.id)))).all())


async def pages(bot: BotUnderTest) -> list[PageRow]:
    async with bot.parts.db.reader() as s:
        return list((await s.exec(select(PageRow).order_by(col(PageRow.id)))).all())


async def metrics(bot: BotUnderTest) -> str:
    return await (await bot.http.get(f"{bot.url}/metrics")).text()


def message_text(blocks: list[dict]) -> str:
    return json.dumps(blocks)


# -- which errors are retried --------------------------------------------------------------


async def test_a_refused_post_fails_at_once_and_the_channel_moves_on(bot):
    bot.slack.fail_next("chat.postMessage", status=200, error="invalid_arguments")
    await bot.post_alerts(alert(1))
    await bot.post_alerts(alert(2))

    await bot.drain()  # no clock moved: nothing waits on a backoff

    first, second = await bot.intents()
    assert (first.state, first.attempts, first.last_error) == ("failed", 1, "invalid_arguments")
    assert second.state == "done"
    [posted] = bot.slack.messages("CAIENG0001")
    assert posted["metadata"]["event_payload"]["incident_id"] == 2
    assert len(bot.slack.calls_to("chat.postMessage")) == 2


@pytest.mark.parametrize("error", ["internal_error", "service_unavailable", "request_timeout"])
async def test_slack_trouble_on_its_side_is_retried_and_posted_once(bot, error):
    bot.slack.fail_next("chat.postMessage", status=200, error=error)
    await bot.post_alerts(alert(1))

    await bot.drain()
    [intent] = await bot.intents()
    assert (intent.state, intent.last_error) == ("pending", error)

    bot.clock.advance(seconds=5)
    await bot.drain()

    [intent] = await bot.intents()
    assert intent.state == "done" and intent.attempts == 2
    assert len(bot.slack.messages("CAIENG0001")) == 1


# -- caps ----------------------------------------------------------------------------------


def test_delivery_limits_have_defaults_and_refuse_unknown_keys():
    limits = parse_config(CONFIG).delivery
    assert limits.max_attempts == 20 and limits.max_age.total_seconds() == 15 * 60
    with pytest.raises(ConfigError) as refused:
        parse_config(CONFIG + "delivery: {max_tries: 3}\n")
    assert "delivery.max_tries: unknown key" in str(refused.value)


async def test_an_intent_fails_after_max_attempts(tmp_path):
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db",
                          config=CONFIG + "delivery: {max_attempts: 3, max_age: 1h}\n")
    try:
        bot.slack.down = True
        await bot.post_alerts(alert(1))
        for _ in range(3):
            await bot.drain()
            bot.clock.advance(seconds=1)

        [intent] = await bot.intents()
        assert intent.state == "failed" and intent.attempts == 3
        assert intent.last_error == "http_503 (gave up after 3 attempts)"
        [failed] = [e for e in await timeline(bot, 1) if e.kind == "delivery_failed"]
        assert "incident message to #ai-eng-oncall failed: http_503" in failed.text
    finally:
        await stopped(bot)


async def test_an_intent_fails_once_older_than_max_age(tmp_path):
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db",
                          config=CONFIG + "delivery: {max_attempts: 1000, max_age: 2m}\n")
    try:
        bot.slack.down = True
        await bot.post_alerts(alert(1))
        for _ in range(6):
            await bot.drain()
            bot.clock.advance(seconds=30)
        await bot.drain()

        [intent] = await bot.intents()
        assert intent.state == "failed"
        assert intent.last_error == "http_503 (gave up after 2m)"
    finally:
        await stopped(bot)


# -- failures are shown where a human looks --------------------------------------------------


async def test_failed_pages_show_on_the_message_timeline_metrics_and_cli(paging_bot, tmp_path,
                                                                          monkeypatch):
    bot = paging_bot
    bot.slack.fail_next("conversations.open", status=200, error="cannot_dm_bot")
    await bot.post_alerts(alert(1, alert_type="infra"))
    await bot.drain()

    text = message_text(bot.slack.calls_to("chat.update")[-1].args["blocks"])
    assert f":warning: page to <@{CAROL}> failed: cannot_dm_bot" in text
    assert ":warning: pager pagerduty-ai failed: PAGERDUTY_ROUTING_KEY_AI is not set" in text
    assert {(p.target, p.outcome, p.error) for p in await pages(bot)} == {
        (CAROL, "failed", "cannot_dm_bot"),
        ("pagerduty-ai", "failed", "PAGERDUTY_ROUTING_KEY_AI is not set")}
    assert "Paged:" not in text  # neither page went out

    failed = {e.data["target"]: e for e in await timeline(bot, 1) if e.kind == "page_failed"}
    assert failed["pagerduty-ai"].text == (
        "pager pagerduty-ai failed: PAGERDUTY_ROUTING_KEY_AI is not set")
    assert failed["pagerduty-ai"].data["target_kind"] == "pager"
    assert failed[CAROL].text == f"page to <@{CAROL}> failed: cannot_dm_bot"

    exported = await metrics(bot)
    assert 'oncall_delivery_failed_total{error="cannot_dm_bot",kind="sync_dm"} 1.0' in exported
    assert 'oncall_outbox_failed{kind="pager_event"} 1.0' in exported
    assert 'oncall_outbox_failed{kind="sync_dm"} 1.0' in exported

    cli = cli_runner(bot, tmp_path, monkeypatch)
    listed = await asyncio.to_thread(cli, "outbox", "--failed", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {row["target"]: row for row in json.loads(listed.output)["intents"]}
    assert set(rows) == {CAROL, "pagerduty-ai"}
    assert rows[CAROL]["error"] == "cannot_dm_bot" and rows[CAROL]["state"] == "failed"
    assert rows["pagerduty-ai"]["kind"] == "pager_event"

    retried = await asyncio.to_thread(cli, "outbox", "retry", str(rows[CAROL]["id"]))
    assert retried.exit_code == 0, retried.output
    bot.clock.current = datetime.now(UTC) + timedelta(seconds=1)  # the CLI queues at real time
    await bot.drain()

    [dm] = bot.slack.messages(bot.slack.dm_channel(CAROL))
    assert "You are paged" in json.dumps(dm["blocks"])
    text = message_text(bot.slack.calls_to("chat.update")[-1].args["blocks"])
    assert "cannot_dm_bot" not in text and "pagerduty-ai failed" in text
    assert {(p.target, p.outcome, p.error) for p in await pages(bot)} == {
        (CAROL, "sent", None), ("pagerduty-ai", "failed", "PAGERDUTY_ROUTING_KEY_AI is not set")}
    assert f"Paged: <@{CAROL}> (level 1)" in text
    listed = await asyncio.to_thread(cli, "outbox", "--failed", "--json")
    assert [row["target"] for row in json.loads(listed.output)["intents"]] == ["pagerduty-ai"]


async def test_a_failed_update_of_a_delivered_page_dm_is_no_failed_page(paging_bot):
    bot = paging_bot
    await bot.post_alerts(alert(1, alert_type="infra"))
    await bot.drain()
    assert bot.slack.messages(bot.slack.dm_channel(CAROL))  # the page reached her
    dm = next(i for i in await bot.intents() if i.kind == "sync_dm")
    async with bot.parts.db.transaction() as s:  # a later update of it, claimed and failing
        await repo.set_where(s, OutboxIntent, [OutboxIntent.id == dm.id], {"state": "inflight"})

    await delivery_failures.record(bot.parts.services, dm.id, "message_not_found")

    assert next(p for p in await pages(bot) if p.target == CAROL).error is None
    [failed] = [e for e in await timeline(bot, 1) if e.data.get("intent_id") == dm.id]
    assert failed.kind == "delivery_failed"
    assert failed.text == f"page DM to <@{CAROL}> failed: message_not_found"


def cli_runner(bot: BotUnderTest, tmp_path, monkeypatch):
    config = tmp_path / "oncall.yaml"
    config.write_text(PAGING_CONFIG)
    monkeypatch.setenv("ONCALL_CONFIG", str(config))
    monkeypatch.setenv("DATABASE_URL", bot.parts.settings.database_url)
    runner = CliRunner()
    return lambda *args: runner.invoke(cli_app, list(args))


async def test_outbox_lists_pending_deliveries_and_refuses_to_retry_unknown_ids(
        bot, tmp_path, monkeypatch):
    bot.slack.down = True
    await bot.post_alerts(alert(1))
    await bot.drain()
    cli = cli_runner(bot, tmp_path, monkeypatch)

    listed = await asyncio.to_thread(cli, "outbox")
    assert listed.exit_code == 0
    assert "pending" in listed.output and "incident message to #ai-eng-oncall" in listed.output
    assert "http_503" in listed.output
    assert (await asyncio.to_thread(cli, "outbox", "--failed")).output.strip() == (
        "no failed deliveries")
    refused = await asyncio.to_thread(cli, "outbox", "retry", "1")  # pending, not failed
    assert refused.exit_code == 1 and "no failed delivery with id 1" in refused.output


async def test_a_failed_thread_note_shows_on_the_incident_message(bot):
    await bot.post_alerts(alert(1))
    await bot.drain()
    bot.slack.fail_next("chat.postMessage", status=200, error="not_in_channel")
    await records.add_note(bot.parts.services, 1, "U0ADMIN001", "checking the gateway")
    await bot.drain()

    kinds = await bot.timeline_kinds(1)
    assert "delivery_failed" in kinds
    text = message_text(bot.slack.calls_to("chat.update")[-1].args["blocks"])
    assert ":warning: thread note failed: not_in_channel" in text


# -- recovery after an outage ---------------------------------------------------------------


def slow_backoff(probe_every: float) -> DeliveryPolicy:
    """Backoffs long enough (and exact: no jitter) that only a release can explain an early
    delivery."""
    return DeliveryPolicy(**{**fast_policy().__dict__, "base_backoff": 20.0, "jitter": 0.0,
                             "max_backoff": 300.0, "outage_probe_interval": probe_every})


async def outage_then_recovery(tmp_path, policy: DeliveryPolicy) -> tuple[BotUnderTest,
                                                                          FakeClock]:
    clock = FakeClock()
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", clock=clock, policy=policy)
    bot.slack.down = True
    for n, kind in enumerate(("model", "infra", "tool", "model"), 1):
        body = alert(n, alert_type=kind)
        body["alerts"][0]["labels"]["tool_name"] = "stripe"
        await bot.post_alerts(body)
    for _ in range(4):  # a minute of outage, retried at each intent's own backoff
        await bot.drain()
        clock.advance(seconds=15)
    await bot.drain()
    bot.slack.down = False
    return bot, clock


async def test_one_success_after_an_outage_releases_every_waiting_intent(tmp_path):
    bot, clock = await outage_then_recovery(tmp_path, slow_backoff(probe_every=3600))
    try:
        waiting = sorted(i.due_at for i in await bot.intents() if i.due_at > clock.now())
        assert len(waiting) == 3  # the head of each of three lanes, backing off
        clock.current = waiting[0]  # the first own retry after recovery

        await bot.drain()

        assert {i.state for i in await bot.intents()} == {"done"}
        posted = {m["metadata"]["event_payload"]["incident_id"]
                  for c in ("CAIENG0001", "CPLATFORM1", "CINTEGR001")
                  for m in bot.slack.messages(c)}
        assert posted == {1, 2, 3, 4}
    finally:
        await stopped(bot)


async def test_recovery_is_noticed_by_a_probe_within_seconds(tmp_path):
    bot, clock = await outage_then_recovery(tmp_path, slow_backoff(probe_every=5))
    try:
        earliest = min(i.due_at for i in await bot.intents() if i.due_at > clock.now())
        clock.advance(seconds=5)
        assert clock.now() < earliest  # no intent's own retry is due yet

        await bot.drain()

        assert bot.slack.calls_to("auth.test")
        assert {i.state for i in await bot.intents()} == {"done"}
    finally:
        await stopped(bot)


# -- posts whose outcome is unknown are looked up before they are repeated ------------------


def short_timeout() -> DeliveryPolicy:
    return DeliveryPolicy(**{**fast_policy().__dict__, "call_timeout": 0.2})


async def test_a_timed_out_runbook_step_is_found_not_posted_twice(tmp_path, monkeypatch):
    from tests.fakes.receiver import Receiver
    from tests.test_runbook_walk import SECRET, buttons, config_for, press, thread, tool_incident

    receiver = Receiver()
    await receiver.start()
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", policy=short_timeout(),
                          config=config_for(tmp_path, receiver.url))
    try:
        await tool_incident(bot)
        bot.slack.hang_next("chat.postMessage", seconds=1.0)  # Slack posts it; we time out
        assert await press(bot, bot.slack.messages("CINTEGR001")[0], "Start runbook") == 200
        await bot.drain()
        step = next(i for i in await bot.intents() if i.kind == "runbook_post")
        assert step.state == "pending" and step.maybe_sent

        bot.clock.advance(seconds=5)
        await bot.drain()

        [posted] = thread(bot)
        assert set(buttons(posted)) == {"Vendor down", "Our bug", "Restart"}
        assert len(bot.slack.calls_to("conversations.replies")) == 1
        step = next(i for i in await bot.intents() if i.kind == "runbook_post")
        assert step.state == "done"
    finally:
        await stopped(bot)
        await receiver.stop()


async def test_a_timed_out_upload_is_found_not_uploaded_twice(tmp_path):
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", policy=short_timeout())
    try:
        await bot.post_alerts(alert(1, alert_type="infra"))
        await bot.drain()
        bot.slack.hang_next("files.completeUploadExternal", seconds=1.0)
        await bot.slash("postmortem #1")
        await bot.drain()
        upload = next(i for i in await bot.intents() if i.kind == "file_upload")
        assert upload.state == "pending" and upload.maybe_sent

        bot.clock.advance(seconds=5)
        await bot.drain()

        [draft] = bot.slack.files("CPLATFORM1")
        assert draft["filename"] == "postmortem-1.md"
        upload = next(i for i in await bot.intents() if i.kind == "file_upload")
        assert upload.state == "done"
        assert len(bot.slack.calls_to("files.completeUploadExternal")) == 1
    finally:
        await stopped(bot)


# -- the warning lines, as pure rendering -----------------------------------------------------


def test_warning_lines_escape_errors_and_keep_the_paged_line_for_the_rest():
    at = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    view = IncidentView(
        id=7, title="t", status=IncidentStatus.TRIGGERED, team="platform", action=Action.PAGE,
        started_at=at,
        pages=[PageLine(target_kind="user", target=CAROL, level=1, at=at, error="<!here> no"),
               PageLine(target_kind="user", target="U0ALICE001", level=1, at=at),
               PageLine(target_kind="pager", target="pd", level=1, at=at, error="HTTP 400")],
        delivery_failures=[FailureLine(what="runbook step", error="invalid_thread_ts")])

    assert failures_text(view).splitlines() == [
        f":warning: page to <@{CAROL}> failed: &lt;!here&gt; no",
        ":warning: pager pd failed: HTTP 400",
        ":warning: runbook step failed: invalid_thread_ts"]
    assert paged_text(view) == "Paged: <@U0ALICE001> (level 1)"
