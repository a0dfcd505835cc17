"""`oncall-bot route test --at`: context rules and tiers evaluated as of a given time."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.config import parse_config
from bot.domain.changes import ChangeEvent
from bot.services.changes import record_changes
from bot.services.context import ServiceContext
from bot.store.db import Database, migrate
from tests.appkit import CONFIG as PLAIN
from tests.appkit import FakeClock

CONFIG = """
teams:
  platform: {channel: "#platform-oncall", time_zone: Europe/Berlin, tier: business}
route: {receiver: platform, group_by: [alertname]}
tiers:
  enterprise: {pages: 24/7}
  business: {pages: business_hours, otherwise: notify}
context:
  - name: fresh-deploy
    after_change: {kinds: [deploy], within: 30m}
    demote_to: triage
  - name: night-hold
    time: {outside_business_hours: true}
    hold_for: 5m
"""


@pytest.fixture
def cli(tmp_path, monkeypatch):
    def run(config: str, *args: str):
        path = tmp_path / "oncall.yaml"
        path.write_text(config)
        monkeypatch.setenv("ONCALL_CONFIG", str(path))
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/oncall.db")
        return CliRunner().invoke(app, list(args))
    return run


def test_a_business_alert_at_night_notifies_and_pages_at_nine(cli):
    result = cli(CONFIG, "route", "test", "--json", "--at", "2026-11-23 03:00",
                 "alertname=CheckoutErrors", "severity=critical")
    [match] = json.loads(result.output)["matches"]
    assert (match["route_action"], match["action"], match["tier"]) == ("page", "notify",
                                                                       "business")
    assert match["page_later_at"] == "2026-11-23T08:00:00+00:00"
    assert any("(tier business)" in why and "page → notify" in why for why in match["context"])
    text = cli(CONFIG, "route", "test", "--at", "2026-11-23 03:00", "alertname=CheckoutErrors",
               "severity=critical").output
    assert "context at 2026-11-23T03:00:00+00:00: route action page -> notify (tier business)" \
        in text
    assert "outside business hours (Mon,Tue,Wed,Thu,Fri 09:00–17:00 Europe/Berlin) (night-hold)" \
        in text


def test_in_business_hours_the_same_alert_pages_and_an_enterprise_one_always(cli):
    [match] = json.loads(cli(CONFIG, "route", "test", "--json", "--at", "2026-11-23 10:00",
                             "alertname=CheckoutErrors", "severity=critical").output)["matches"]
    assert match["action"] == "page" and match["hold_for"] is None
    assert match["context"] == ["tier business: pages in business hours (Mon,Tue,Wed,Thu,Fri "
                                "09:00–17:00 Europe/Berlin), now inside them"]
    [match] = json.loads(cli(CONFIG, "route", "test", "--json", "--at", "2026-11-23 03:00",
                             "tier=enterprise", "severity=critical").output)["matches"]
    assert (match["action"], match["hold_for"]) == ("page", "5m")


def test_a_recorded_deploy_is_read_from_the_database_as_of_the_time(cli, tmp_path):
    url = f"sqlite:///{tmp_path}/oncall.db"
    migrate(url)

    async def record() -> None:
        db = Database(url)
        ctx = ServiceContext(db=db, config=parse_config(CONFIG), clock=FakeClock())
        await record_changes(ctx, [ChangeEvent(service="checkout", kind="deploy",
                                               version="v9")])
        await db.dispose()

    asyncio.run(record())
    at = ("--at", "2026-11-23 03:10", "alertname=X", "service=checkout", "tier=enterprise",
          "severity=critical")
    [match] = json.loads(cli(CONFIG, "route", "test", "--json", *at).output)["matches"]
    assert match["action"] == "triage"
    assert "deploy v9 of checkout 10m before: page → triage (fresh-deploy)" in match["context"]
    later = ("--at", "2026-11-23 03:40", *at[2:])
    [match] = json.loads(cli(CONFIG, "route", "test", "--json", *later).output)["matches"]
    assert match["action"] == "page"


def test_without_rules_or_tiers_the_answer_is_unchanged(cli):
    [match] = json.loads(cli(PLAIN, "route", "test", "--json", "alert_type=model",
                             "alertname=EvalDrop").output)["matches"]
    assert not {"context", "tier", "route_action"} & set(match)
    text = cli(PLAIN, "route", "test", "alert_type=model").output
    assert "context at" not in text
