"""Context rules, tiers and business hours as pure functions; their config errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import ConfigError, parse_config
from bot.config_context import BusinessHours, ContextRule, Tier
from bot.domain.alert_path import decide
from bot.domain.alerts import Action
from bot.domain.business_hours import in_hours, next_start
from bot.domain.changes import ChangeLine
from bot.domain.context_rules import ContextFacts, Where, holding
from bot.domain.tiers import verdict

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday, 04:00 in Berlin
BERLIN = Where(zone="Europe/Berlin", hours=BusinessHours())
LABELS = {"alertname": "VoiceLatencyHigh", "service": "voice-agent"}


def rule(**spec) -> ContextRule:
    return ContextRule.model_validate({"name": "r", **spec})


def test_after_change_holds_within_its_window_for_the_kinds_it_names():
    rules = [rule(after_change={"kinds": ["prompt"], "within": "30m"}, demote_to="triage")]
    prompt = ChangeLine(service="voice-agent", kind="prompt", version="v42",
                        at=NOW - timedelta(minutes=12))
    deploy = prompt.model_copy(update={"kind": "deploy"})
    old = prompt.model_copy(update={"at": NOW - timedelta(minutes=31)})
    [held] = holding(rules, LABELS, NOW, BERLIN, ContextFacts(changes=[prompt]))
    assert held.demote_to is Action.TRIAGE and held.why == "prompt v42 of voice-agent 12m before"
    assert holding(rules, LABELS, NOW, BERLIN, ContextFacts(changes=[deploy, old])) == []
    path = decide(Action.PAGE, None, None, [held])
    assert path.action is Action.TRIAGE
    assert path.why == ("prompt v42 of voice-agent 12m before: page → triage (r)",)


def test_while_firing_needs_another_alert_that_matches():
    rules = [rule(while_firing={"matchers": ['alertname="PeakTraffic"']}, raise_page_at=0.1)]
    peak = {"alertname": "PeakTraffic"}
    [held] = holding(rules, LABELS, NOW, BERLIN, ContextFacts(firing=[LABELS, peak]))
    assert held.page_at_delta == pytest.approx(0.1) and "PeakTraffic is firing" in held.why
    assert holding(rules, LABELS, NOW, BERLIN, ContextFacts(firing=[LABELS])) == []


def test_time_outside_business_hours_in_the_teams_zone():
    rules = [rule(time={"outside_business_hours": True}, lower_page_at=0.2)]
    [held] = holding(rules, LABELS, NOW, BERLIN, ContextFacts())
    assert held.page_at_delta == pytest.approx(-0.2)
    assert held.why == "outside business hours (Mon,Tue,Wed,Thu,Fri 09:00–17:00 Europe/Berlin)"
    noon = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    assert holding(rules, LABELS, noon, BERLIN, ContextFacts()) == []


def test_recent_noise_counts_verdicts_within_the_window():
    rules = [rule(recent_noise={"dismissed_at_least": 3, "within": "7d"}, demote_to="digest")]
    days = [NOW - timedelta(days=d) for d in (1, 2, 8)]
    assert holding(rules, LABELS, NOW, BERLIN, ContextFacts(noise=days)) == []
    [held] = holding(rules, LABELS, NOW, BERLIN,
                     ContextFacts(noise=[*days, NOW - timedelta(hours=1)]))
    assert held.demote_to is Action.DIGEST and held.why == "called noise 3× in 1w"


def test_every_condition_must_hold_and_matchers_select_the_alerts():
    rules = [rule(matchers=['service="voice-agent"'], maintenance=True,
                  time={"outside_business_hours": True}, hold_for="5m")]
    assert holding(rules, LABELS, NOW, BERLIN, ContextFacts(maintenance=False)) == []
    [held] = holding(rules, LABELS, NOW, BERLIN, ContextFacts(maintenance=True))
    assert held.hold_for == timedelta(minutes=5)
    assert holding(rules, {"service": "tts"}, NOW, BERLIN, ContextFacts(maintenance=True)) == []


def test_business_hours_start_next_working_morning_across_the_weekend_and_dst():
    friday_night = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
    assert next_start(friday_night, "Europe/Berlin", BusinessHours()) == datetime(
        2026, 11, 30, 8, 0, tzinfo=UTC)
    before_dst = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # Saturday; clocks go forward Sunday
    assert next_start(before_dst, "Europe/Berlin", BusinessHours()) == datetime(
        2026, 3, 30, 7, 0, tzinfo=UTC)
    assert in_hours(datetime(2026, 11, 23, 8, 0, tzinfo=UTC), "Europe/Berlin", BusinessHours())


def test_tiers_page_when_they_should_and_say_why_otherwise():
    business = Tier(pages="business_hours", otherwise="notify")
    night = verdict("business", business, NOW, "Europe/Berlin", BusinessHours())
    assert night.adjustment.demote_to is Action.NOTIFY
    assert night.adjustment.page_later_at == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    digest = verdict("b", Tier(pages="business_hours", otherwise="digest"), NOW, "UTC",
                     BusinessHours())
    assert digest.adjustment.demote_to is Action.DIGEST and digest.adjustment.page_later_at is None
    assert verdict("e", Tier(pages="24/7"), NOW, "UTC", BusinessHours()).adjustment is None


BASE = """
teams:
  platform: {channel: "#platform", tier: gold}
route: {receiver: platform}
"""


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + "context:\n  - name: x\n    after_change: {within: 30m}\n", "o.yaml")
    text = str(caught.value)
    assert "o.yaml:3: teams.platform.tier: tier 'gold' is not defined" in text
    assert "context[0]" in text and "needs an effect" in text
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE.replace(", tier: gold", "") + "context:\n  - name: x\n"
                     "    while_firing: {matchers: ['not a matcher']}\n    hold_for: 5m\n")
    assert "context[0].while_firing.matchers" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE.replace(", tier: gold", "") + "tiers:\n  gold: {pages: weekdays}\n")
    assert "tiers.gold.pages" in str(caught.value)
