"""The one decision after routing: a score against thresholds, then context rules and tiers."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.alert_path import Adjustment, Score, Thresholds, decide
from bot.domain.alerts import Action

QUALITY = Thresholds(page_at=0.8, triage_at=0.5, below=Action.DIGEST,
                     set_by="route ai-eng › quality")
EVALS = "detector=evals, prior 0.7"


@pytest.mark.parametrize(("score", "action"), [(0.95, Action.PAGE), (0.8, Action.PAGE),
                                               (0.62, Action.TRIAGE), (0.5, Action.TRIAGE),
                                               (0.2, Action.DIGEST)])
def test_a_score_pages_triages_or_digests_by_the_thresholds(score, action):
    assert decide(Action.PAGE, Score(score, EVALS), QUALITY).action is action


def test_the_why_line_names_score_source_thresholds_and_route():
    decision = decide(Action.PAGE, Score(0.62, EVALS), QUALITY)
    assert decision.why == ("confidence 0.62 (detector=evals, prior 0.7) · triage: 0.5 ≤ 0.62 "
                            "< page_at 0.8 (route ai-eng › quality)",)


def test_without_a_score_or_thresholds_the_route_action_stands():
    assert decide(Action.PAGE, None, QUALITY).action is Action.PAGE
    assert decide(Action.PAGE, Score(0.1, EVALS), None).action is Action.PAGE


def test_confidence_never_wakes_someone_for_a_route_that_only_notifies():
    assert decide(Action.NOTIFY, Score(0.99, EVALS), QUALITY).action is Action.NOTIFY


def test_a_deploy_raises_page_at_and_says_so():
    deploy = Adjustment(rule="deploys", why="deploy of voice-agent 12 min ago",
                        page_at_delta=0.1)
    decision = decide(Action.PAGE, Score(0.85, EVALS), QUALITY, [deploy])
    assert decision.action is Action.TRIAGE
    assert decision.why[0] == "deploy of voice-agent 12 min ago raised page_at to 0.9 (deploys)"
    assert decision.thresholds.page_at == pytest.approx(0.9)


def test_page_at_never_moves_outside_triage_at_and_one():
    assert decide(Action.PAGE, Score(0.99, EVALS), QUALITY,
                  [Adjustment(rule="r", why="w", page_at_delta=0.5)]).thresholds.page_at == 1.0
    assert decide(Action.PAGE, Score(0.4, EVALS), QUALITY,
                  [Adjustment(rule="r", why="w", page_at_delta=-0.9)]).thresholds.page_at == 0.5


def test_demotion_only_lowers_and_promotion_only_raises():
    night = Adjustment(rule="night", why="outside business hours", demote_to=Action.NOTIFY)
    peak = Adjustment(rule="peak", why="peak traffic", promote_to=Action.PAGE)
    assert decide(Action.PAGE, None, None, [night]).action is Action.NOTIFY
    assert decide(Action.DIGEST, None, None, [night]).action is Action.DIGEST
    assert decide(Action.NOTIFY, None, None, [peak]).action is Action.PAGE
    assert decide(Action.PAGE, None, None, [peak]).why == ()
    assert decide(Action.PAGE, None, None, [night]).why == (
        "outside business hours: page → notify (night)",)


def test_a_hold_applies_to_pages_only_and_the_longest_wins():
    short = Adjustment(rule="a", why="w", hold_for=timedelta(minutes=2))
    long = Adjustment(rule="b", why="w", hold_for=timedelta(minutes=5))
    decision = decide(Action.PAGE, None, None, [short, long])
    assert decision.hold_for == timedelta(minutes=5)
    assert decision.why == ("held 5m by a, b",)
    assert decide(Action.NOTIFY, None, None, [long]).hold_for is None


def test_a_tier_notifies_now_and_pages_later():
    nine = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    business = Adjustment(rule="tier business", why="business tier outside business hours",
                          demote_to=Action.NOTIFY, page_later_at=nine)
    decision = decide(Action.PAGE, None, None, [business])
    assert (decision.action, decision.page_later_at) == (Action.NOTIFY, nine)
    peak = Adjustment(rule="peak", why="peak", promote_to=Action.PAGE)
    assert decide(Action.PAGE, None, None, [business, peak]).page_later_at is None


@pytest.mark.parametrize(("page_at", "triage_at", "below"),
                         [(0.5, 0.8, Action.DIGEST), (1.2, 0.5, Action.DIGEST),
                          (0.8, -0.1, Action.DIGEST), (0.8, 0.5, Action.PAGE)])
def test_thresholds_out_of_order_or_range_are_refused(page_at, triage_at, below):
    with pytest.raises(ValueError):
        Thresholds(page_at=page_at, triage_at=triage_at, below=below)
