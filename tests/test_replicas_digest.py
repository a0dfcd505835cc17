"""Two real `serve` processes on one PostgreSQL, cost alerts for an hourly digest sent to both:
the window's digest is posted once, whichever replica's minute tick gets there first.

The replicas' clocks are shifted together (ONCALL_CLOCK_OFFSET) to 45 s before the end of an
hour: the alerts land in that window, and the first digest tick of each replica (60 s after
its start, APScheduler's interval) finds the window closed and past its 5 s grace."""

from __future__ import annotations

import asyncio
import collections
from datetime import UTC, datetime, timedelta

import aiohttp

from bot.store.db import sync_engine
from tests.appkit import ALERT_TOKEN, BOT_TOKEN, CHANNELS
from tests.fakes.slack_api import FakeSlack
from tests.harness import free_port
from tests.harness.serve import stop_processes
from tests.test_faults import wait_healthy
from tests.test_replicas_serve import query, replica, wait_for

CONFIG = """
teams:
  platform: {channel: "#platform-oncall"}
  finops: {channel: "#finops"}
route:
  receiver: platform
  group_by: [alertname]
  routes:
    - {matchers: ['alert_type="cost"'], receiver: finops, digest: hourly}
digests:
  cost: {period: 1h, grace: 5s}
"""
ALERTS = 12


def cost_webhook(n: int) -> dict:
    alert = {"status": "firing", "fingerprint": f"c{n:015x}",
             "labels": {"alertname": f"LLMCostSpike{n % 4}", "alert_type": "cost",
                        "severity": "warning", "service": f"svc-{n % 4}", "model": "gpt-x"},
             "annotations": {"summary": f"spend {n}", "ratio": f"{2 + n % 3}.5"},
             "startsAt": "2026-12-03T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://prometheus/graph"}
    return {"version": "4", "groupKey": f"{{}}:{{n=\"{n}\"}}", "status": "firing",
            "receiver": "oncall", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://alertmanager", "alerts": [alert]}


def digests_posted(slack: FakeSlack) -> list[dict]:
    return [m for m in slack.messages("CFINOPS001")
            if (m.get("metadata") or {}).get("event_type") == "oncall_digest"]


def ticks(log) -> int:
    """Cost digest ticks the replica has run (APScheduler logs each run at DEBUG)."""
    return sum(1 for line in log.read_text().splitlines()
               if "hourly cost digest" in line and "executed successfully" in line)


async def test_two_replicas_post_one_cost_digest_per_window(tmp_path, postgres_url):
    slack = FakeSlack(bot_token=BOT_TOKEN)
    for channel_id, name in CHANNELS.items():
        slack.add_channel(channel_id, name)
    await slack.start()
    engine = sync_engine(postgres_url)
    now = datetime.now(UTC)  # wall clock ok: the replicas' clocks are offsets from it
    hour_end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    offset = (hour_end - timedelta(seconds=45) - now).total_seconds()
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    procs = [replica(tmp_path, name, slack, postgres_url, port, config_text=CONFIG,
                     ONCALL_CLOCK_OFFSET=str(offset), LOG_LEVEL="DEBUG")
             for name, port in zip("ab", ports, strict=True)]
    logs = [tmp_path / f"serve-{name}.log" for name in "ab"]
    try:
        await asyncio.gather(*(wait_healthy(url, proc, limit=60)
                               for url, proc in zip(urls, procs, strict=True)))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            async def send(n: int) -> int:
                async with http.post(f"{urls[n % 2]}/alerts/alertmanager", json=cost_webhook(n),
                                     headers={"Authorization": f"Bearer {ALERT_TOKEN}"}) as r:
                    return r.status
            statuses = await asyncio.gather(*(send(n) for n in range(ALERTS)))
        assert statuses == [202] * ALERTS

        await wait_for(lambda: digests_posted(slack), 150, "the window's digest posted")
        await wait_for(lambda: all(ticks(log) >= 1 for log in logs), 90,
                       "both replicas ran their digest tick")
        await wait_for(lambda: query(engine, "select count(*) from outbox_intent where state "
                                             "in ('pending', 'inflight')")[0][0] == 0,
                       60, "delivery settled")

        runs = query(engine, "select kind, team, window_start, intent_id from digest_run")
        assert [(kind, team) for kind, team, _, _ in runs] == [("cost", "finops")]
        window_start = runs[0][2]
        window_start = window_start if window_start.tzinfo else window_start.replace(tzinfo=UTC)
        assert window_start == hour_end - timedelta(hours=1)
        [digest] = digests_posted(slack)  # one message for the window, not one per replica
        assert digest["metadata"]["event_payload"]["intent_id"] == runs[0][3]
        listed = collections.Counter(f"svc-{n % 4}" for n in range(ALERTS))
        assert all(service in str(digest["blocks"]) for service in listed)
        assert not [m for m in slack.messages("CFINOPS001") if m not in (digest,)
                    and not m.get("thread_ts")]  # no alert of the digest route was posted
    finally:
        stop_processes(procs)
        engine.dispose()
        await slack.stop()
