"""oncall.yaml loading: a bad file gets every problem, each with file, key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
teams:
  ai-eng: {channel: "#ai-eng-oncall", responders: [U0AAAAAAA1, S0GROUP001]}
  platform: {channel: C0PLATFORM}
route:
  receiver: platform
  routes:
    - matchers: ['alert_type="model"']
      receiver: ai-eng
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "oncall.yaml")
    return [str(p) for p in caught.value.problems]


def test_the_shipped_example_is_valid():
    config = load_config(ROOT / "oncall.example.yaml")
    assert {"platform", "ai-eng", "integrations", "finops"} <= set(config.teams)


def test_a_good_config_loads():
    config = parse_config(GOOD)
    assert config.channel_of("ai-eng") == "#ai-eng-oncall"


def test_an_unknown_key_is_named_with_its_line():
    text = GOOD.replace("  platform: {channel: C0PLATFORM}",
                        "  platform: {channel: C0PLATFORM, chanel: x}")
    assert problems_of(text) == [
        "oncall.yaml:4: teams.platform.chanel: unknown key; did you mean 'channel'?"]


def test_a_route_to_a_team_that_does_not_exist_is_an_error():
    [problem] = problems_of(GOOD.replace("receiver: ai-eng", "receiver: ai-engineering"))
    assert problem.startswith("oncall.yaml:9: route.routes[0].receiver")
    assert "ai-engineering" in problem


def test_every_problem_is_listed_at_once():
    text = GOOD.replace('alert_type="model"', 'alert_type=~"(model"').replace(
        "receiver: platform", "receiver: platform\n  group_wait: soon")
    found = problems_of(text)
    assert len(found) == 2
    assert any("group_wait" in p for p in found)
    assert any("route.routes[0].matchers" in p and "error parsing regexp" in p for p in found)


def test_tool_owners_must_name_teams():
    found = problems_of(GOOD + "tool_owners: {stripe: payments}\n")
    [problem] = found
    assert problem.startswith("oncall.yaml:10: tool_owners.stripe: ")
    assert "'payments'" in problem


def test_bad_responder_and_channel_shapes_say_what_is_expected():
    text = GOOD.replace("U0AAAAAAA1", "alice").replace("C0PLATFORM", "Platform Oncall!")
    found = problems_of(text)
    assert any("teams.ai-eng.responders" in p and "Slack user id" in p for p in found)
    assert any("teams.platform.channel" in p and "channel name" in p for p in found)


def test_yaml_that_does_not_parse_points_at_the_line():
    [problem] = problems_of("teams:\n  a: [\n")
    assert problem.startswith("oncall.yaml:") and "not valid YAML" in problem


def test_a_missing_file_is_a_problem_not_a_traceback(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert "cannot read" in str(caught.value)


def test_a_key_the_file_does_not_name_has_no_line_rather_than_hanging():
    from bot.config import line_for

    assert line_for("statuspage.api_key_env", {}) is None
    assert line_for("teams.ai.channel", {"teams": 3}) == 3
    assert line_for("route.routes[0].matchers[1]", {"route.routes[0]": 7}) == 7
