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


def test_check_says_when_slack_cannot_be_reached(cli, monkeypatch, example_workspace):
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")  # unreachable on purpose
    result = cli("check", "--config", str(ROOT / "oncall.example.yaml"))
    assert result.exit_code == 2, result.output  # found nothing, but could not finish
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


EXAMPLE_ENV = {"PAGERDUTY_ROUTING_KEY_AI": "k", "PHONE_BRIDGE_SECRET": "s",
               "HANDOFF_SECRET": "s", "HOOKS_SECRET": "s", "SLACK_SIGNING_SECRET": "s",
               "SLACK_BOT_TOKEN": "xoxb-x"}


@pytest.fixture
def example_workspace(monkeypatch, slack_in_thread):
    """The Slack fake holding everything oncall.example.yaml names; its secrets set."""
    from bot.config import load_config
    from bot.preflight import slack_targets

    targets = slack_targets(load_config(ROOT / "oncall.example.yaml"))
    for user in targets.users:
        slack_in_thread.add_user(user, user.lower())
    slack_in_thread.add_channel("C0SUPPORT1", "support-humans")
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SLACK_API_URL", slack_in_thread.base_url)
    return slack_in_thread


def test_check_passes_on_a_good_config_and_environment(cli, example_workspace):
    result = cli("check", "--config", str(ROOT / "oncall.example.yaml"))  # it configures hooks
    assert result.exit_code == 0, result.output
    assert "ok: 4 teams" in result.output


def test_check_changes_nothing_and_says_which_channels_serve_will_join(cli, example_workspace):
    example_workspace.add_channel("C0OUTSIDE1", "support-humans", is_member=False)

    result = cli("check", "--config", str(ROOT / "oncall.example.yaml"))

    assert result.exit_code == 0, result.output
    assert "serve will join: #support-humans" in result.output
    sent = {"conversations.join", "chat.postMessage", "chat.postEphemeral", "conversations.open"}
    assert [c.method for c in example_workspace.calls if c.method in sent] == []


def test_check_fails_for_a_private_channel_the_bot_is_not_in(cli, tmp_path, example_workspace):
    example_workspace.add_channel("G0SECRET01", "secops", is_private=True, is_member=False)
    config = tmp_path / "private.yaml"
    config.write_text((ROOT / "oncall.example.yaml").read_text().replace('"#finops"',
                                                                          '"#secops"'))
    result = cli("check", "--config", str(config))
    assert result.exit_code == 1
    [problem] = [line for line in result.output.splitlines() if "problem" not in line]
    assert "secops" in problem and "/invite" in problem


def test_check_reports_missing_scopes_unknown_users_and_groups(cli, tmp_path,
                                                              example_workspace):
    example_workspace.scopes = "chat:write,channels:read"
    config = tmp_path / "people.yaml"
    config.write_text((ROOT / "oncall.example.yaml").read_text().replace(
        "U0LEAD0001", "U0NOBODY01").replace('channel: "#support-humans"',
                                            'channel: "#support-humans", usergroup: S0NOGROUP1'))

    result = cli("check", "--config", str(config))

    assert result.exit_code == 1
    assert "lacks scopes the manifest asks for: app_mentions:read" in result.output
    assert "user U0NOBODY01: Slack said user_not_found" in result.output
    assert "handoff.voice-agent.notify.usergroup: user group S0NOGROUP1" in result.output


def test_check_offline_asks_slack_nothing(cli, monkeypatch, example_workspace):
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")  # would fail if asked
    result = cli("check", "--offline", "--config", str(ROOT / "oncall.example.yaml"))
    assert result.exit_code == 0, result.output
    assert "offline" in result.output


def test_check_names_every_unset_or_empty_secret_the_config_uses(cli, monkeypatch,
                                                                 example_workspace):
    monkeypatch.delenv("HOOKS_SECRET")
    monkeypatch.setenv("HANDOFF_SECRET", "")

    result = cli("check", "--offline", "--config", str(ROOT / "oncall.example.yaml"))

    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "environment variable" in line]
    assert len(lines) == 2
    assert "handoff.voice-agent.webhook.secret_env: environment variable HANDOFF_SECRET is " \
           "empty" in lines[0]
    assert "HOOKS_SECRET is not set (also used by hooks.restart-deployment" in lines[1]


def test_check_that_cannot_read_its_config_exits_2(cli, tmp_path):
    result = cli("check", "--config", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2 and "cannot read" in result.output


TEN_MISTAKES = """
teams:
  platform: {chanel: "#platform-oncall", schedule: platfrom}
  ai-eng: {channel: "#ai-eng-oncall", escalation_policy: nope, responders: [alice]}
admins: [U0ADMIN001]
route:
  receiver: platform
  group_wait: soon
  routes:
    - {matchers: ['alert_type="model"'], receiver: ai}
schedules:
  platform:
    time_zone: Europe/Berlin
    start: "2026-01-05 09:00"
    rotation: weekly
    members: [U0AAAAAAA1]
escalation_policies:
  standard:
    levels:
      - {notify: ["pager:missing"], after: 10 minutes}
pagers:
  pd: {type: pagerduty, routing_key_env: TEN_PD_KEY}
heartbeat: {team: ghost, notify: ["pager:pd"]}
"""


def test_check_reports_ten_mistakes_of_different_kinds_at_once_in_line_order(cli, tmp_path):
    config = tmp_path / "ten.yaml"
    config.write_text(TEN_MISTAKES)

    result = cli("check", "--offline", "--config", str(config))

    assert result.exit_code == 1
    found = [line.removeprefix(f"{config}:") for line in result.output.splitlines()
             if line.startswith(str(config))]
    expected = [
        "3: teams.platform.chanel: unknown key; did you mean 'channel'?",
        "3: teams.platform.schedule: schedule 'platfrom' is not defined",
        "4: teams.ai-eng.escalation_policy: unknown escalation policy 'nope'",
        "4: teams.ai-eng.responders: 'alice': a Slack user id",
        "8: route.group_wait: not a valid duration 'soon'",
        "10: route.routes[0].receiver: receiver 'ai' is not a team",
        "20: escalation_policies.standard.levels[0].after: not a valid duration",
        "20: escalation_policies.standard.levels[0].notify[0]: pager 'missing' is not defined",
        "22: pagers.pd.routing_key_env: environment variable TEN_PD_KEY is not set",
        "23: heartbeat.team: team 'ghost' is not defined",
    ]
    assert len(found) == len(expected), "\n".join(found)
    for line, start in zip(found, expected, strict=True):
        assert line.startswith(start), (line, start)


def test_check_names_the_line_and_column_of_a_yaml_syntax_error(cli, tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text("teams:\n  a: {channel: x\nroute: {receiver: a}\n")
    result = cli("check", "--offline", "--config", str(config))
    assert result.exit_code == 1
    assert f"{config}:3:6: (top level): not valid YAML" in result.output


def test_route_test_from_exits_1_when_a_line_was_bad(cli):
    good = cli("route", "test", "--from", "-", input='{"alert_type": "model"}\n')
    bad = cli("route", "test", "--from", "-", input='{"alert_type": "model"}\n[1]\n')
    assert good.exit_code == 0 and bad.exit_code == 1
    assert len(bad.output.splitlines()) == 2


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
