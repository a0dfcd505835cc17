"""`oncall-bot route test`: who wakes up, not only where it goes (policy, people, holds)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.config import parse_config
from bot.domain.matchers import parse_matchers
from bot.services.context import ServiceContext
from bot.services.silences import create_maintenance, create_silence
from bot.store.db import Database
from tests.appkit import FakeClock

CONFIG = """
teams:
  platform: {channel: "#platform-oncall", schedule: platform, escalation_policy: standard}
  ai-eng: {channel: "#ai-eng-oncall"}
route:
  receiver: platform
  routes:
    - {matchers: ['alert_type="model"'], receiver: ai-eng, continue: true}
    - matchers: ['service="db"']
      receiver: platform
      page_after: 5m
      runbook: db-failover
    - {matchers: ['alert_type="cost"'], receiver: platform, digest: hourly}
schedules:
  platform:
    time_zone: UTC
    start: "2026-01-05 09:00"
    rotation: weekly
    members: [U0AAAAAAA1, U0BBBBBBB2]
escalation_policies:
  standard:
    levels:
      - {notify: [primary], after: 0m}
      - {notify: [secondary, U0LEAD0001], after: 10m}
  lead-only:
    levels:
      - {notify: [U0LEAD0001], after: 0m}
severity_policies:
  sev1: lead-only
"""


@pytest.fixture
def cli(tmp_path, monkeypatch):
    config = tmp_path / "oncall.yaml"
    config.write_text(CONFIG)
    monkeypatch.setenv("ONCALL_CONFIG", str(config))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/oncall.db")
    monkeypatch.chdir(tmp_path)  # no runbooks dir here: only the route's runbook is named
    runner = CliRunner()
    return lambda *args, **kw: runner.invoke(app, list(args), **kw)


def as_json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_each_level_names_who_is_on_call_at_that_moment(cli) -> None:
    week_one = as_json(cli("route", "test", "--json", "--at", "2026-01-06 03:00",
                           "service=db", "severity=critical"))
    week_two = as_json(cli("route", "test", "--json", "--at", "2026-01-13 03:00",
                           "service=db", "severity=critical"))

    [match] = week_one["matches"]
    assert week_one["at"] == "2026-01-06T03:00:00+00:00"
    assert match["policy"] == "standard"
    assert "escalation_policy of team platform" in match["policy_reason"]
    assert [level["people"] for level in match["levels"]] == [
        ["U0AAAAAAA1"], ["U0BBBBBBB2", "U0LEAD0001"]]
    assert [level["after"] for level in match["levels"]] == ["0s", "10m"]
    assert match["page_after"] == "5m" and match["runbook"] == "db-failover"
    assert [level["people"] for level in week_two["matches"][0]["levels"]] == [
        ["U0BBBBBBB2"], ["U0AAAAAAA1", "U0LEAD0001"]]


def test_a_severity_policy_wins_over_the_teams(cli) -> None:
    [match] = as_json(cli("route", "test", "--json", "service=db", "severity=sev1"))["matches"]
    assert match["policy"] == "lead-only"
    assert "severity_policies for severity=sev1" in match["policy_reason"]
    assert match["levels"][0]["people"] == ["U0LEAD0001"]


def test_a_team_without_a_policy_pages_nobody_and_digests_say_so(cli) -> None:
    report = as_json(cli("route", "test", "--json", "alert_type=model"))
    assert report["matches"][0]["policy"] is None
    assert "nobody is paged" in report["matches"][0]["policy_reason"]
    [cost] = as_json(cli("route", "test", "--json", "alert_type=cost"))["matches"]
    assert cost["action"] == "digest" and cost["digest"] == "hourly"


def test_without_a_database_holds_are_not_checked(cli, tmp_path) -> None:
    result = cli("route", "test", "service=db", "severity=critical")
    assert result.exit_code == 0, result.output
    assert "holds: no database: holds not checked" in result.output
    assert "level 1 after 0s: primary -> U0" in result.output
    assert "runbook offered: db-failover" in result.output
    assert not (tmp_path / "oncall.db").exists()  # it did not create one to look


def test_silences_maintenance_and_overrides_from_the_database(cli, tmp_path) -> None:
    assert cli("migrate").exit_code == 0
    now = datetime.now(UTC)  # wall clock ok: the CLI answers for the real "now"
    asyncio.run(record_holds(f"sqlite:///{tmp_path}/oncall.db", now))

    [match] = as_json(cli("route", "test", "--json", "service=db", "severity=critical"))["matches"]
    assert any(h.startswith("silence 1 until") and "db work" in h for h in match["holds"])
    assert any("team platform in maintenance until" in h for h in match["holds"])
    assert match["levels"][0]["people"] == ["U0OVERRIDE"]

    later = (now + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M")
    [after] = as_json(cli("route", "test", "--json", "--at", later, "service=db"))["matches"]
    assert after["holds"] == []  # both ended by then
    assert after["levels"][0]["people"] != ["U0OVERRIDE"]
    [other] = as_json(cli("route", "test", "--json", "service=web"))["matches"]
    assert not any(h.startswith("silence") for h in other["holds"])


async def record_holds(url: str, now: datetime) -> None:
    from bot.store.models import OverrideRow

    db = Database(url)
    ctx = ServiceContext(db=db, config=parse_config(CONFIG), clock=FakeClock(now))
    try:
        # Scoped to the team the alert routes to (it carries no team label): held all the same.
        await create_silence(ctx, parse_matchers('team="platform",service="db"'),
                             timedelta(hours=1), "db work", "cli")
        await create_maintenance(ctx, "platform", timedelta(hours=2), "upgrade", "cli")
        async with db.transaction() as s:
            s.add(OverrideRow(schedule="platform", user="U0OVERRIDE", start=now - timedelta(1),
                              end=now + timedelta(hours=1), created_at=now))
    finally:
        await db.dispose()


def test_a_bad_at_is_refused(cli) -> None:
    result = cli("route", "test", "--at", "christmas", "service=db")
    assert result.exit_code == 2 and "2026-12-24 03:00" in result.output


def test_the_fast_json_answer_is_the_full_answer() -> None:
    """`--from` splices each team's cached paging JSON: it must equal the plain report."""
    from bot.routing_report import RouteReporter

    reporter = RouteReporter(parse_config(CONFIG), datetime(2026, 1, 6, 3, tzinfo=UTC))
    for labels in ({"service": "db", "severity": "sev1"}, {"alert_type": "model"}, {}):
        assert json.loads(reporter.describe_json(labels)) == reporter.describe(labels)


