"""An alert storm, side by side: Prometheus Alertmanager 0.25's own Slack receiver and the bot
behind a second Alertmanager, in one run, each against a Slack stand-in enforcing Slack's limits.

    python bench/storm.py [--groups 1000] [--seconds 120] [--small 50] [--database postgres]

Both Alertmanagers get the same alerts at the same instant (one group per alert, one channel,
`group_wait: 0s`). Alertmanager A posts with `slack_configs` (`api_url` = the stand-in's
chat.postMessage, bearer token); Alertmanager B sends webhooks to the bot, which posts through
its own stand-in. The stand-ins enforce one post per second per channel (bursts of 2) and 50
`chat.update`s per minute (429 + Retry-After), and count calls made during a Retry-After.

The bot runs as it does in production, an `oncall-bot serve` process of its own (SQLite, or
PostgreSQL with `--database postgres`, real clock, delivery in the background); the stand-ins
and this script's polling (a COUNT in the database, /metrics) stay outside it.

Printed: time until each group is named in the channel (p50, p99; an incident named in a storm
summary's thread counts, the summary's own in-place text does not), calls during a Retry-After,
Slack calls per second in steady state (after the first 10 s), webhooks answered 5xx; then 50
alerts with the limits off: time until all are named. Wall-clock figures on a shared machine:
run it on a quiet one before quoting them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import sqlalchemy as sa

from bot.devtools.fake_slack_limits import SlackLimits
from bot.store.db import sync_engine
from tests.appkit import ALERT_TOKEN, BOT_TOKEN
from tests.fakes.slack_api import FakeSlack
from tests.harness import free_port
from tests.harness.alertmanager import Alertmanager, iso
from tests.harness.serve import serve_process, stop_processes
from tests.test_faults import wait_healthy

CHANNEL_ID, CHANNEL = "C0STORM001", "storm"
NAME = re.compile(r"Storm\d{5}")
BOT_CONFIG = """
teams:
  storm: {channel: "#storm"}
route:
  receiver: storm
  group_by: [alertname]
