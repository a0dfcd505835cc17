"""A Slack outage and its end: how long after Slack answers again is everything posted?

    python bench/outage_recovery.py [--outage 60] [--alerts 12]

Alerts arrive while the Slack stand-in answers 503; each lane backs off (1 s doubling, up to
5 min). When Slack is back, the outage probe (auth.test every 5 s) or the first success releases
every intent that waited, so the backlog goes out within seconds instead of at each intent's own
retry time. Real time, the real worker loop, Slack's real pacing (one post per channel per second).
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

TYPES = ["infra", "model", "tool"]


def alert(n: int) -> dict:
    now = datetime.now(UTC).isoformat()
    return {"version": "4", "status": "firing", "receiver": "oncall",
            "alerts": [{"status": "firing", "startsAt": now, "fingerprint": f"{n:016x}",
                        "labels": {"alertname": f"Outage{n}", "severity": "warning",
                                   "alert_type": TYPES[n % len(TYPES)], "tool_name": "stripe"},
                        "annotations": {"summary": f"alert {n} during the outage"}}]}


async def run(outage: float, alerts: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bot = await start_bot(f"sqlite:///{tmp}/outage.db", background=True, clock=SystemClock(),
                              policy=DeliveryPolicy())
        try:
            bot.slack.down = True
            started = time.monotonic()
            for n in range(alerts):
                assert (await bot.post_alerts(alert(n)))[0] == 202
                await asyncio.sleep(outage / alerts / 2)
            await asyncio.sleep(max(0.0, outage - (time.monotonic() - started)))
            bot.slack.down = False
            recovered = time.monotonic()
            while True:
                posted = [c for c in bot.slack.calls_to("chat.postMessage")
                          if c.at > recovered]
                if len(posted) >= alerts or time.monotonic() - recovered > 600:
                    break
                await asyncio.sleep(0.1)
            last = max((c.at for c in posted), default=recovered) - recovered
            print(f"{alerts} alerts queued during a {outage:.0f} s outage: {len(posted)} posted, "
                  f"the last {last:.1f} s after Slack recovered")
        finally:
            await bot.close()
            await bot.slack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=60.0, help="seconds Slack answers 503")
    parser.add_argument("--alerts", type=int, default=12, help="alerts sent during the outage")
    args = parser.parse_args()
    asyncio.run(run(args.outage, args.alerts))


if __name__ == "__main__":
    main()
