"""`oncall-bot journal [SERVICE]`: a service's changes and incidents in time order."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.config import OncallConfig
from bot.services.context import ServiceContext
from bot.services.journal import JournalEntry, service_journal
from bot.settings import Settings
from bot.store.db import Database, migrate


async def journal_lines(settings: Settings, config: OncallConfig, service: str | None, *,
                        since: timedelta, as_json: bool) -> list[str]:
    migrate(settings.database_url)
    ctx = ServiceContext(db=Database(settings.database_url), config=config)
    try:
        entries = await service_journal(ctx, service, ctx.clock.now() - since)
    finally:
        await ctx.db.dispose()
    if as_json:
        return [json.dumps(e.as_json(), sort_keys=True) for e in entries]
    return [as_text(e) for e in entries]


def as_text(entry: JournalEntry) -> str:
    where = f"#{entry.incident}" if entry.incident else entry.service
    return f"{entry.at:%Y-%m-%d %H:%M:%S} {where:<14} {entry.kind:<17} {entry.text}"
