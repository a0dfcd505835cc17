"""What re-publishing App Homes adds to every incident change (`sync_everywhere`).

    python bench/home_refresh.py [--viewers 0 100 1000] [--runs 30]

For each count of people who have opened their Home (a tenth of them responders of the
incident's team, so their Home is queued too), the median and slowest time of one
`sync_everywhere` transaction on SQLite, and how many views.publish intents it queued.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import func, select

from bot.config import parse_config
from bot.services.context import ServiceContext
from bot.services.home_refresh import HOME_PUBLISH
from bot.services.notify import sync_everywhere
from bot.store.db import Database, migrate
from bot.store.models import HomeViewer, IncidentRow, OutboxIntent
from tests.appkit import CONFIG, FakeClock


async def one_count(viewers: int, runs: int, directory: Path) -> str:
    url = f"sqlite:///{directory}/bench-{viewers}.db"
    migrate(url)
    db = Database(url)
    ctx = ServiceContext(db=db, config=parse_config(CONFIG), clock=FakeClock())
    now = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    async with db.transaction() as s:
        for n in range(viewers):
            s.add(HomeViewer(user_id=f"U{n:09d}", opened_at=now,
                             teams=["platform"] if n % 10 == 0 else ["ai-eng"]))
        incident = IncidentRow(group_key="g", route_key="r", team="platform", channel="#p",
                               action="page", title="t", status="triggered", opened_at=now)
        s.add(incident)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        async with db.transaction() as s:
            row = await s.get(IncidentRow, incident.id)
            await sync_everywhere(s, row, ctx.clock.now())
        times.append(time.perf_counter() - started)
    async with db.reader() as s:
        queued = (await s.exec(select(func.count()).select_from(OutboxIntent).where(
            OutboxIntent.kind == HOME_PUBLISH))).one()
    await db.dispose()
    return (f"{viewers:>6} Home viewers: median {statistics.median(times) * 1000:.1f} ms, "
            f"slowest {max(times) * 1000:.1f} ms per sync; {queued} Home publish(es) pending "
            "(coalesced per person)")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--viewers", type=int, nargs="+", default=[0, 100, 1000])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        for viewers in args.viewers:
            print(await one_count(viewers, args.runs, Path(directory)))


if __name__ == "__main__":
    asyncio.run(main())
