"""Two real `oncall-bot serve` processes on one PostgreSQL, one Slack stand-in: 500 alerts split
across both, concurrent Ack clicks on both, one replica SIGKILLed half-way. Every incident is
posted once, every page sent once, every click decided once, no webhook answered 5xx."""

from __future__ import annotations

import asyncio
import collections
import signal
import subprocess
import time

import aiohttp
import sqlalchemy as sa
from slack_sdk.signature import SignatureVerifier

from bot.slack.action_ids import IncidentRef
from bot.store.db import sync_engine
from tests.appkit import ALERT_TOKEN, BOT_TOKEN, CHANNELS, SIGNING_SECRET, block_actions
from tests.fakes.slack_api import FakeSlack
from tests.harness import free_port
from tests.harness.serve import serve_process, stop_processes
from tests.test_faults import wait_healthy

CONFIG = """
teams:
  platform: {channel: "#platform-oncall", schedule: platform, escalation_policy: standard,
             responders: [U0ALICE001, U0BOBBY002]}
  ai-eng: {channel: "#ai-eng-oncall"}
route:
  receiver: platform
  group_by: [alertname]
  routes:
    - {matchers: ['alert_type="model"'], receiver: ai-eng}
schedules:
  platform: {time_zone: UTC, start: "2026-11-02 09:00", rotation: weekly, members: [U0ALICE001]}
escalation_policies:
  standard: {levels: [{notify: [primary], after: 0m}], unowned_after: 2h}
storm: {enter_above: 1000}  # one message per incident: what this test counts
"""
ALICE, BOB = "U0ALICE001", "U0BOBBY002"
GROUPS, ALERTS, PER_WEBHOOK = 20, 500, 5


def webhook(batch: int) -> dict:
    """Alerts batch*5 .. batch*5+4; alert n belongs to group n % 20 (even: platform)."""
    alerts = []
    for n in range(batch * PER_WEBHOOK, (batch + 1) * PER_WEBHOOK):
        group = n % GROUPS
        alerts.append({
            "status": "firing", "fingerprint": f"{n:016x}",
            "labels": {"alertname": f"Group{group:02d}", "instance": f"i-{n}",
                       "alert_type": "infra" if group % 2 == 0 else "model",
                       "severity": "critical"},
            "annotations": {"summary": f"alert {n}"}, "startsAt": "2026-12-03T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph"})
    return {"version": "4", "groupKey": f"{{}}:{{batch=\"{batch}\"}}", "status": "firing",
            "receiver": "oncall", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://alertmanager", "alerts": alerts}


def replica(tmp_path, name: str, slack: FakeSlack, database_url: str, port: int, *,
            config_text: str = CONFIG, **extra_env: str) -> subprocess.Popen:
    return serve_process(tmp_path, name, slack, database_url, port, config_text=config_text,
                         **extra_env)


def query(engine, sql: str, **params) -> list:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params).all())


def per_incident(slack: FakeSlack, channel: str) -> collections.Counter:
    """Top-level messages per incident in a channel (thread replies are notes, not posts)."""
    return collections.Counter(
        m["metadata"]["event_payload"]["incident_id"] for m in slack.messages(channel)
        if m.get("metadata") and not m.get("thread_ts"))


async def send_all(http: aiohttp.ClientSession, targets: list[tuple[str, int]]) -> list:
    """Post the batches, at most 8 in flight per replica (as Alertmanager's senders would)."""
    gates = {url: asyncio.Semaphore(8) for url, _ in targets}

    async def one(url: str, batch: int):
        async with gates[url], http.post(
                f"{url}/alerts/alertmanager", json=webhook(batch),
                headers={"Authorization": f"Bearer {ALERT_TOKEN}"}) as answer:
            return answer.status if answer.status == 202 else (answer.status,
                                                               await answer.text())
    return list(await asyncio.gather(*(one(url, batch) for url, batch in targets)))


async def click(http: aiohttp.ClientSession, url: str, slack: FakeSlack, incident_id: int,
                user: str, message: tuple[str, str]) -> int:
    raw = block_actions("incident.ack", IncidentRef(incident_id=incident_id).encode(), user=user,
                        channel=message[0], ts=message[1],
                        response_url=slack.response_url(f"ack-{incident_id}-{user}"))
    stamp = str(int(time.time()))  # wall clock ok: Slack signs with the real time
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=raw)
    async with http.post(f"{url}/slack/events", data=raw.encode(), headers={
            "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded"}) as answer:
        return answer.status


