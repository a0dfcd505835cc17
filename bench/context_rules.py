"""How long the context rules and tiers take per routed alert (pure part, no database).

A heavy case: the example config's rules and tiers, 500 changes over 50 services in the last
hour, 5,000 alerts firing (none matching the while_firing rule, the worst case), 1,000 alerts
routed. Prints microseconds per alert. Run: .venv/bin/python bench/context_rules.py
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import load_config
from bot.domain.changes import ChangeLine
from bot.domain.context_rules import holding
from bot.services.context_facts import Snapshot, tier_of, where_of

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    config = load_config(ROOT / "oncall.example.yaml")
    now = datetime(2026, 11, 23, 3, tzinfo=UTC)
    snapshot = Snapshot(
        now=now, firing=[{"alertname": f"A{i}", "service": f"s{i % 50}"} for i in range(5000)],
        changes=[ChangeLine(service=f"s{i % 50}", kind="deploy", at=now - timedelta(minutes=i % 60))
                 for i in range(500)])
    alerts = [{"alertname": f"A{i}", "service": f"s{i % 50}", "alert_type": "quality",
               "tier": "business"} for i in range(1000)]
    started = time.perf_counter()
    for labels in alerts:
        facts = snapshot.facts(config, labels, "platform")
        holding(config.context, labels, now, where_of(config, "platform"), facts)
        tier_of(config, labels, "platform", now)
    elapsed = time.perf_counter() - started
    print(f"{elapsed / len(alerts) * 1e6:.0f} µs per routed alert ({len(alerts)} alerts)")


if __name__ == "__main__":
    main()
