"""One-shot delivery for CLI commands that send something now (test pages), then report."""

from __future__ import annotations

import asyncio
import time

from bot.app import build_components
from bot.config import OncallConfig
from bot.services.test_page import test_page
from bot.settings import Settings
from bot.store.db import migrate
from bot.store.models import OutboxIntent

DEADLINE_SECONDS = 60.0


async def send_test_page(settings: Settings, config: OncallConfig, user: str) -> list[str]:
    """Queue the test page, deliver it in this process, and say what happened to each part."""
    migrate(settings.database_url)
    parts = build_components(settings, config)
    try:
        ids = await test_page(parts.services, user, requested_by="oncall-bot CLI")
        intents = await _deliver(parts, ids)
    finally:
        await parts.db.dispose()
    return [_describe(intent) for intent in intents]


async def _deliver(parts, ids: list[int]) -> list[OutboxIntent]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        await parts.worker.run_once()
        intents = await _intents(parts, ids)
        if all(i.state in ("done", "failed") for i in intents) or time.monotonic() > deadline:
            return intents
        await asyncio.sleep(0.5)


async def _intents(parts, ids: list[int]) -> list[OutboxIntent]:
    async with parts.db.reader() as s:
        return [await s.get(OutboxIntent, i) for i in ids]


def _describe(intent: OutboxIntent) -> str:
    target = (f"pager {intent.payload['pager']}" if intent.kind == "pager_event"
              else f"Slack DM to {intent.payload['user']}")
    if intent.state == "done":
        return f"ok      {target}"
    if intent.state == "failed":
        return f"FAILED  {target}: {intent.last_error}"
    return f"FAILED  {target}: still retrying after {DEADLINE_SECONDS:.0f}s ({intent.last_error})"


