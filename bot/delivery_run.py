"""One-shot delivery for CLI commands that send something now (test pages), then report."""

from __future__ import annotations

from bot.app import build_components
from bot.config import OncallConfig
from bot.services.actors import CLI
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
        ids = await test_page(parts.services, user, requested_by=CLI)
        intents = await parts.worker.deliver_now(ids, DEADLINE_SECONDS)
    finally:
        await parts.db.dispose()
    return [_describe(intent) for intent in intents]


def _describe(intent: OutboxIntent) -> str:
    target = (f"pager {intent.payload['pager']}" if intent.kind == "pager_event"
              else f"Slack DM to {intent.payload['user']}")
    if intent.state == "done":
        return f"ok      {target}"
    if intent.state == "failed":
        return f"FAILED  {target}: {intent.last_error}"
    return f"FAILED  {target}: still retrying after {DEADLINE_SECONDS:.0f}s ({intent.last_error})"