def lost_races(slack: FakeSlack) -> set[str]:
    return {r["key"] for r in slack.responses if "already acknowledged" in r.get("text", "")}


async def wait_for(check, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"not within {limit:.0f} s: {what}")


async def test_two_replicas_killed_half_way_post_page_and_ack_exactly_once(tmp_path,
                                                                           postgres_url):
    slack = FakeSlack(bot_token=BOT_TOKEN)
    for channel_id, name in CHANNELS.items():
        slack.add_channel(channel_id, name)
    slack.add_user(ALICE, "alice")
    slack.add_user(BOB, "bob")
    await slack.start()
    engine = sync_engine(postgres_url)
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    procs = [replica(tmp_path, name, slack, postgres_url, port)
             for name, port in zip("ab", ports, strict=True)]
    try:
        await asyncio.gather(*(wait_healthy(url, proc, limit=60)
                               for url, proc in zip(urls, procs, strict=True)))
        batches = ALERTS // PER_WEBHOOK
        # A fresh connection per request: the bots close idle keep-alive connections.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            first = await send_all(http, [(urls[b % 2], b) for b in range(batches // 2)])
            await wait_for(lambda: len(per_incident(slack, "CPLATFORM1")) == GROUPS // 2,
                           90, "every platform incident posted")
            messages = {r[0]: (r[1], r[2]) for r in query(
                engine, "select incident_id, channel_id, ts from slack_message "
                        "where kind = 'alert'")}
            platform = [r[0] for r in query(engine, "select id from incident "
                                                    "where team = 'platform' order by id")]
            clicks = await asyncio.gather(*(
                click(http, url, slack, incident_id, user, messages[incident_id])
                for incident_id in platform
                for url, user in ((urls[0], ALICE), (urls[1], BOB))))
            await wait_for(lambda: len(lost_races(slack)) == len(platform), 60,
                           "every click answered")
            outstanding = query(engine, "select count(*) from outbox_intent "
                                        "where state in ('pending', 'inflight')")[0][0]
            procs[1].send_signal(signal.SIGKILL)  # mid-way: replica b dies with its leases
            procs[1].wait(timeout=10)
            second = await send_all(http, [(urls[0], b) for b in range(batches // 2, batches)])

        def settled() -> bool:
            left = query(engine, "select count(*) from outbox_intent "
                                 "where state in ('pending', 'inflight')")[0][0]
            return left == 0 and len(per_incident(slack, "CAIENG0001")) == GROUPS // 2
        await wait_for(settled, 240, "every intent delivered by the surviving replica")

        assert outstanding > 0  # the kill came while delivery still had work
        assert first + second == [202] * batches  # no 503 from racing inserts
        assert clicks == [200] * len(clicks)
        assert query(engine, "select count(*) from alert")[0][0] == ALERTS
        incidents = query(engine, "select group_key, count(*) from incident group by group_key")
        assert len(incidents) == GROUPS and {n for _, n in incidents} == {1}
        posted = per_incident(slack, "CPLATFORM1") + per_incident(slack, "CAIENG0001")
        ids = [r[0] for r in query(engine, "select id from incident order by id")]
        assert sorted(posted) == ids and set(posted.values()) == {1}
        dms = per_incident(slack, slack.dm_channel(ALICE))
        assert sorted(dms) == platform and set(dms.values()) == {1}  # each page sent once
        pages = query(engine, "select incident_id, count(*) from page group by incident_id")
        assert sorted(pages) == [(i, 1) for i in platform]
        acks = query(engine, "select incident_id, count(*) from timeline_event "
                             "where kind = 'acked' group by incident_id")
        assert sorted(acks) == [(i, 1) for i in platform]  # one click won each race
        acked_by = dict(query(engine, "select id, acked_by from incident "
                                      "where team = 'platform'"))
        told = lost_races(slack)
        for incident_id in platform:  # the loser heard who has it
            loser = BOB if acked_by[incident_id] == ALICE else ALICE
            assert f"ack-{incident_id}-{loser}" in told
        assert query(engine, "select count(*) from outbox_intent where state = 'failed'") == [(0,)]
    finally:
        stop_processes(procs)
        engine.dispose()
        await slack.stop()
