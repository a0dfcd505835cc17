"""The noise review's feedback additions: counts, per-rule precision, drift from the prior."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from bot.domain.digests import IncidentRecord, previous_week
from bot.domain.feedback import Verdict
from bot.domain.noise import RuleFigures, noise_review
from bot.domain.noise_feedback import drifted, rule_precision
from bot.services import digests, feedback
from bot.slack.digest.review import noise_review_message
from tests.appkit import FakeClock
from tests.test_digest_service import (  # noqa: F401  (fixtures)
    ALICE,
    MONDAY,
    a_week_of_pages,
    contexts,
    url,
)

BOB = "U0BOBBY002"
BERLIN = ZoneInfo("Europe/Berlin")


async def test_the_review_counts_feedback_and_precision_per_rule(contexts):  # noqa: F811
    ctx = contexts(FakeClock(MONDAY))
    await a_week_of_pages(ctx)  # incident 1 acked, incident 2 gone at the source
    await feedback.give(ctx, 1, ALICE, Verdict.REAL)
    await feedback.give(ctx, 2, ALICE, Verdict.NOISE)
    await feedback.give(ctx, 2, BOB, Verdict.SHOULD_NOT_HAVE_PAGED)
    await feedback.give(ctx, 2, BOB, Verdict.NOISE)  # a change of mind counts once
    ctx.clock.current = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)

    review = (await digests.noise_reviews_now(ctx, "platform"))["platform"]

    [rule] = review.rules
    assert rule.feedback == {"real": 1, "noise": 2}
    assert (rule.precision, rule.judged) == (1 / 3, 3)
    assert review.feedback == {"real": 1, "noise": 2}
    assert review.drift == []  # no priors: nothing to drift from
    _, blocks = noise_review_message("platform", review)
    text = str([b.to_dict() for b in blocks])
    assert "Feedback: Real 1 · Noise 2 · precision 33% of 3" in text
    assert "Reliability drift" not in text


def test_precision_counts_only_verdicts_that_say_real_or_not():
    assert rule_precision(["real", "wrong_team", "noise", "should_not_have_paged"]) == (0.5, 4)
    assert rule_precision(["bogus"]) == (None, 0)
    assert rule_precision([]) == (None, 0)


def figures(name: str, precision: float | None, judged: int) -> RuleFigures:
    return RuleFigures.model_validate({
        "alertname": name, "route_key": "root/0", "teams": ["ai-eng"], "fired": 1,
        "incidents": judged, "paged": 0, "pages": 0, "acked": 0, "ack_rate": None,
        "time_to_ack_seconds": {"count": 0}, "duration_seconds": {"count": 0},
        "auto_resolved_before_ack": 0, "routed_to_humans": 0, "flaps": 0,
        "pages_out_of_hours": 0, "precision": precision, "judged": judged})


def test_drift_needs_enough_verdicts_and_a_real_gap_and_pools_routes():
    rules = [figures("EvalDrift", 0.2, 5), figures("Latency", 0.8, 10),
             figures("Sparse", 0.0, 2), figures("Split", 1.0, 3), figures("Split", 0.0, 3),
             figures("NoPrior", 0.0, 9)]
    priors = {"EvalDrift": 0.9, "Latency": 0.7, "Sparse": 0.9, "Split": 0.95}

    found = drifted(rules, priors)

    # EvalDrift: 0.2 vs 0.9 over 5; Split pooled: 3 of 6 = 0.5 vs 0.95; Latency within 0.2;
    # Sparse has 2 verdicts; NoPrior has no prior
    assert [(d.alertname, d.prior, d.learned, d.verdicts) for d in found] == [
        ("EvalDrift", 0.9, 0.2, 5), ("Split", 0.95, 0.5, 6)]


def test_the_review_shows_drift_only_with_priors():
    week = previous_week(datetime(2026, 11, 23, 9, tzinfo=BERLIN), BERLIN)
    opened = datetime(2026, 11, 18, 10, tzinfo=UTC)
    history = [IncidentRecord(id=n, team="ai-eng", alertname="EvalDrift", route_key="root/0",
                              opened_at=opened, alert_fired_at=[opened],
                              verdicts=["noise" if n % 5 else "real"]) for n in range(1, 6)]
    plain = noise_review(history, [], week, [], tz=BERLIN, today=date(2026, 11, 23))
    told = noise_review(history, [], week, [], tz=BERLIN, today=date(2026, 11, 23),
                        priors={"EvalDrift": 0.9})

    assert plain.drift == [] and plain.rules[0].precision == 0.2
    [drift] = told.drift
    assert (drift.prior, drift.learned, drift.verdicts) == (0.9, 0.2, 5)
    _, blocks = noise_review_message("ai-eng", told)
    assert "*EvalDrift*: prior 90% → learned 20% over 5 verdicts" in str(
        [b.to_dict() for b in blocks])


async def test_a_rule_whose_feedback_drifts_from_its_configured_prior_is_named(contexts):  # noqa: F811
    ctx = contexts(FakeClock(MONDAY))
    ctx.config = ctx.config.model_copy(update={"sources": {"alertname=DiskFull": 0.9}})
    await a_week_of_pages(ctx)
    for n in range(5):  # five people call incident 2 noise: 1 real of 6 against a 0.9 prior
        await feedback.give(ctx, 2, f"U0NOISE00{n}", Verdict.NOISE)
    await feedback.give(ctx, 1, ALICE, Verdict.REAL)
    ctx.clock.current = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)

    review = (await digests.noise_reviews_now(ctx, "platform"))["platform"]

    [drift] = review.drift
    assert (drift.alertname, drift.prior, drift.verdicts) == ("DiskFull", 0.9, 6)
    assert abs(drift.learned - 1 / 6) < 0.001
