"""The path a routed alert takes (page, triage, notify, digest), and why, in one decision.

The route tree picks a team and an action. Then, in a fixed order, confidence thresholds
(a score against `page_at`/`triage_at`), context rules (a deploy, peak traffic, night, recent
noise) and support tiers adjust that action. Each step that changed something leaves one
why-part, so the message, `route test` and `replay` all explain the same decision the same way.
Pure: the callers gather the score, the rules that hold and the tier; this only combines them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.domain.alerts import Action

#: From most to least disruptive: promotions only move up this list, demotions only down.
_RANK = {Action.PAGE: 3, Action.TRIAGE: 2, Action.NOTIFY: 1, Action.DIGEST: 0}


@dataclass(frozen=True)
class Thresholds:
    """A route's confidence thresholds: at or above `page_at` the route's action stands,
    from `triage_at` to `page_at` the alert goes to triage, below `triage_at` to `below`."""

    page_at: float
    triage_at: float
    below: Action = Action.DIGEST
    set_by: str = ""  # the route (or team) that set them, for the why-line

    def __post_init__(self) -> None:
        if not 0.0 <= self.triage_at <= self.page_at <= 1.0:
            raise ValueError("confidence: need 0 <= triage_at <= page_at <= 1")
        if self.below not in (Action.DIGEST, Action.NOTIFY):
            raise ValueError("confidence.below: digest or notify")


@dataclass(frozen=True)
class Score:
    """An alert's confidence in [0, 1] and where it came from ("detector=evals, prior 0.7")."""

    value: float
    source: str


@dataclass(frozen=True)
class Adjustment:
    """What one context rule or tier does while it holds; `rule` names it on the message."""

    rule: str
    why: str
    page_at_delta: float = 0.0  # + raises page_at (harder to page), - lowers it
    demote_to: Action | None = None
    promote_to: Action | None = None
    hold_for: timedelta | None = None
    page_later_at: datetime | None = None  # notify now, page then if still open (tiers)


@dataclass(frozen=True)
class PathDecision:
    """What happens to the alert now, what may happen later, and every reason, in order."""

    action: Action
    why: tuple[str, ...] = ()
    hold_for: timedelta | None = None
    page_later_at: datetime | None = None
    thresholds: Thresholds | None = field(default=None, compare=False)


def decide(route_action: Action, score: Score | None, thresholds: Thresholds | None,
           adjustments: Sequence[Adjustment] = ()) -> PathDecision:
    """Combine the route's action with the score and every adjustment that holds.

    Thresholds only apply to a paging route with a score: confidence decides whether a page
    is warranted, it never wakes someone for a route that only notifies.
    """
    why: list[str] = []
    effective = _shifted(thresholds, adjustments, why)
    action = route_action
    if route_action is Action.PAGE and effective is not None and score is not None:
        action = _by_score(score, effective, why)
    for adjustment in adjustments:
        action = _moved(action, adjustment, why)
    holds = [a.hold_for for a in adjustments if a.hold_for is not None]
    hold = max(holds) if holds and action is Action.PAGE else None
    if hold is not None:
        why.append(f"held {_minutes(hold)} by {_names(a for a in adjustments if a.hold_for)}")
    later = min((a.page_later_at for a in adjustments if a.page_later_at is not None),
                default=None)
    if action is Action.PAGE:
        later = None
    return PathDecision(action=action, why=tuple(why), hold_for=hold, page_later_at=later,
                        thresholds=effective)


def _shifted(thresholds: Thresholds | None, adjustments: Sequence[Adjustment],
             why: list[str]) -> Thresholds | None:
    if thresholds is None:
        return None
    page_at = thresholds.page_at
    for adjustment in adjustments:
        if adjustment.page_at_delta:
            moved = min(1.0, max(thresholds.triage_at, page_at + adjustment.page_at_delta))
            verb = "raised" if moved > page_at else "lowered"
            why.append(f"{adjustment.why} {verb} page_at to {moved:g} ({adjustment.rule})")
            page_at = moved
    return replace(thresholds, page_at=page_at)


def _by_score(score: Score, t: Thresholds, why: list[str]) -> Action:
    where = f" ({t.set_by})" if t.set_by else ""
    head = f"confidence {score.value:g} ({score.source})"
    if score.value >= t.page_at:
        why.append(f"{head} · page: {score.value:g} ≥ page_at {t.page_at:g}{where}")
        return Action.PAGE
    if score.value >= t.triage_at:
        why.append(f"{head} · triage: {t.triage_at:g} ≤ {score.value:g} < page_at "
                   f"{t.page_at:g}{where}")
        return Action.TRIAGE
    why.append(f"{head} · {t.below.value}: {score.value:g} < triage_at {t.triage_at:g}{where}")
    return t.below


def _moved(action: Action, adjustment: Adjustment, why: list[str]) -> Action:
    target = adjustment.demote_to or adjustment.promote_to
    if target is None:
        return action
    lower = adjustment.demote_to is not None and _RANK[target] < _RANK[action]
    higher = adjustment.promote_to is not None and _RANK[target] > _RANK[action]
    if not (lower or higher):
        return action
    why.append(f"{adjustment.why}: {action.value} → {target.value} ({adjustment.rule})")
    return target


def _minutes(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes}m" if minutes else f"{int(span.total_seconds())}s"


def _names(adjustments) -> str:
    return ", ".join(a.rule for a in adjustments)