@pytest.mark.parametrize("url", [
    "sqlite:///./oncall.db", "sqlite:///{tmp}/x%20y.db", "sqlite:///{tmp}/x y.db",
    "sqlite+aiosqlite:///{tmp}/oncall.yaml", "sqlite://", "sqlite:///:memory:",
    "sqlite:///{tmp}/none.db?mode=ro", "postgresql+psycopg://u:p@localhost/oncall",
])
def test_an_absent_sqlite_database_is_read_as_sqlalchemy_reads_the_url(tmp_path, url) -> None:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from bot.cli import _absent_sqlite

    (tmp_path / "x y.db").touch()
    (tmp_path / "oncall.yaml").touch()
    url = url.format(tmp=tmp_path)
    parsed = make_url(url)
    expected = parsed.get_backend_name() == "sqlite" and not (
        parsed.database and Path(parsed.database).exists())
    assert _absent_sqlite(url) == expected


def test_route_test_without_a_database_loads_neither_slack_nor_sqlalchemy(tmp_path) -> None:
    """Start-up is most of `route test --from`'s CPU for a file of label sets (bench/)."""
    import subprocess
    import sys

    (tmp_path / "oncall.yaml").write_text(CONFIG)
    script = ("import sys\nfrom bot.cli import main\n"
              "sys.argv = ['oncall-bot', 'route', 'test', 'service=db']\n"
              "try:\n    main()\nexcept SystemExit:\n    pass\n"
              "print(sorted(m for m in ('sqlalchemy', 'slack_sdk', 'aiohttp') "
              "if m in sys.modules))\n")
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
        env={"PATH": "", "ONCALL_CONFIG": str(tmp_path / "oncall.yaml"),
             "DATABASE_URL": f"sqlite:///{tmp_path}/absent.db"})
    assert "team platform" in done.stdout, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert not (tmp_path / "absent.db").exists()
