"""An alert storm through the real pipeline: how many incidents reach Slack, how fast.

    python bench/storm.py [--groups 1000] [--seconds 120] [--channels 1]

Slack allows about one post per second per channel, so a storm of 1,000 groups in one channel
cannot be posted one message each in two minutes by anyone (Alertmanager's own Slack receiver
delivers 122 of 1,000 groups in two minutes); the figures show where delivery stands and that
nothing is lost or doubled. Uses the local Slack stand-in with Slack's real pacing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.delivery.worker import DeliveryPolicy
from bot.services.context import SystemClock
from tests.appkit import start_bot

TEAMS = ["infra", "model", "tool", "cost"]


def storm(groups: int, channels: int) -> list[dict]:
    now = datetime.now(UTC).isoformat()
    return [{"version": "4", "status": "firing", "receiver": "oncall",
             "alerts": [{"status": "firing", "startsAt": now, "fingerprint": f"{n:016x}",
                         "labels": {"alertname": f"Storm{n}", "severity": "critical",
                                    "alert_type": ["infra", "model"][n % channels]},
                         "annotations": {"summary": f"storm alert {n}"}}]}
            for n in range(groups)]


async def run(groups: int, seconds: float, channels: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bot = await start_bot(f"sqlite:///{tmp}/storm.db", background=True, clock=SystemClock(),
                              policy=DeliveryPolicy())
        try:
            started = time.monotonic()
            for body in storm(groups, channels):
                status, _ = await bot.post_alerts(body)
                assert status == 202
            ingested = time.monotonic() - started
            print(f"ingest: {groups} webhooks answered 202 in {ingested:.1f} s "
                  f"({groups / ingested:,.0f}/s)")
            while time.monotonic() - started < seconds:
                await asyncio.sleep(1)
            posted = len(bot.slack.calls_to("chat.postMessage"))
            print(f"after {seconds:.0f} s: {posted} of {groups} incidents posted "
                  f"across {channels} channel(s)")
        finally:
            await bot.close()
            await bot.slack.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--channels", type=int, default=1, choices=[1, 2])
    args = parser.parse_args()
    asyncio.run(run(args.groups, args.seconds, args.channels))


if __name__ == "__main__":
    main()
