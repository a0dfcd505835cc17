"""`oncall-bot outbox`: what has not gone out and why, and a way to send a failed one again."""

from __future__ import annotations

import json
from datetime import datetime

from bot.config import OncallConfig
from bot.services import delivery_failures, outbox
from bot.services.context import ServiceContext
from bot.settings import Settings
from bot.store.db import Database, migrate
from bot.store.models import OutboxIntent


async def list_outbox(settings: Settings, failed_only: bool, as_json: bool) -> list[str]:
    """Pending and failed deliveries (or only the failed ones), oldest first."""
    migrate(settings.database_url)
    db = Database(settings.database_url)
    try:
        intents = await outbox.listing(db, failed_only=failed_only)
    finally:
        await db.dispose()
    rows = [_row(intent) for intent in intents]
    if as_json:
        return [json.dumps({"intents": rows})]
    if not rows:
        return ["no failed deliveries" if failed_only else "outbox empty: everything delivered"]
    return [_line(row) for row in rows]


async def retry_intent(settings: Settings, config: OncallConfig, intent_id: int) -> str | None:
    """Queue a failed intent again; a running bot picks it up within a second. None when there
    is no failed intent with that id."""
    migrate(settings.database_url)
    db = Database(settings.database_url)
    try:
        intent = await delivery_failures.retry(ServiceContext(db=db, config=config), intent_id)
    finally:
        await db.dispose()
    if intent is None:
        return None
    return f"queued {intent.id} again: {delivery_failures.target_of(intent).describe()}"


def _row(intent: OutboxIntent) -> dict:
    target = delivery_failures.target_of(intent)
    return {"id": intent.id, "state": intent.state, "kind": intent.kind,
            "incident": intent.incident_id, "target_kind": target.kind, "target": target.value,
            "description": target.describe(), "attempts": intent.attempts,
            "error": intent.last_error, "created_at": _iso(intent.created_at),
            "due_at": _iso(intent.due_at) if intent.state != "failed" else None,
            "failed_at": _iso(intent.done_at) if intent.state == "failed" else None}


def _line(row: dict) -> str:
    incident = f"#{row['incident']}" if row["incident"] else "-"
    when = row["failed_at"] or f"due {row['due_at']}"
    error = f"  {row['error']}" if row["error"] else ""
    return (f"{row['id']:>6}  {row['state']:<8} {incident:<6} {row['description']} "
            f"({row['kind']}, {row['attempts']} attempt(s), {when}){error}")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
