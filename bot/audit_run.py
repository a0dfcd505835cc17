"""`oncall-bot audit`: print the append-only audit trail, as text or JSON lines."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.config import OncallConfig
from bot.services import audit
from bot.services.context import ServiceContext
from bot.settings import Settings
from bot.store.db import Database, migrate
from bot.store.models import AuditRow


async def audit_lines(settings: Settings, config: OncallConfig, *, since: timedelta,
                      actor: str | None, as_json: bool) -> list[str]:
    migrate(settings.database_url)
    ctx = ServiceContext(db=Database(settings.database_url), config=config)
    try:
        rows = await audit.entries(ctx, since=ctx.clock.now() - since, actor=actor)
    finally:
        await ctx.db.dispose()
    return [as_json_line(row) if as_json else as_text(row) for row in rows]


def as_json_line(row: AuditRow) -> str:
    return json.dumps({"id": row.id, "at": row.at.isoformat(), "actor": row.actor,
                       "action": row.action, "outcome": row.outcome, "team": row.team,
                       "target": row.target, "incident": row.incident_id, "before": row.before,
                       "after": row.after, "detail": row.detail}, sort_keys=True)


def as_text(row: AuditRow) -> str:
    refused = " REFUSED" if row.outcome == "refused" else ""
    change = ""
    if row.before or row.after:
        change = f" {json.dumps(row.before, sort_keys=True)} -> " \
                 f"{json.dumps(row.after, sort_keys=True)}"
    detail = f"  {row.detail}" if row.detail else ""
    return (f"{row.at:%Y-%m-%d %H:%M:%S} {row.actor:<12} {row.action}{refused} "
            f"{row.target} [{row.team or '-'}]{change}{detail}")
