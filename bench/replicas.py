"""One replica vs two on one PostgreSQL, the same load, Slack's limits on: do two replicas
cause any 429 that one would not?

    python bench/replicas.py [--alerts 300] [--groups 60]

Each run starts a fresh database, `oncall-bot serve` processes (1, then 2) and a Slack
stand-in enforcing Slack's limits (bot/devtools/fake_slack_limits.py: ~1 post per second per
channel, bursts of 2; 50 `chat.update`s a minute for the workspace; 429 + Retry-After). The
load: `--alerts` alerts in `--groups` groups over 3 channels, 5 alerts per webhook, sent to
the replicas in turn (8 in flight per replica); once every incident is posted, a burst of
one Ack per incident, clicked on the replicas in turn (each Ack is a `chat.update`).
Printed per run: Slack calls, 429s, calls made during a Retry-After, posts per incident
(must be 1), webhooks answered 5xx, seconds until everything was delivered.
Wall-clock figures on a shared machine: run it on a quiet one before quoting the seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bot.devtools.fake_slack_limits import SlackLimits
from bot.store.db import sync_engine
from tests.appkit import ALERT_TOKEN, BOT_TOKEN, CHANNELS
from tests.fakes.slack_api import FakeSlack
from tests.harness import free_port
from tests.harness.postgres import PostgresServer
from tests.harness.serve import stop_processes
from tests.test_faults import wait_healthy
from tests.test_replicas_serve import click, query, replica, wait_for

ALICE, BOB = "U0ALICE001", "U0BOBBY002"
TEAMS = {"platform": "#platform-oncall", "ai-eng": "#ai-eng-oncall",
         "integrations": "#integrations-oncall"}
CONFIG = "teams:\n" + "".join(
    f"  {team}: {{channel: \"{channel}\", responders: [{ALICE}, {BOB}]}}\n"
    for team, channel in TEAMS.items()) + """route:
  receiver: platform
  group_by: [alertname]
  routes:
    - {matchers: ['team="ai-eng"'], receiver: ai-eng}
    - {matchers: ['team="integrations"'], receiver: integrations}
storm: {enter_above: 1000}  # one message per incident: what this bench counts
"""
PER_WEBHOOK = 5


class CountedLimits(SlackLimits):
    """SlackLimits that also say which method each 429 was for."""

    def __init__(self) -> None:
        super().__init__()
        self.by_method: collections.Counter = collections.Counter()

    def check(self, method: str, args: dict) -> float | None:
        wait = super().check(method, args)
        if wait is not None:
            self.by_method[method] += 1
        return wait


@dataclass
class Run:
    replicas: int
    calls: int
    rejected: int
    during_retry_after: int
    posts_per_incident: set[int]
    incidents: int
    webhooks_5xx: int
    seconds: float
    updates: int
    rejected_by_method: dict[str, int]


def webhook(batch: int, groups: int) -> dict:
    alerts = []
    for n in range(batch * PER_WEBHOOK, (batch + 1) * PER_WEBHOOK):
        group = n % groups
        alerts.append({
            "status": "firing", "fingerprint": f"{n:016x}",
            "labels": {"alertname": f"Group{group:03d}", "instance": f"i-{n}",
                       "team": list(TEAMS)[group % 3], "severity": "warning"},
            "annotations": {"summary": f"alert {n}"}, "startsAt": "2026-12-03T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph"})
    return {"version": "4", "groupKey": f"{{}}:{{batch=\"{batch}\"}}", "status": "firing",
            "receiver": "oncall", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://alertmanager", "alerts": alerts}


def posts(slack: FakeSlack) -> collections.Counter:
    return collections.Counter(
        m["metadata"]["event_payload"]["incident_id"] for channel in CHANNELS
        for m in slack.messages(channel) if m.get("metadata") and not m.get("thread_ts"))


async def one_run(server: PostgresServer, replicas: int, alerts: int, groups: int,
                  tmp: Path) -> Run:
    url = server.create_database(server.unique_name(f"replicas{replicas}"))
    limits = CountedLimits()
    slack = FakeSlack(bot_token=BOT_TOKEN, limits=limits)
    for channel_id, name in CHANNELS.items():
        slack.add_channel(channel_id, name)
    await slack.start()
    engine = sync_engine(url)
    ports = [free_port() for _ in range(replicas)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    run_dir = tmp / f"run{replicas}"
    run_dir.mkdir()
    procs = [replica(run_dir, f"r{n}", slack, url, port, config_text=CONFIG)
             for n, port in enumerate(ports)]
    try:
        await asyncio.gather(*(wait_healthy(u, p, limit=60)
                               for u, p in zip(urls, procs, strict=True)))
        started = time.monotonic()
        gates = {u: asyncio.Semaphore(8) for u in urls}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            async def send(batch: int) -> int:
                target = urls[batch % replicas]
                async with gates[target], http.post(
                        f"{target}/alerts/alertmanager", json=webhook(batch, groups),
                        headers={"Authorization": f"Bearer {ALERT_TOKEN}"}) as answer:
                    return answer.status
            statuses = await asyncio.gather(*(send(b) for b in range(alerts // PER_WEBHOOK)))
            await wait_for(lambda: len(posts(slack)) == groups, 600, "every incident posted")
            messages = {r[0]: (r[1], r[2]) for r in query(
                engine, "select incident_id, channel_id, ts from slack_message "
                        "where kind = 'alert'")}
            await asyncio.gather(*(
                click(http, urls[n % replicas], slack, incident_id, (ALICE, BOB)[n % 2],
                      messages[incident_id])
                for n, incident_id in enumerate(sorted(messages))))

        def settled() -> bool:
            acked = query(engine, "select count(*) from incident "
                                  "where status = 'acknowledged'")[0][0]
            left = query(engine, "select count(*) from outbox_intent "
                                 "where state in ('pending', 'inflight')")[0][0]
            return acked == groups and left == 0
        await wait_for(settled, 600, "every ack delivered")
        seconds = time.monotonic() - started
        return Run(replicas, len(slack.calls), limits.rejected, limits.calls_during_retry_after,
                   set(posts(slack).values()), len(posts(slack)),
                   sum(1 for s in statuses if s >= 500), seconds,
                   len(slack.calls_to("chat.update")), dict(limits.by_method))
    finally:
        stop_processes(procs)
        engine.dispose()
        await slack.stop()


def table(runs: list[Run], alerts: int, groups: int) -> str:
    lines = [f"{alerts} alerts in {groups} groups over 3 channels, then one Ack per incident; "
             "Slack's limits on",
             "| replicas | Slack calls | chat.update | 429s | calls during a Retry-After | "
             "posts per incident | webhooks 5xx | seconds to deliver all |",
             "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        per = ",".join(str(n) for n in sorted(r.posts_per_incident))
        rejected = f"{r.rejected} " + str(r.rejected_by_method or "")
        lines.append(f"| {r.replicas} | {r.calls} | {r.updates} | {rejected} | "
                     f"{r.during_retry_after} | {per} ({r.incidents} incidents) | "
                     f"{r.webhooks_5xx} | {r.seconds:.0f} |")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    server = PostgresServer.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runs = [await one_run(server, n, args.alerts, args.groups, Path(tmp))
                    for n in (1, 2)]
    finally:
        server.stop()
    print(table(runs, args.alerts, args.groups))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--groups", type=int, default=60)
    asyncio.run(main(parser.parse_args()))
