"""`route test --from` answers fast, and byte for byte what the plain report would print.

The fast path (`RouteReporter.describe_json`) splices pieces encoded once per node and team,
and `explain` remembers reasons per node; these tests pin that neither changes a byte, and
that nothing remembered leaks across label values or tool_owners.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import parse_config
from bot.domain.matchers import parse_matchers
from bot.domain.routing import compile_route, explain, route
from bot.domain.runbook_loader import load_runbooks
from bot.routing_report import RouteReporter
from bot.services.route_holds import HoldState, MaintenanceHold, SilenceHold

AT = datetime(2026, 11, 23, 3, tzinfo=UTC)
CONFIG = """
teams:
  platform: {channel: "#platform-oncall", escalation_policy: standard}
  ai-eng: {channel: "#ai-eng-oncall"}
  integrations: {channel: "#integrations"}
tool_owners: {stripe: integrations, "vector-db": platform}
route:
  receiver: platform
  routes:
    - {matchers: ['alert_type="model"'], receiver: ai-eng, continue: true}
    - matchers: ['alert_type="tool"']
      receiver_from_label: tool_name
      receiver: platform
    - matchers: ['service=~"db|cache-.*"']
      receiver: platform
      page_after: 5m
      runbook: db-failover
      routes:
        - {matchers: ['env!~"prod.*"'], action: notify}
        - {matchers: ['alertname="Tab\\t\\"q\\""'], receiver: ai-eng}
    - {matchers: ['alert_type="cost"'], receiver: platform, digest: hourly}
escalation_policies:
  standard:
    levels:
      - {notify: ["#platform-oncall"], after: 0m}
severity_policies:
  sev1: standard
"""
VALUES = st.one_of(
    st.sampled_from(["model", "tool", "cost", "db", "cache-1", "prod", "prod-eu", "staging",
                     "stripe", "vector-db", "nobody", "critical", "sev1", "warning", "",
                     'Tab\\t"q"', "quality", "quality-drift", "db-failover", "QualityDrift",
                     "ToolTimeouts"]),
    st.text(max_size=12),  # any unicode, quotes, backslashes, lone surrogates
)
LABELS = st.dictionaries(
    st.sampled_from(["alert_type", "service", "env", "alertname", "tool_name", "severity",
                     "runbook"]), VALUES, max_size=7)
HOLDS = HoldState(
    at=AT,
    silences=[SilenceHold(1, tuple(parse_matchers('alert_type="model"')), AT, 'say "hi"'),
              SilenceHold(2, tuple(parse_matchers('severity=~"crit.*"')), AT, "", "platform")],
    maintenance={"integrations": MaintenanceHold(3, "integrations", AT, "upgrade")})
RUNBOOKS = load_runbooks(Path(__file__).parents[1] / "runbooks")[0]
REPORTERS = [
    RouteReporter(parse_config(CONFIG), AT),
    RouteReporter(parse_config(CONFIG), AT, HOLDS, RUNBOOKS),
]


@settings(max_examples=400, deadline=None)
@given(LABELS)
def test_the_fast_answer_is_the_plain_answer_byte_for_byte(labels) -> None:
    for reporter in REPORTERS:
        assert reporter.describe_json(labels) == json.dumps(reporter.describe(labels))


def test_remembered_reasons_follow_the_label_values() -> None:
    tree = compile_route(parse_config(CONFIG).route)
    for value in ["cache-1", "db", "cache-1"]:
        [node] = tree.match({"service": value, "env": "prod"})
        _, _, reasons = explain(node, {"service": value, "env": "prod"}, {})
        assert f'matched service=~"db|cache-.*" (service="{value}")' in reasons


def test_remembered_answers_never_keep_a_team_from_other_tool_owners() -> None:
    """The same compiled tree answered with two tool_owners maps: each gets its own team."""
    config = parse_config(CONFIG)
    labels = {"alert_type": "tool", "tool_name": "stripe", "severity": "critical"}
    first = route(config.route, labels, {"stripe": "integrations"})
    second = route(config.route, labels, {"stripe": "ai-eng"})
    third = route(config.route, labels, {})
    assert [d.team for d in first + second + third] == ["integrations", "ai-eng", "platform"]
    assert "tool_owners[stripe]" in first[0].reasons[-2]
    assert "'stripe' not in tool_owners" in third[0].reasons[-2]


def test_remembered_actions_follow_the_severity() -> None:
    config = parse_config(CONFIG)
    actions = [route(config.route, {"alert_type": "model", "severity": severity})[0].action
               for severity in ["critical", "info", "critical", ""]]
    assert [str(a) for a in actions] == ["page", "triage", "page", "triage"]


@settings(max_examples=300, deadline=None)
@given(LABELS)
def test_explain_reads_only_the_labels_it_declares(labels) -> None:
    """Answers are remembered by `node.explain_labels`: explain must see nothing else."""
    config = parse_config(CONFIG)
    for node in compile_route(config.route).match(labels):
        declared = {name: labels[name] for name in node.explain_labels if name in labels}
        assert explain(node, labels, config.tool_owners) == explain(
            node, declared, config.tool_owners)


def test_remembered_reasons_are_bounded_and_stay_right_past_the_bound() -> None:
    """A label with endless values (an instance id) cannot grow a route's memo without end."""
    tree = compile_route(parse_config(CONFIG).route)
    for number in range(1500):
        labels = {"service": f"cache-{number}", "env": "prod"}
        [node] = tree.match(labels)
        _, _, reasons = explain(node, labels, {})
        assert f'(service="cache-{number}")' in reasons[0]
    assert all(len(memo) <= 512 for memo in node.reason_memos)
    _, _, reasons = explain(node, {"service": "cache-3", "env": "prod"}, {})
    assert reasons[0] == 'matched service=~"db|cache-.*" (service="cache-3")'
