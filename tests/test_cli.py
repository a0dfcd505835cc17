"""The command line as a user types it: route test, check, migrate."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.devtools.fake_slack import FakeSlack
from tests.appkit import CHANNELS, CONFIG

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli(tmp_path, monkeypatch):
    config = tmp_path / "oncall.yaml"
    config.write_text(CONFIG)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONCALL_CONFIG", str(config))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/oncall.db")
    runner = CliRunner()
    return lambda *args, **kw: runner.invoke(app, list(args), **kw)


def test_route_test_prints_team_channel_action_and_why(cli):
    result = cli("route", "test", "alert_type=tool", "tool_name=stripe", "severity=critical")

    assert result.exit_code == 0, result.output
    assert "team integrations  channel #integrations-oncall  action page" in result.output
    assert "tool_owners" in result.output


def test_route_test_json_lists_every_match(cli):
    result = cli("route", "test", "--json", "alert_type=model", "alertname=EvalDrop")

    [match] = json.loads(result.output)["matches"]
    assert match["team"] == "ai-eng" and match["channel"] == "#ai-eng-oncall"
    assert match["action"] == "triage"
    assert {"team", "channel", "action", "route_path", "reasons", "policy", "levels", "holds",
            "page_after", "digest", "runbook"} <= set(match)


def test_route_test_from_file_answers_each_line_in_order(cli, tmp_path):
    label_sets = [{"alert_type": t, "n": str(i)} for i in range(3000)
                  for t in ("infra", "model", "cost")]
    lines = tmp_path / "labels.jsonl"
    lines.write_text("\n".join(json.dumps(s) for s in label_sets) + "\nnot json\n")

    started = time.monotonic()
    result = cli("route", "test", "--from", str(lines))
    elapsed = time.monotonic() - started

    answers = [json.loads(line) for line in result.output.splitlines()]
    assert len(answers) == 9001
    teams = [a["matches"][0]["team"] for a in answers[:3]]
    assert teams == ["platform", "ai-eng", "finops"]
    assert answers[-1]["error"] and answers[-1]["line"] == 9001
    assert elapsed < 30  # generous: bench/route_test.py measures the real rate


def test_route_test_rejects_a_malformed_label(cli):
    result = cli("route", "test", "alert_type")
    assert result.exit_code == 2
    assert "LABEL=VALUE" in result.output


def test_check_lists_every_problem_and_exits_1(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.replace("receiver: ai-eng", "receiver: ai").replace(
        "admins:", "admin:"))

    result = cli("check", "--config", str(bad))

    assert result.exit_code == 1
    assert "route.routes[1].receiver" in result.output
    assert "admin: unknown key" in result.output
    assert "SLACK_BOT_TOKEN is not set" in result.output


def test_check_says_when_slack_cannot_be_reached(cli, monkeypatch):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-x")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")  # unreachable on purpose
    result = cli("check")
    assert result.exit_code == 1
    assert "could not reach Slack" in result.output


@pytest.fixture
def slack_in_thread():
    """The Slack fake on its own event loop in a thread, for the CLI's own asyncio.run."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = FakeSlack(bot_token="xoxb-x")
    for channel_id, name in CHANNELS.items():
        fake.add_channel(channel_id, name)
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(10)
    yield fake
    asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_check_passes_on_a_good_config_and_environment(cli, monkeypatch, slack_in_thread):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-x")
    monkeypatch.setenv("SLACK_API_URL", slack_in_thread.base_url)
    result = cli("check", "--config", str(ROOT / "oncall.example.yaml"))  # it configures hooks
    assert result.exit_code == 0, result.output
    assert "ok: 4 teams" in result.output


def test_check_fails_for_a_private_channel_the_bot_is_not_in(cli, monkeypatch, tmp_path,
                                                            slack_in_thread):
    slack_in_thread.add_channel("G0SECRET01", "secops", is_private=True, is_member=False)
    config = tmp_path / "private.yaml"
    config.write_text((ROOT / "oncall.example.yaml").read_text().replace('"#finops"',
                                                                          '"#secops"'))
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-x")
    monkeypatch.setenv("SLACK_API_URL", slack_in_thread.base_url)
    result = cli("check", "--config", str(config))
    assert result.exit_code == 1
    [problem] = [line for line in result.output.splitlines() if "problem" not in line]
    assert "secops" in problem and "/invite" in problem


def test_migrate_creates_the_schema(cli, tmp_path):
    result = cli("migrate")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "oncall.db").exists()


def test_runbook_lint_passes_the_starter_runbooks(cli):
    result = cli("runbook", "lint", str(ROOT / "runbooks"), "--config",
                 str(ROOT / "oncall.example.yaml"))
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output


BAD_RUNBOOK = """
id: bad
title: Bad
serves: {alert_types: [infra]}
start: a
nodes:
  a:
    kind: question
    prompt: Is it up
    answers:
      - {label: "Yes", next: b}
      - {label: "No", next: nowhere}
  b: {kind: done, outcome: ok}
"""


def test_runbook_lint_names_the_file_and_node(cli, tmp_path):
    (tmp_path / "bad.yaml").write_text(BAD_RUNBOOK)
    result = cli("runbook", "lint", str(tmp_path))
    assert result.exit_code == 1
    assert "bad.yaml: a:" in result.output and "nowhere" in result.output


def test_runbook_show_prints_an_outline_and_mermaid(cli):
    outline = cli("runbook", "show", "pod-crashloop", "--dir", str(ROOT / "runbooks"))
    assert outline.exit_code == 0 and "pod-crashloop" in outline.output
    mermaid = cli("runbook", "show", "pod-crashloop", "--mermaid", "--dir",
                  str(ROOT / "runbooks"))
    assert mermaid.output.startswith("flowchart TD")


def test_postmortem_of_an_unknown_incident_says_so(cli):
    cli("migrate")
    result = cli("postmortem", "99")
    assert result.exit_code == 1 and "#99 does not exist" in result.output


def test_route_test_reads_label_sets_from_stdin(cli):
    result = cli("route", "test", "--from", "-",
                 input='{"alert_type": "model"}\n{"alert_type": "cost"}\n')
    teams = [json.loads(line)["matches"][0]["team"] for line in result.output.splitlines()]
    assert teams == ["ai-eng", "finops"]
