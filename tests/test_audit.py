"""The audit trail: a row for every kind of change and refusal; `/oncall audit`, the CLI,
retention, and no way to edit it through the bot."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli import app
from bot.config import parse_config
from bot.services import audit, rotation, silences
from bot.services.context import ServiceContext
from bot.slack.action_ids import ActionId, QuietRef
from bot.store.db import Database, migrate
from bot.store.models import AuditRow, MaintenanceRow
from tests.appkit import BotUnderTest, FakeClock, payload, start_bot

ROOT = Path(__file__).resolve().parents[1]
RESPONDER, ALICE, BOB, ADMIN, STRANGER = (
    "U0PLATFORM1", "U0ALICE001", "U0BOBBY002", "U0ADMIN001", "U0STRANGER1")

CONFIG = """
teams:
  platform: {channel: "#platform-oncall", responders: [U0PLATFORM1], schedule: platform,
             escalation_policy: standard}
  ai-eng: {channel: "#ai-eng-oncall", responders: [U0AIENG001]}
admins: [U0ADMIN001]
audit: {retention: 30d}
route:
  receiver: platform
  group_by: [alertname]
  routes:
    - {matchers: ['alert_type="model"'], receiver: ai-eng}
schedules:
  platform:
    time_zone: UTC
    start: "2026-11-02 09:00"
    rotation: weekly
    members: [U0ALICE001, U0BOBBY002]
escalation_policies:
  standard:
    levels:
      - {notify: [primary], after: 0m}
