"""/readyz says whether the bot can take alerts: the database takes a write and its schema is
at head. A read that answers is not enough: a deleted SQLite file still answers reads through
its open handles, and a read-only file or replica answers reads but refuses every alert."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from bot.store.db import Database, sync_engine
from tests.appkit import database_url, start_bot


@pytest.fixture(params=["sqlite", "postgres"])
async def bot(request, tmp_path):
    running = await start_bot(database_url(request, tmp_path))
    yield running
    await running.close()
    await running.slack.stop()


async def readyz(bot) -> tuple[int, dict]:
    async with bot.http.get(f"{bot.url}/readyz") as response:
        return response.status, (await response.json())["checks"]


async def test_ready_when_writable_and_at_head(bot):
    assert await readyz(bot) == (200, {"database": True, "migrations": True})
    assert bot.parts.db.head() is not None  # read once from the scripts, then kept


async def test_a_deleted_sqlite_file_is_noticed(bot):
    if bot.parts.db.dialect != "sqlite":
        pytest.skip("SQLite only")
    path = bot.parts.db.url.removeprefix("sqlite:///")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)

    status, checks = await readyz(bot)

    assert status == 503 and checks["database"] is False


async def test_a_read_only_database_is_not_ready(bot):
    url = bot.parts.db.url
    if bot.parts.db.dialect == "sqlite":
        bot.parts.db = Database(f"sqlite:///file:{url.removeprefix('sqlite:///')}"
                                "?mode=ro&uri=true")
    else:
        engine = sync_engine(url)
        with engine.begin() as conn:
            name = conn.execute(text("SELECT current_database()")).scalar_one()
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        engine.dispose()
        await bot.parts.db.engine.dispose()  # new connections pick the setting up

    status, checks = await readyz(bot)

    assert status == 503 and checks["database"] is False


async def test_a_schema_behind_head_is_not_ready(bot):
    engine = sync_engine(bot.parts.db.url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0003_runbook_runs'"))
    engine.dispose()

    status, checks = await readyz(bot)

    assert status == 503 and checks == {"database": True, "migrations": False}
