"""Scores, priors, learned reliability, thresholds in the route tree and `route test`: pure."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pytest

from bot.config import ConfigError, parse_config
from bot.domain.alerts import Action
from bot.domain.confidence import parse_score, prior_for, read_score, reliability
from bot.domain.feedback import Verdict
from bot.domain.routing import route
from bot.routing_report import describe, render_text

PRIORS = {"detector=evals": 0.7, "host:anomaly.example.com": 0.9, "source:generic": 0.4}


@pytest.mark.parametrize(("text", "value"), [("0.87", 0.87), ("87%", 0.87), ("87", 0.87),
                                             (" 1 ", 1.0), ("0", 0.0), ("100", 1.0),
                                             ("62.5%", 0.625)])
def test_a_score_is_read_as_a_fraction_a_percentage_or_a_number_up_to_100(text, value):
    assert parse_score(text) == pytest.approx(value)


@pytest.mark.parametrize(("text", "why"), [("1.7e3", "out of range"), ("-0.2", "out of range"),
                                           ("120%", "out of range"), ("high", "not a number"),
                                           ("nan", "not a finite number"), ("", "not a number")])
def test_a_bad_score_says_why(text, why):
    with pytest.raises(ValueError, match=why):
        parse_score(text)


def test_a_bad_score_is_reported_and_treated_as_absent_so_the_prior_applies():
    reading = read_score({"confidence": "170", "detector": "evals"}, {}, "confidence", PRIORS)
    assert str(reading.problem) == "confidence='170' ignored: out of range (0-1, or 0-100 as " \
                                   "a percentage)"
    assert reading.score.value == 0.7 and reading.score.source == "detector=evals, prior 0.7"


def test_the_alert_s_own_score_wins_and_names_the_prior_beside_it():
    reading = read_score({"detector": "evals"}, {"confidence": "62%"}, "confidence", PRIORS)
    assert reading.score.value == pytest.approx(0.62)
    assert reading.score.source == "confidence annotation; detector=evals, prior 0.7"


def test_priors_match_a_label_a_generator_host_or_a_webhook_source_first_entry_first():
    assert prior_for(PRIORS, {"detector": "evals"}, source="generic") == ("detector=evals", 0.7)
    assert prior_for(PRIORS, {}, generator_url="https://Anomaly.example.com/graph?x=1") == (
        "host:anomaly.example.com", 0.9)
    assert prior_for(PRIORS, {}, source="generic") == ("source:generic", 0.4)
    assert prior_for(PRIORS, {"detector": "other"}, source="alertmanager") is None
    assert read_score({}, {}, "confidence", PRIORS).score is None


def test_learned_reliability_needs_enough_verdicts_and_counts_only_those_that_say():
    verdicts = [Verdict.REAL, Verdict.NOISE, Verdict.REAL, Verdict.WRONG_TEAM]
    assert reliability([v.real for v in verdicts]) is None  # 4 < 5
    learned = reliability([v.real for v in [*verdicts, Verdict.SHOULD_NOT_HAVE_PAGED]])
    assert (learned.value, learned.count) == (pytest.approx(0.6), 5)
    reading = read_score({"detector": "evals"}, {}, "confidence", PRIORS, learned=learned)
    assert reading.score.source == "detector=evals, prior 0.7, learned 0.6 of 5"
    assert reading.score.value == 0.7  # shown beside the prior, not used instead of it


CONFIG = textwrap.dedent("""\
    teams:
      ai-eng:
        channel: "#ai-eng-oncall"
        confidence: {page_at: 0.9, triage_at: 0.6}
      platform: {channel: "#platform-oncall"}
    sources: {"detector=evals": 0.7}
    confidence: {key: confidence}
    route:
      receiver: platform
      routes:
        - matchers: ['team="ai-eng"']
          receiver: ai-eng
          action: page
          confidence: {page_at: 0.8, triage_at: 0.5, below: digest}
          routes:
            - matchers: ['alert_type="quality"']
            - matchers: ['alert_type="cost"']
              confidence: {page_at: 0.7, triage_at: 0.3, below: notify}
        - matchers: ['team="ai-team-default"']
          receiver: ai-eng
          action: page
    """)


def test_thresholds_are_inherited_down_the_tree_and_a_child_may_replace_them():
    config = parse_config(CONFIG)
    [quality] = route(config.route, {"team": "ai-eng", "alert_type": "quality"})
    assert (quality.confidence.page_at, quality.confidence.triage_at) == (0.8, 0.5)
    assert quality.confidence_set_by == 'route team="ai-eng"'
    [cost] = route(config.route, {"team": "ai-eng", "alert_type": "cost"})
    assert (cost.confidence.page_at, cost.confidence.below) == (0.7, "notify")
    assert cost.confidence_set_by == 'route team="ai-eng" › alert_type="cost"'
    [plain] = route(config.route, {"team": "ai-team-default"})
    assert plain.confidence is None  # the team default applies at ingest (decide_path)


@pytest.mark.parametrize(("block", "message"), [
    ("{page_at: 0.5, triage_at: 0.8}", "need 0 <= triage_at <= page_at <= 1"),
    ("{page_at: 1.5, triage_at: 0.5}", "less than or equal to 1"),
    ("{page_at: 0.8, triage_at: 0.5, below: page}", "'digest' or 'notify'"),
    ("{page_at: 0.8, triage_at: 0.5, high: {at: 0.7}}", "high.at (0.7) must be at least"),
])
def test_check_names_file_line_and_key_of_bad_thresholds(block, message):
    text = CONFIG.replace("confidence: {page_at: 0.7, triage_at: 0.3, below: notify}",
                          f"confidence: {block}")
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "oncall.yaml")
    [problem] = raised.value.problems
    assert problem.key.startswith("route.routes[0].routes[1].confidence")
    assert problem.line == 18 and message in problem.message
    assert str(problem).startswith("oncall.yaml:18: route.routes[0].routes[1].confidence")


def test_a_team_default_and_a_bad_source_key_are_checked_too():
    text = CONFIG.replace('{"detector=evals": 0.7}', '{"evals": 0.7}').replace(
        "{page_at: 0.9, triage_at: 0.6}", "{page_at: 0.2, triage_at: 0.6}")
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "oncall.yaml")
    keys = {(p.key.split("[")[0], p.line) for p in raised.value.problems}
    assert ("teams.ai-eng.confidence", 4) in keys
    assert any(k.startswith("sources") and line == 6 for k, line in keys)


AT = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def test_route_test_gains_the_confidence_decision_only_when_labels_carry_a_score():
    config = parse_config(CONFIG)
    labels = {"team": "ai-eng", "alert_type": "quality", "detector": "evals"}
    assert "confidence" not in describe(config, labels, at=AT)["matches"][0]
    scored = describe(config, {**labels, "confidence": "0.62"}, at=AT)
    assert scored["matches"][0]["confidence"] == {
        "score": 0.62, "action": Action.TRIAGE.value,
        "why": ['confidence 0.62 (confidence label; detector=evals, prior 0.7) · triage: 0.5 ≤ '
                '0.62 < page_at 0.8 (route team="ai-eng")']}
    text = render_text(scored)
    assert "   confidence -> triage\n   - confidence 0.62" in text


def test_pager_payloads_carry_the_why_line_and_are_unchanged_without_one():
    from bot.domain.pagers import PageIncident, page_details, webhook_page

    plain = PageIncident(id=7, title="t", team="platform", started_at=AT)
    why = plain.model_copy(update={"why": "confidence 0.97 (confidence label) · page: 0.97 ≥ "
                                          "page_at 0.8 (route root)"})
    assert "why" not in webhook_page("trigger", plain, None)["incident"]
    assert "why" not in page_details(plain, None)
    assert webhook_page("trigger", why, None)["incident"]["why"] == why.why
    assert page_details(why, None)["why"] == why.why


def test_the_postmortem_draft_carries_the_why_line():
    from bot.domain.postmortem import PostmortemFacts, postmortem_markdown

    facts = PostmortemFacts(id=3, title="t", team="platform", status="resolved", opened_at=AT,
                            reasons=["matched x"], why=["confidence 0.62 (prior)", "triage"])
    assert "matched x\n\nPath: confidence 0.62 (prior) · triage" in postmortem_markdown(facts)


def test_the_score_key_is_configurable_per_webhook_source():
    config = parse_config(CONFIG.replace("confidence: {key: confidence}",
                                         "confidence: {key: conf, source_keys: {generic: score}}"))
    assert config.confidence.key_for("alertmanager") == "conf"
    assert config.confidence.key_for("generic") == "score"
    reading = read_score({"score": "91%"}, {}, config.confidence.key_for("generic"),
                         config.sources)
    assert reading.score.value == pytest.approx(0.91)
    assert reading.score.source == "score label"
