"""How long Slack waits for a click's 200 while the bot is busy (Slack gives up after 3 s).

    python bench/ack_latency.py [--alerts 1000] [--clicks 5]

Two figures: Ack clicks sent while one Alertmanager webhook of `--alerts` alerts (as many new
incidents) is being written (in chunks of 500, each its own short transaction, writers taking
turns at SQLite's write gate); and Resolve clicks (which open a modal) while Slack's views.open
takes 2.5 s to answer. Each line prints the slowest and median wait for the 200, and how long
the last Ack's work took to land in the database (it used to fail with an error id once the
webhook held SQLite's write lock past its 5 s busy timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.slack.action_ids import IncidentRef
from tests.appkit import BotUnderTest, block_actions, payload, start_bot


def storm(alerts: int) -> dict:
    return {"version": "4", "status": "firing", "receiver": "oncall", "alerts": [
        {"status": "firing", "startsAt": "2026-11-23T02:59:00Z", "fingerprint": f"{n:016x}",
         "labels": {"alertname": f"Storm{n}", "alert_type": "model", "severity": "critical"},
         "annotations": {"summary": f"storm alert {n}"}} for n in range(alerts)]}


async def timed_click(bot: BotUnderTest, action_id: str, incident_id: int) -> float:
    body = block_actions(action_id, IncidentRef(incident_id=incident_id).encode(),
                         user="U0PLATFORM1", channel="CPLATFORM1", ts="1.1",
                         response_url=bot.slack.response_url("bench"))
    started = time.monotonic()
    assert await bot.signed_post("/slack/events", body) == 200
    return time.monotonic() - started


async def clicks_during_webhook(bot: BotUnderTest, incident_id: int, alerts: int,
                                clicks: int) -> tuple[list[float], float, float | None]:
    started = time.monotonic()
    webhook = asyncio.create_task(bot.post_alerts(storm(alerts)))
    waits, landed = [], None
    while not webhook.done() and len(waits) < clicks:
        await asyncio.sleep(0.2)
        clicked = time.monotonic()
        waits.append(await timed_click(bot, "incident.ack", incident_id))
        await bot.listeners_done()
        if landed is None and (await bot.incident(incident_id)).acked_by:
            landed = time.monotonic() - clicked
    status, _ = await webhook
    assert status == 202, status
    return waits, time.monotonic() - started, landed


async def run(alerts: int, clicks: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bot = await start_bot(f"sqlite:///{tmp}/bench.db")
        try:
            body = payload("alertmanager/firing-model-ftl-p95.json")
            body["alerts"][0]["labels"]["alert_type"] = "infra"
            await bot.post_alerts(body)
            await bot.drain()
            [incident] = await bot.incidents()
            waits, took, landed = await clicks_during_webhook(bot, incident.id, alerts, clicks)
            report(f"Ack during a {alerts:,}-alert webhook ({took:.1f} s to write)", waits)
            print("  the Ack's work: " + (f"in the database {landed * 1000:.0f} ms after the click"
                                         if landed is not None else "did not land"))
            waits = []
            for _ in range(clicks):
                bot.slack.hang_next("views.open", 2.5)
                waits.append(await timed_click(bot, "incident.resolve", incident.id))
            report("Resolve (opens a modal) with views.open answering in 2.5 s", waits)
            await bot.listeners_done()
        finally:
            await bot.close()
            await bot.slack.stop()


def report(what: str, waits: list[float]) -> None:
    if not waits:
        print(f"{what}: no click landed while it ran")
        return
    print(f"{what}: {len(waits)} clicks, slowest 200 after {max(waits) * 1000:.0f} ms, "
          f"median {statistics.median(waits) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--clicks", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.alerts, args.clicks))


if __name__ == "__main__":
    main()
