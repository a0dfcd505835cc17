"""Database errors are sorted: only an unavailable database is a 503 ("retry later").

A 503 makes Alertmanager retry forever, so an error about the data (which fails every time)
must lose only the alert the database refuses, and a uniqueness race between replicas is
retried, never answered 503.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from bot.store.db import Database, Fault, classify, sync_engine
from bot.store.models import AlertRow
from tests.appkit import database_url, start_bot
from tests.test_ingest_fuzz import envelope, good_alert, raw, stored_fingerprints

SQLITE_POISON = """
CREATE TRIGGER poison BEFORE INSERT ON alert
WHEN json_extract(NEW.labels, '$.alertname') = 'Poison'
BEGIN SELECT RAISE(ABORT, 'poisoned alert'); END
"""
PG_POISON = ["""
CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN
  IF NEW.labels->>'alertname' = 'Poison' THEN
    RAISE EXCEPTION 'poisoned alert' USING ERRCODE = '22023';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql""",
             "CREATE TRIGGER poison BEFORE INSERT ON alert FOR EACH ROW EXECUTE FUNCTION poison()"]


@pytest.fixture(params=["sqlite", "postgres"])
async def bot(request, tmp_path):
    running = await start_bot(database_url(request, tmp_path))
    yield running
    await running.close()
    await running.slack.stop()


def run_sql(url: str, *statements: str) -> None:
    engine = sync_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


async def test_an_alert_the_database_refuses_is_rejected_alone(bot):
    url = bot.parts.db.url
    run_sql(url, *(PG_POISON if url.startswith("postgresql") else [SQLITE_POISON]))
    first, second = good_alert(), good_alert()
    poison = good_alert(labels={"alertname": "Poison", "alert_type": "model"})

    status, answer = await bot.post_alerts(raw(envelope([first, poison, second])))

    assert status == 202, answer
    assert answer["accepted"] == 2
    [rejected] = answer["rejected"]
    assert rejected["field"] == "alerts[1]" and "database refused" in rejected["error"]
    fingerprints = await stored_fingerprints(bot)
    assert {first["fingerprint"], second["fingerprint"]} <= fingerprints
    assert poison["fingerprint"] not in fingerprints
    assert len(await bot.incidents()) == 2


async def test_a_huge_truncated_count_fits_its_column(bot):
    status, answer = await bot.post_alerts(raw(envelope([good_alert()], truncatedAlerts=2**40)))

    assert status == 202, answer
    [incident] = await bot.incidents()
    assert incident.truncated_at_source == 2**31 - 1


async def test_a_read_only_database_answers_503(bot, tmp_path):
    if bot.parts.db.dialect != "sqlite":
        pytest.skip("a read-only SQLite file")
    path = bot.parts.db.url.removeprefix("sqlite:///")
    bot.parts.services.db = Database(f"sqlite:///file:{path}?mode=ro&uri=true")

    async with bot.http.post(f"{bot.url}/alerts/alertmanager", data=raw(envelope([good_alert()])),
                             headers={"Authorization": "Bearer test-alert-token",
                                      "Content-Type": "application/json"}) as response:
        assert response.status == 503 and response.headers["Retry-After"] == "5"
        assert "retry" in (await response.json())["error"]
    assert await bot.alerts() == []


async def test_a_replica_racing_on_the_same_new_alert_is_retried_not_503(bot):
    """Another replica inserts the same alert and commits while our insert waits on it."""
    alert = good_alert()
    engine = sync_engine(bot.parts.db.url)
    other = Session(engine)
    other.add(AlertRow(source="alertmanager", fingerprint=alert["fingerprint"],
                       starts_at=datetime(2026, 11, 23, 2, 0, tzinfo=UTC), status="firing",
                       labels=alert["labels"], first_seen=bot.clock.now(),
                       last_seen=bot.clock.now()))
    other.flush()  # holds the row's unique key (PostgreSQL) or the write lock (SQLite)

    posting = asyncio.create_task(bot.post_alerts(raw(envelope([alert]))))
    await asyncio.sleep(0.5)  # the webhook's transaction is now waiting on the other one
    other.commit()
    status, answer = await posting

    other.close()
    engine.dispose()
    assert status == 202, answer
    assert answer["accepted"] == 1 and answer["repeated"] == 1
    [row] = await bot.alerts()
    assert row.deliveries == 2


# -- the classification itself, on real driver errors ---------------------------------------


def test_a_locked_sqlite_database_is_unavailable_and_a_duplicate_a_conflict(tmp_path):
    url = f"sqlite:///{tmp_path}/x.db"
    holder = sqlite3.connect(f"{tmp_path}/x.db", isolation_level=None)
    holder.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    holder.execute("INSERT INTO t VALUES (1)")
    engine = create_engine(url, connect_args={"timeout": 0})
    with pytest.raises(DBAPIError) as duplicate, engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert classify(duplicate.value) is Fault.CONFLICT
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(DBAPIError) as locked, engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
    assert classify(locked.value) is Fault.UNAVAILABLE
    holder.rollback()
    with pytest.raises(DBAPIError) as missing, engine.begin() as conn:
        conn.execute(text("SELECT * FROM nothing_here"))
    assert classify(missing.value) is Fault.UNAVAILABLE
    engine.dispose()


def test_errors_that_are_not_the_databases_are_data_faults():
    assert classify(ValueError("bad")) is Fault.DATA
    assert classify(ConnectionResetError()) is Fault.UNAVAILABLE
