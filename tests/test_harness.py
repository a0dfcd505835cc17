"""The test harness itself: a real PostgreSQL and a real Alertmanager."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web

from tests.harness.alertmanager import NULL_CONFIG, AlertmanagerError, AlertmanagerFactory
from tests.harness.postgres import PostgresServer

TOKEN = "harness-secret"


def test_fresh_database_accepts_connections(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://")
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select 1")).scalar_one() == 1
            name = conn.execute(sa.text("select current_database()")).scalar_one()
            tables = conn.execute(
                sa.text("select count(*) from pg_tables where schemaname = 'public'")
            ).scalar_one()
    finally:
        engine.dispose()
    assert postgres_url.endswith("/" + name)
    assert tables == 0


def test_each_database_is_new(postgres_server: PostgresServer) -> None:
    first, second = postgres_server.create_database(), postgres_server.create_database()
    assert first != second
    engine = sa.create_engine(first)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("create table only_here (id int)"))
    finally:
        engine.dispose()
    engine = sa.create_engine(second)
    try:
        with engine.connect() as conn:
            assert not sa.inspect(conn).has_table("only_here")
    finally:
        engine.dispose()


class Receiver:
    """A tiny webhook receiver: records each request's headers and JSON body."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[dict[str, str], dict[str, Any]]] = asyncio.Queue()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        await self.received.put((dict(request.headers), await request.json()))
        return web.Response(status=202)

    async def next(self, timeout: float = 10.0) -> tuple[dict[str, str], dict[str, Any]]:
        return await asyncio.wait_for(self.received.get(), timeout)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/alerts/alertmanager", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    rec.url = f"http://{host}:{port}/alerts/alertmanager"
    try:
        yield rec
    finally:
        await runner.cleanup()


def webhook_config(url: str) -> str:
    return f"""\
route:
  receiver: bot
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: bot
    webhook_configs:
      - url: {json.dumps(url)}
        send_resolved: true
        http_config:
          authorization:
            credentials: {TOKEN}
"""


async def test_alertmanager_delivers_webhook(
    alertmanager_factory: AlertmanagerFactory, receiver: Receiver
) -> None:
    am = alertmanager_factory(webhook_config(receiver.url))
    alert = {
        "labels": {"alertname": "HarnessCheck", "severity": "page", "tool_name": "search"},
        "annotations": {"summary": "the harness works"},
    }
    am.push_alerts([alert])

    headers, body = await receiver.next()
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["groupLabels"] == {"alertname": "HarnessCheck"}
    [got] = body["alerts"]
    assert got["labels"] == alert["labels"]
    assert got["annotations"] == alert["annotations"]
    assert got["status"] == "firing"

    am.resolve([alert])
    _, body = await receiver.next()
    assert body["status"] == "resolved"
    assert body["alerts"][0]["labels"] == alert["labels"]


def test_alertmanager_reload_and_instances(alertmanager_factory: AlertmanagerFactory) -> None:
    first, second = alertmanager_factory(), alertmanager_factory(NULL_CONFIG)
    assert first.port != second.port

    first.push_alerts([{"labels": {"alertname": "Stored"}}])
    assert [a["labels"]["alertname"] for a in first.alerts()] == ["Stored"]
    assert second.alerts() == []

    with pytest.raises(AlertmanagerError, match="reload refused"):
        first.reload("route: {receiver: missing}\nreceivers: []\n")
    assert "blackhole" not in first.status()["config"]["original"]
    first.reload(NULL_CONFIG.replace('"null"', "blackhole"))
    assert "blackhole" in first.status()["config"]["original"]