"""
TIMING = "  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 5m\n  repeat_interval: 4h\n"


def am_slack_config(slack: FakeSlack) -> str:
    return (f"route:\n  receiver: slack\n{TIMING}receivers:\n  - name: slack\n"
            f"    slack_configs:\n      - api_url: {slack.base_url}chat.postMessage\n"
            f"        channel: '#{CHANNEL}'\n        send_resolved: false\n"
            f"        http_config:\n          authorization:\n"
            f"            credentials: {BOT_TOKEN}\n")


def am_bot_config(bot_url: str) -> str:
    return (f"route:\n  receiver: bot\n{TIMING}receivers:\n  - name: bot\n"
            f"    webhook_configs:\n      - url: {bot_url}/alerts/alertmanager\n"
            f"        send_resolved: true\n        http_config:\n          authorization:\n"
            f"            credentials: {ALERT_TOKEN}\n")


def storm_alerts(groups: int, first: int = 0) -> list[dict]:
    now = datetime.now(UTC)  # wall clock ok: a bench against real processes
    return [{"labels": {"alertname": f"Storm{n:05d}", "severity": "warning",
                        "alert_type": "infra", "provider": "openai"},
             "annotations": {"summary": f"provider errors on route {n}"},
             "startsAt": iso(now), "endsAt": iso(now + timedelta(hours=1))}
            for n in range(first, first + groups)]


async def stand_in(limits: bool) -> FakeSlack:
    slack = FakeSlack(bot_token=BOT_TOKEN, limits=SlackLimits() if limits else None)
    slack.add_channel(CHANNEL_ID, CHANNEL)
    await slack.start()
    return slack


def named_at(slack: FakeSlack) -> dict[str, float]:
    """When each group was first named in the channel (wall-clock seconds, from message ts).
    A storm summary is updated in place, so only its thread replies count."""
    first: dict[str, float] = {}
    for message in slack.messages(CHANNEL_ID):
        if (message.get("metadata") or {}).get("event_type") == "oncall_storm":
            continue
        for name in NAME.findall(json.dumps(message)):
            first.setdefault(name, float(message["ts"]))
    return first


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Side:
    name: str
    slack: FakeSlack

    def report(self, t0: float, groups: int, mono0: float, elapsed: float) -> str:
        named = named_at(self.slack)
        delays = [named[n] - t0 for n in named]
        if len(named) >= groups:
            timing = f"p50 {percentile(delays, 0.5):6.1f} s  p99 {percentile(delays, 0.99):6.1f} s"
        else:
            timing = f"only {len(named)} of {groups} named within {elapsed:.0f} s"
        by60 = sum(d <= 60 for d in delays)
        calls = [c for c in self.slack.calls if c.method in ("chat.postMessage", "chat.update")]
        steady = [c for c in calls if c.at - mono0 >= 10]
        rate = len(steady) / max(elapsed - 10, 1)
        limits = self.slack.limits
        return (f"{self.name:<22} {timing}; named by 60 s: {by60}; Slack calls {len(calls)}, "
                f"429s {limits.rejected}, calls during a Retry-After "
                f"{limits.calls_during_retry_after}, steady {rate:.2f} calls/s/channel")


def incident_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM incident")).scalar_one()


def opened_at(engine) -> dict[str, float]:
    """alertname -> when the bot opened its incident (the database stores UTC)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT group_key, opened_at FROM incident")).all()
    found = {}
    for key, at in rows:
        at = datetime.fromisoformat(at) if isinstance(at, str) else at
        for name in NAME.findall(key)[:1]:
            found[name] = (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
    return found


async def webhooks_5xx(bot_url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{bot_url}/metrics") as response:
        text = await response.text()
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("oncall_ingest_requests_total{") and 'code="5' in line)


@dataclass
class Run:
    am: Side
    ours: Side
    t0: float
    mono0: float
    webhooks_5xx: int
    elapsed: float
    ingested: float | None  # seconds until every group was an incident in the bot's database
    opened: dict[str, float]  # alertname -> when the bot opened its incident (wall clock)

    def delivery_line(self) -> str:
        """The bot's own part: from an incident opened to its being named in the channel."""
        named = named_at(self.ours.slack)
        lags = [named[n] - self.opened[n] for n in named if n in self.opened]
        if not lags:
            return "  bot delivery: nothing named"
        return (f"  bot delivery, incident opened -> named: p50 {percentile(lags, 0.5):.2f} s, "
                f"p99 {percentile(lags, 0.99):.2f} s, max {max(lags):.2f} s")

    def ingest_line(self) -> str:
        took = f"{self.ingested:.1f} s" if self.ingested is not None else "not within the run"
        return (f"  bot ingest: every group an incident after {took}; webhooks answered 5xx "
                f"{self.webhooks_5xx} (Alertmanager retries them)")


async def side_by_side(groups: int, seconds: float, limits: bool, postgres=None) -> Run:
    am_slack, bot_slack = await stand_in(limits), await stand_in(limits)
    with tempfile.TemporaryDirectory() as tmp:
        url = (postgres.create_database(postgres.unique_name("storm")) if postgres
               else f"sqlite:///{tmp}/storm.db")
        port = free_port()
        bot_url = f"http://127.0.0.1:{port}"
        bot = serve_process(Path(tmp), "bot", bot_slack, url, port, config_text=BOT_CONFIG)
        await wait_healthy(bot_url, bot, limit=60)
        engine = sync_engine(url)
        am_a = await asyncio.to_thread(Alertmanager.start, am_slack_config(am_slack))
        am_b = await asyncio.to_thread(Alertmanager.start, am_bot_config(bot_url))
        try:
            alerts = storm_alerts(groups)
            t0, mono0 = time.time(), time.monotonic()  # wall clock ok: bench timing
            await asyncio.gather(asyncio.to_thread(am_a.push_alerts, alerts),
                                 asyncio.to_thread(am_b.push_alerts, alerts))
            ingested = None
            while time.monotonic() - mono0 < seconds:
                await asyncio.sleep(0.25)
                if ingested is None and await asyncio.to_thread(
                        incident_count, engine) >= groups:
                    ingested = time.monotonic() - mono0
                if len(named_at(am_slack)) >= groups and len(named_at(bot_slack)) >= groups:
                    break
            elapsed = time.monotonic() - mono0
            fivexx = await webhooks_5xx(bot_url)
            opened = await asyncio.to_thread(opened_at, engine)
        finally:
            await asyncio.to_thread(am_a.stop)
            await asyncio.to_thread(am_b.stop)
            await asyncio.to_thread(stop_processes, [bot])
            engine.dispose()
    await am_slack.stop()
    await bot_slack.stop()
    return Run(Side("Alertmanager 0.25", am_slack), Side("oncall-bot", bot_slack), t0, mono0,
               fivexx, elapsed, ingested, opened)


async def run(groups: int, seconds: float, small: int, database: str) -> None:
    postgres = None
    if database == "postgres":
        from tests.harness.postgres import PostgresServer
        postgres = await asyncio.to_thread(PostgresServer.start)
    try:
        await _run(groups, seconds, small, postgres)
    finally:
        if postgres is not None:
            await asyncio.to_thread(postgres.stop)


async def _run(groups: int, seconds: float, small: int, postgres) -> None:
    where = "PostgreSQL" if postgres else "SQLite"
    print(f"{groups} groups in one channel, Slack's limits enforced (up to {seconds:.0f} s), "
          f"the bot on {where}:")
    big = await side_by_side(groups, seconds, limits=True, postgres=postgres)
    for side in (big.am, big.ours):
        print("  " + side.report(big.t0, groups, big.mono0, big.elapsed))
    sent = sorted(c.at - big.mono0 for c in big.am.slack.calls if c.method == "chat.postMessage")
    if len(sent) >= groups:  # one call per group: when Alertmanager had sent them all
        print(f"  Alertmanager's own notifications left it between {sent[0]:.1f} s and "
              f"{sent[groups - 1]:.1f} s (the pace at which it also sends the bot its webhooks)")
    print(big.ingest_line())
    print(big.delivery_line())
    print(f"\n{small} alerts at once, limits off:")
    quick = await side_by_side(small, 30, limits=False, postgres=postgres)
    for side in (quick.am, quick.ours):
        named = named_at(side.slack)
        last = max(named.values()) - quick.t0 if len(named) >= small else None
        shown = f"{last:.2f} s" if last is not None else f"{len(named)} of {small} in 30 s"
        print(f"  {side.name:<22} all visible after {shown}")
    print(quick.ingest_line())
    print(quick.delivery_line())
    print("\n(the machine is shared: wall-clock figures vary from run to run)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--small", type=int, default=50)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    asyncio.run(run(args.groups, args.seconds, args.small, args.database))


if __name__ == "__main__":
    main()