"""


@pytest.fixture
async def bot(tmp_path) -> BotUnderTest:
    running = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=CONFIG)
    for user in (RESPONDER, ALICE, BOB, ADMIN, STRANGER, "U0OWNER001"):
        running.slack.add_user(user, user.lower())
    yield running
    await running.close()
    await running.slack.stop()


async def open_incident(bot: BotUnderTest) -> int:
    body = payload("alertmanager/firing-model-ftl-p95.json")
    body["alerts"][0]["labels"]["alert_type"] = "infra"
    await bot.post_alerts(body)
    await bot.drain()
    return (await bot.incidents())[-1].id


async def rows(bot: BotUnderTest, **where) -> list[AuditRow]:
    query = select(AuditRow).order_by(col(AuditRow.id))
    for key, value in where.items():
        query = query.where(getattr(AuditRow, key) == value)
    return await bot._all(query)


async def test_every_kind_of_change_writes_an_audit_row(bot):
    incident_id = await open_incident(bot)
    for words in (f"ack #{incident_id}", f"note #{incident_id} restarted the pods",
                  f"escalate #{incident_id} need a second pair of eyes",
                  f"runbook cost-anomaly #{incident_id}", "action <@U0OWNER001> add an alert",
                  "done 1", f"postmortem #{incident_id}", f"resolve #{incident_id} rolled back",
                  'silence team="platform" alertname="Noisy" for 1h deploy', "unsilence 1",
                  "maintenance platform for 2h db upgrade",
                  "override <@U0BOBBY002|bob> for 4h platform", "test-page <@U0ALICE001|alice>",
                  "digest noise platform"):
        reply = await bot.slash(words, user=RESPONDER)
        assert "Only" not in reply["text"], (words, reply["text"])
    [window] = await bot._all(select(MaintenanceRow))
    await bot.click(ActionId.MAINTENANCE_END, incident_id, user=RESPONDER,
                    value=QuietRef(id=window.id).encode())
    bot.clock.advance(hours=6, minutes=30)  # past Monday 09:00: the rotation hands over
    assert await rotation.announce_handoffs(bot.parts.services) == 1

    kinds = {(row.actor, row.action) for row in await rows(bot, outcome="done")}
    for action in ("ack", "note", "escalate", "runbook", "action_item", "close_action_item",
                   "postmortem", "resolve", "silence", "unsilence", "maintenance",
                   "end_maintenance", "override", "test_page", "post_digest"):
        assert (RESPONDER, action) in kinds, action
    assert ("system", "handoff") in kinds

    [ack] = await rows(bot, action="ack")
    assert (ack.before, ack.after) == ({"status": "triggered"}, {"status": "acknowledged"})
    assert ack.team == "platform" and ack.incident_id == incident_id
    [override] = await rows(bot, action="override")
    assert override.after["user"] == BOB and override.target == "schedule:platform"
    [silence] = await rows(bot, action="silence")
    assert silence.after["matchers"] == ['team="platform"', 'alertname="Noisy"']
    [unsilence] = await rows(bot, action="unsilence")
    assert unsilence.before["ends_at"] > unsilence.after["ends_at"]


async def test_a_refusal_is_on_the_audit_trail_and_the_timeline(bot):
    incident_id = await open_incident(bot)

    reply = await bot.slash(f"ack #{incident_id}", user=STRANGER)
    override = await bot.slash("override <@U0STRANGER1|me> for 8h platform", user=STRANGER)

    assert "Only the responders of #" in reply["text"]
    assert "Only the responders of platform" in override["text"]  # no more self-made on-call
    refused = await rows(bot, outcome="refused")
    assert [(r.actor, r.action, r.team) for r in refused] == [
        (STRANGER, "ack", "platform"), (STRANGER, "override", "platform")]
    assert "denied" in await bot.timeline_kinds(incident_id)
    assert (await bot.incident(incident_id)).status == "triggered"


async def test_the_audit_command_shows_the_callers_teams_to_its_responders(bot):
    await bot.slash('silence team="platform" alertname="Noisy" for 1h', user=RESPONDER)
    await bot.slash("maintenance ai-eng for 1h", user=ADMIN)

    mine = await bot.slash("audit", user=RESPONDER)
    stranger = await bot.slash("audit", user=STRANGER)

    assert "*silence*" in mine["text"] and "maintenance" not in mine["text"]  # not ai-eng's
    assert "Only the responders" in stranger["text"]


async def test_retention_prunes_old_rows_and_records_that_it_did(bot):
    await bot.slash('silence team="platform" alertname="Noisy" for 1h', user=RESPONDER)
    bot.clock.advance(days=31)

    assert await audit.prune(bot.parts.services) == 2  # the silence and the start's config

    assert [r.action for r in await rows(bot)] == ["audit_prune"]


def test_nothing_but_the_retention_job_edits_or_deletes_audit_rows():
    """Only bot/services/audit.py touches AuditRow, and it only adds rows and prunes."""
    users = [p for p in (ROOT / "bot").rglob("*.py") if "AuditRow" in p.read_text()]
    users += [p for p in (ROOT / "commands").rglob("*.py") if "AuditRow" in p.read_text()]
    assert {p.relative_to(ROOT).as_posix() for p in users} == {
        "bot/store/models.py", "bot/services/audit.py", "bot/audit_run.py"}
    source = (ROOT / "bot/services/audit.py").read_text()
    assert not re.search(r"\bupdate\(|\.delete\(|s\.delete", source)
    assert source.count("delete(AuditRow)") == 1  # in prune()


def test_the_cli_prints_the_trail_filtered_by_actor_as_json(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/oncall.db"
    (tmp_path / "oncall.yaml").write_text(CONFIG)
    migrate(url)

    async def fill() -> None:
        ctx = ServiceContext(db=Database(url), config=parse_config(CONFIG), clock=FakeClock())
        await silences.create_maintenance(ctx, "platform", timedelta(hours=1), "db", ADMIN)
        await silences.create_maintenance(ctx, "ai-eng", timedelta(hours=1), "", "U0AIENG001")
        await ctx.db.dispose()

    asyncio.run(fill())
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ONCALL_CONFIG", str(tmp_path / "oncall.yaml"))
    result = CliRunner().invoke(app, ["audit", "--since", "3650d", "--actor", ADMIN, "--json"])

    assert result.exit_code == 0, result.output
    [line] = result.output.splitlines()
    entry = json.loads(line)
    assert (entry["actor"], entry["action"], entry["team"]) == (ADMIN, "maintenance", "platform")
    text = CliRunner().invoke(app, ["audit", "--since", "3650d"]).output
    assert "maintenance" in text and "U0AIENG001" in text
    assert CliRunner().invoke(app, ["audit", "--since", "soon"]).exit_code == 2


async def test_a_start_with_a_changed_config_is_on_the_audit_trail(tmp_path):
    url = f"sqlite:///{tmp_path}/oncall.db"
    migrate(url)
    db = Database(url)
    try:
        first = ServiceContext(db=db, config=parse_config(CONFIG), clock=FakeClock())
        assert await audit.record_config_load(first)
        assert not await audit.record_config_load(first)  # a restart with the same config
        changed = ServiceContext(db=db, config=parse_config(CONFIG.replace("30d", "60d")),
                                 clock=FakeClock())
        assert await audit.record_config_load(changed)
        async with db.reader() as s:
            loads = (await s.exec(select(AuditRow).where(
                AuditRow.action == "config_loaded").order_by(col(AuditRow.id)))).all()
    finally:
        await db.dispose()
    assert [row.detail for row in loads] == ["first start",
                                             "the config changed since the last start"]
    assert loads[1].before == {"sha256": loads[0].after["sha256"]} != loads[1].after
