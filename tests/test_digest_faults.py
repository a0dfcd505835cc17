"""Digests under bad input and failure: an infinite ratio is "baseline 0" and pages; one window
that fails never stops the other teams' windows, is recorded, and goes out at a later tick."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot.services import digests
from bot.store.models import TimelineEvent
from tests.appkit import BotUnderTest, FakeClock, database_url, start_bot
from tests.test_digest_e2e import CONFIG as E2E_CONFIG
from tests.test_digest_e2e import cost_alert
from tests.test_ingest_db_faults import run_sql

CONFIG = E2E_CONFIG.replace(
    """    - {matchers: ['alert_type="cost"'], receiver: finops, digest: hourly}""",
    """    - {matchers: ['alert_type="cost"', 'service="chat-agent"'], receiver: finops,
       digest: hourly}
    - {matchers: ['alert_type="cost"'], receiver: platform, digest: hourly}""")
SQLITE_POISON = """CREATE TRIGGER poison BEFORE INSERT ON digest_run WHEN NEW.team = 'finops'
BEGIN SELECT RAISE(ABORT, 'poisoned window'); END"""
PG_POISON = ["""CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN
  IF NEW.team = 'finops' THEN RAISE EXCEPTION 'poisoned window'; END IF; RETURN NEW;
END $$ LANGUAGE plpgsql""",
             "CREATE TRIGGER poison BEFORE INSERT ON digest_run FOR EACH ROW "
             "EXECUTE FUNCTION poison()"]


@pytest.fixture(params=["sqlite", "postgres"])
async def bot(request, tmp_path) -> BotUnderTest:
    clock = FakeClock(datetime(2026, 11, 23, 10, 5, tzinfo=UTC))
    running = await start_bot(database_url(request, tmp_path), config=CONFIG, clock=clock)
    yield running
    await running.close()
    await running.slack.stop()


async def test_a_spend_on_a_zero_baseline_pages_and_is_listed_as_baseline_0(bot):
    body = cost_alert("412.50")
    body["alerts"][0]["annotations"]["baseline"] = "0"

    status, answer = await bot.post_alerts(body)
    await bot.drain()

    [incident] = await bot.incidents()
    assert status == 202 and answer["incidents_opened"] == [incident.id]
    assert incident.action == "page"
    assert any("baseline 0" in r for r in incident.rationale["reasons"])
    bot.clock.current = datetime(2026, 11, 23, 11, 2, tzinfo=UTC)
    assert await digests.cost_tick(bot.parts.services) == 1
    await bot.drain()
    digest = bot.slack.messages("#finops")[-1]
    assert "*baseline 0*" in digest["blocks"][2]["text"]["text"]
    assert "at baseline 0" in digest["text"]


async def test_a_failing_window_does_not_stop_the_others_and_is_retried(bot):
    url = bot.parts.db.url
    run_sql(url, *(PG_POISON if url.startswith("postgresql") else [SQLITE_POISON]))
    await bot.post_alerts(cost_alert("384"))  # chat-agent: finops
    await bot.post_alerts(cost_alert("256", service="voice-agent", fingerprint="v1"))  # platform
    bot.clock.current = datetime(2026, 11, 23, 11, 2, tzinfo=UTC)

    assert await digests.cost_tick(bot.parts.services) == 1
    await bot.drain()

    assert len(bot.slack.messages("#platform-oncall")) == 1
    assert bot.slack.messages("#finops") == []
    async with bot.parts.db.reader() as s:
        [failure] = (await s.exec(select(TimelineEvent).where(
            TimelineEvent.kind == "digest_failed"))).all()
    assert failure.data["team"] == "finops" and "poisoned window" in failure.text

    run_sql(url, "DROP TRIGGER poison" + (" ON digest_run" if url.startswith("postgresql")
                                          else ""))
    bot.clock.advance(minutes=1)
    assert await digests.cost_tick(bot.parts.services) == 1
    await bot.drain()
    assert len(bot.slack.messages("#finops")) == 1
    assert len(bot.slack.messages("#platform-oncall")) == 1
