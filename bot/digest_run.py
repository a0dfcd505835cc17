"""`oncall-bot digest cost|noise`: build a digest now, print it, and (unless --dry-run) send it.

An on-demand digest claims no scheduled window: the hourly and weekly sends still happen.
Sending delivers in this process, like `test-page`, and reports what Slack answered.
"""

from __future__ import annotations

import json
from typing import Any

from bot.app import build_components
from bot.config import OncallConfig
from bot.services import digests
from bot.services.context import ServiceContext
from bot.settings import Settings
from bot.store.db import Database, migrate
from bot.store.models import OutboxIntent

DEADLINE_SECONDS = 60.0
BUILDERS = {digests.COST: digests.cost_digests_now, digests.NOISE: digests.noise_reviews_now}
SENDERS = {digests.COST: digests.send_cost_digests_now,
           digests.NOISE: digests.send_noise_reviews_now}


async def run_digest(settings: Settings, config: OncallConfig, kind: str, *, dry_run: bool,
                     as_json: bool, team: str | None = None) -> tuple[list[str], int]:
    """The lines to print and the exit code (1 when a message could not be delivered)."""
    migrate(settings.database_url)
    if dry_run:  # the database only: no Slack token needed to look
        ctx = ServiceContext(db=Database(settings.database_url), config=config)
        try:
            return _show(kind, await BUILDERS[kind](ctx, team), as_json), 0
        finally:
            await ctx.db.dispose()
    parts = build_components(settings, config)
    try:
        lines = _show(kind, await BUILDERS[kind](parts.services, team), as_json)
        intents = await parts.worker.deliver_now(await SENDERS[kind](parts.services, team),
                                                 DEADLINE_SECONDS)
    finally:
        await parts.db.dispose()
    report = [_describe(intent) for intent in intents]
    failed = any(intent.state != "done" for intent in intents)
    return lines + ([] if as_json else report), int(failed)


def _show(kind: str, figures: dict[str, Any], as_json: bool) -> list[str]:
    return [figures_json(kind, figures)] if as_json else _as_text(kind, figures)


def figures_json(kind: str, figures: dict[str, Any]) -> str:
    """`{"digest": "noise", "teams": {"platform": {...figures...}}}`, one line."""
    return json.dumps({"digest": kind, "teams": {name: value.to_json()
                                                 for name, value in figures.items()}})


def _as_text(kind: str, figures: dict[str, Any]) -> list[str]:
    """Each message as a channel would show it."""
    from bot.demo import render_text
    from bot.slack.digest.sender import render

    if not figures:
        return ["nothing to report: no cost alert in the last period" if kind == digests.COST
                else "no team to review"]
    lines = []
    for name, value in figures.items():
        _, blocks = render({"digest": kind, "team": name, "figures": value.to_json(),
                            "on_demand": True})
        text = render_text({"blocks": [block.to_dict() for block in blocks]})
        lines += [f"[{name}]", *(line if line.startswith("  ") else f"    {line}"
                                 for line in text.splitlines())]
    return lines


def _describe(intent: OutboxIntent) -> str:
    where = f"{intent.payload['digest']} digest for {intent.payload['team']} " \
            f"in {intent.payload['channel']}"
    if intent.state == "done":
        return f"sent    {where}"
    return f"FAILED  {where}: {intent.last_error or 'still retrying'}"
