"""The weekly noise review: which alert rules wake people for nothing, and how on-call holds up.

A rule is an alertname on a route (`route_key`). Incident figures count the incidents
opened in the week; firing and page figures count what happened in the week, whichever
incident it belongs to. Pages are the notifications people received (`PageRecord`s); an
incident is "paged" when it paged anyone; acks and time to ack count paged incidents only
(DESIGN.md glossary), so acked <= paged <= incidents. Durations are in seconds.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from operator import attrgetter

from pydantic import BaseModel, Field

from bot.domain.digests import (
    ActionItemRecord,
    IncidentRecord,
    PageRecord,
    Window,
    check_aware,
    is_after_hours,
    week_before,
)
from bot.domain.durations import format_duration
from bot.domain.noise_feedback import Drift, drifted, feedback_counts, rule_precision
from bot.domain.stats import Summary, summary

__all__ = [
    "NoiseReview",
    "OnCallHealth",
    "PagesPerDay",
    "RuleFigures",
    "WeekOverWeek",
    "noise_review",
    "suggest",
]

FLAP_WINDOW = timedelta(hours=1)
# Thresholds for suggestions: a rule gets the first one whose conditions hold.
NOISY_FIRED = 5  # "never acked" only speaks for a rule that fired at least this often
SHORT_MEDIAN = timedelta(minutes=10)  # ... and whose incidents were this short (median)
AUTO_RESOLVED_SHARE = 0.5  # share of incidents gone before anyone acked
FLAPS = 3
SLOW_ACK = timedelta(minutes=15)
MIN_INCIDENTS = 3  # shares are only judged on at least this many incidents
_STEPS = tuple(timedelta(minutes=m) for m in (1, 2, 3, 5, 10, 15, 30, 60))


class RuleFigures(BaseModel):
    """One alert rule's week, and what to change about it (None when it looks healthy)."""

    alertname: str
    route_key: str
    teams: list[str]
    fired: int
    incidents: int
    paged: int
    pages: int
    acked: int
    ack_rate: float | None
    time_to_ack_seconds: Summary
    duration_seconds: Summary
    auto_resolved_before_ack: int
    routed_to_humans: int
    flaps: int
    pages_out_of_hours: int
    suggestion: str | None = None
    feedback: dict[str, int] = {}  # verdict -> how many people chose it, on this week's incidents
    precision: float | None = None  # real / verdicts that say real or not (Verdict.real)
    judged: int = 0  # the verdicts precision counts


class WeekOverWeek(BaseModel):
    this_week: Summary
    previous_week: Summary


class OnCallHealth(BaseModel):
    """How hard on-call was: who got paged, when, how fast they answered, what is still open."""

    pages_per_person: dict[str, int]
    pages_per_rotation: dict[str, int]
    after_hours_pages: int
    time_to_ack_seconds: WeekOverWeek
    time_to_resolve_seconds: WeekOverWeek
    open_action_items: int
    overdue_action_items: list[ActionItemRecord]
    pages_per_tier: dict[str, int] = Field(default_factory=dict)  # support tiers, if any
    after_hours_pages_per_tier: dict[str, int] = Field(default_factory=dict)


class PagesPerDay(BaseModel):
    """Pages per local day and team, ready for a chart: `teams[t][i]` is day `days[i]`."""

    days: list[date]
    teams: dict[str, list[int]]


class NoiseReview(BaseModel):
    """The week's review: rules noisiest first, on-call health, and pages per day."""

    week_start: datetime
    week_end: datetime
    time_zone: str
    business_hours: tuple[int, int]
    fired: int
    incidents: int
    pages: int
    rules: list[RuleFigures]
    health: OnCallHealth
    pages_per_day_by_team: PagesPerDay
    storms: int = 0  # storms that began in the teams' channels this week (storm mode)
    feedback: dict[str, int] = {}
    drift: list[Drift] = []  # only when priors are known (`sources:` in oncall.yaml)

    def to_json(self) -> dict[str, object]:
        """The figures as `digest noise --dry-run --json` prints them."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class _Week:
    window: Window
    tz: tzinfo
    business_hours: tuple[int, int]

    def after_hours(self, moment: datetime) -> bool:
        return is_after_hours(moment, self.tz, self.business_hours)


# -- the review ---------------------------------------------------------------------------


def noise_review(
    incidents: Sequence[IncidentRecord],
    actions: Sequence[ActionItemRecord],
    week: tuple[datetime, datetime],
    previous_week_incidents: Sequence[IncidentRecord],
    *,
    tz: tzinfo,
    business_hours: tuple[int, int] = (9, 18),
    today: date,
    priors: Mapping[str, float] | None = None,
) -> NoiseReview:
    """Review one week (usually `previous_week(now, tz)`) of a team's incidents.

    `priors` (alertname -> configured reliability) turn on the drift list; without them the
    review shows none rather than guess."""
    ctx = _week_context(week, tz, business_hours)
    mine = _distinct(incidents)
    touched = [incident for incident in mine if _touched(incident, ctx.window)]
    context = _distinct([*previous_week_incidents, *mine])
    rules = sorted(_rules(touched, context, ctx), key=_noisiest_first)
    return NoiseReview(
        week_start=ctx.window.start,
        week_end=ctx.window.end,
        time_zone=str(getattr(tz, "key", tz)),
        business_hours=business_hours,
        fired=sum(rule.fired for rule in rules),
        incidents=sum(rule.incidents for rule in rules),
        pages=sum(rule.pages for rule in rules),
        rules=rules,
        health=_health(touched, previous_week_incidents, actions, ctx, today),
        pages_per_day_by_team=_pages_per_day(touched, ctx),
        feedback=feedback_counts(v for rule in rules for v, n in rule.feedback.items()
                                  for _ in range(n)),
        drift=drifted(rules, priors) if priors else [],
    )


def _week_context(week: tuple[datetime, datetime], tz: tzinfo, hours: tuple[int, int]) -> _Week:
    start, end = (check_aware(moment, "week").astimezone(UTC) for moment in week)
    if not start < end:
        raise ValueError(f"the week must start before it ends, got {start} .. {end}")
    if not 0 <= hours[0] < hours[1] <= 24:
        raise ValueError(f"business hours must be 0 <= start < end <= 24, got {hours}")
    return _Week(Window(start, end), tz, hours)


def _distinct(incidents: Iterable[IncidentRecord]) -> list[IncidentRecord]:
    """One record per incident id (the last one given wins), in id order."""
    return sorted({incident.id: incident for incident in incidents}.values(), key=attrgetter("id"))


def _touched(incident: IncidentRecord, window: Window) -> bool:
    """Opened, fired or paged in the week."""
    moments = [incident.opened_at, *incident.alert_fired_at, *(p.at for p in incident.pages)]
    return any(window.holds(moment) for moment in moments)


def _opened(incidents: Iterable[IncidentRecord], window: Window) -> list[IncidentRecord]:
    return [incident for incident in incidents if window.holds(incident.opened_at)]


def _pages(incidents: Iterable[IncidentRecord], window: Window) -> list[PageRecord]:
    return [page for incident in incidents for page in incident.pages if window.holds(page.at)]


def _noisiest_first(rule: RuleFigures) -> tuple[int, int, str, str]:
    return (-rule.pages, -rule.fired, rule.alertname, rule.route_key)


# -- per rule -----------------------------------------------------------------------------


def _rules(
    touched: list[IncidentRecord], context: list[IncidentRecord], ctx: _Week
) -> list[RuleFigures]:
    by_rule: dict[tuple[str, str], list[IncidentRecord]] = {}
    for incident in touched:
        by_rule.setdefault(incident.rule, []).append(incident)
    return [
        _rule_figures(rule, group, _resolutions(context, rule), ctx)
        for rule, group in by_rule.items()
    ]


def _rule_figures(
    rule: tuple[str, str],
    group: list[IncidentRecord],
    resolutions: list[tuple[datetime, int]],
    ctx: _Week,
) -> RuleFigures:
    opened = _opened(group, ctx.window)
    paged = [incident for incident in opened if incident.paged]
    acked = [incident for incident in paged if incident.acked]
    pages = _pages(group, ctx.window)
    figures = RuleFigures(
        alertname=rule[0],
        route_key=rule[1],
        teams=sorted({incident.team for incident in group}),
        fired=sum(ctx.window.holds(at) for incident in group for at in incident.alert_fired_at),
        incidents=len(opened),
        paged=len(paged),
        pages=len(pages),
        acked=len(acked),
        ack_rate=len(acked) / len(paged) if paged else None,
        time_to_ack_seconds=summary(_known(incident.time_to_ack for incident in paged)),
        duration_seconds=summary(_known(incident.time_to_resolve for incident in opened)),
        auto_resolved_before_ack=sum(incident.auto_resolved_before_ack for incident in opened),
        routed_to_humans=sum(incident.routed_to_humans for incident in opened),
        flaps=sum(_flapped(incident, resolutions) for incident in opened),
        pages_out_of_hours=sum(ctx.after_hours(page.at) for page in pages),
    )
    verdicts = [v for incident in opened for v in incident.verdicts]
    precision, judged = rule_precision(verdicts)
    figures = figures.model_copy(update={"feedback": feedback_counts(verdicts),
                                         "precision": precision, "judged": judged})
    return figures.model_copy(update={"suggestion": suggest(figures)})


def _known(values: Iterable[float | None]) -> list[float]:
    return [value for value in values if value is not None]


def _resolutions(
    incidents: list[IncidentRecord], rule: tuple[str, str]
) -> list[tuple[datetime, int]]:
    """When each of the rule's incidents resolved, sorted, with the incident id."""
    return sorted(
        (incident.resolved_at.astimezone(UTC), incident.id)
        for incident in incidents
        if incident.rule == rule and incident.resolved_at is not None
    )


def _flapped(incident: IncidentRecord, resolutions: list[tuple[datetime, int]]) -> bool:
    """Opened again within an hour after another incident of the same rule resolved."""
    opened = incident.opened_at.astimezone(UTC)
    low = bisect_left(resolutions, (opened - FLAP_WINDOW,))
    high = bisect_right(resolutions, (opened, math.inf))
    return any(other != incident.id for _, other in resolutions[low:high])


# -- suggestions --------------------------------------------------------------------------


def suggest(rule: RuleFigures) -> str | None:
    """The first change the figures argue for, in a fixed order; None for a healthy rule."""
    for check in (_never_acked, _auto_resolved, _flapping, _always_humans, _slow_acks):
        advice = check(rule)
        if advice:
            return advice
    return None


def _never_acked(rule: RuleFigures) -> str | None:
    median = rule.duration_seconds.median
    short = median is not None and median < SHORT_MEDIAN.total_seconds()
    if rule.fired < NOISY_FIRED or not rule.paged or rule.acked or not short:
        return None
    page_after = _step_at_least(timedelta(seconds=2 * median))
    hold_for = _step_at_least(page_after + timedelta(seconds=1))
    return (
        f"fired {rule.fired} times, never acked, median {_human(median)}: "
        f"add `for: {format_duration(hold_for)}` or `page_after: {format_duration(page_after)}`"
    )


def _auto_resolved(rule: RuleFigures) -> str | None:
    share = rule.auto_resolved_before_ack / max(rule.incidents, 1)
    if rule.incidents < MIN_INCIDENTS or share < AUTO_RESOLVED_SHARE:
        return None
    return (
        f"auto-resolved before ack in {round(100 * share)}% of incidents: "
        "raise the threshold or add `for:`"
    )


def _flapping(rule: RuleFigures) -> str | None:
    if rule.flaps < FLAPS:
        return None
    return f"flapped {rule.flaps} times: add hysteresis (`keep_firing_for`) or a longer `for:`"


def _always_humans(rule: RuleFigures) -> str | None:
    if rule.incidents < 2 or rule.routed_to_humans < rule.incidents:
        return None
    return "always routed to humans: page the human team directly"


def _slow_acks(rule: RuleFigures) -> str | None:
    median = rule.time_to_ack_seconds.median
    slow = median is not None and median >= SLOW_ACK.total_seconds()
    if rule.paged < 2 or rule.acked < rule.paged or not slow:
        return None
    return (
        f"acked every time but median time to ack {_human(median)}: "
        "shorten `page_after` or find a better route"
    )


def _step_at_least(duration: timedelta) -> timedelta:
    """Round up to a duration people write in alert rules (1m, 2m, 3m, 5m ... 1h)."""
    return next((step for step in _STEPS if step >= duration), _STEPS[-1])


def _human(seconds: float) -> str:
    """90 s, 25 min, 2.5 h: the way people say it."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# -- on-call health -----------------------------------------------------------------------


def _health(
    touched: list[IncidentRecord],
    previous: Sequence[IncidentRecord],
    actions: Sequence[ActionItemRecord],
    ctx: _Week,
    today: date,
) -> OnCallHealth:
    pages = _pages(touched, ctx.window)
    this_week = _opened(touched, ctx.window)
    last_week = _opened(_distinct(previous), week_before(ctx.window, ctx.tz))
    open_items = [item for item in actions if not item.done]
    return OnCallHealth(
        pages_per_person=_counts(page.person for page in pages),
        pages_per_rotation=_counts(page.rotation for page in pages),
        after_hours_pages=sum(ctx.after_hours(page.at) for page in pages),
        time_to_ack_seconds=_compare(this_week, last_week, "time_to_ack"),
        time_to_resolve_seconds=_compare(this_week, last_week, "time_to_resolve"),
        open_action_items=len(open_items),
        overdue_action_items=[item for item in open_items if item.due and item.due < today],
        **_per_tier(touched, ctx),
    )


NO_TIER = "(no tier)"


def _per_tier(touched: list[IncidentRecord], ctx: _Week) -> dict[str, dict[str, int]]:
    """Pages per support tier, and those after hours; empty when no incident had a tier."""
    if not any(incident.tier for incident in touched):
        return {}
    pages = [(incident.tier or NO_TIER, page) for incident in touched
             for page in _pages([incident], ctx.window)]
    return {"pages_per_tier": _counts(tier for tier, _ in pages),
            "after_hours_pages_per_tier": _counts(tier for tier, page in pages
                                                  if ctx.after_hours(page.at))}


def _counts(names: Iterable[str]) -> dict[str, int]:
    """Counts, highest first, then by name."""
    counted = Counter(names)
    return dict(sorted(counted.items(), key=lambda pair: (-pair[1], pair[0])))


def _compare(
    this_week: list[IncidentRecord], last_week: list[IncidentRecord], figure: str
) -> WeekOverWeek:
    """One figure (an IncidentRecord property) summarised for this week and the one before."""
    get = attrgetter(figure)
    return WeekOverWeek(
        this_week=summary(_known(map(get, this_week))),
        previous_week=summary(_known(map(get, last_week))),
    )


def _pages_per_day(touched: list[IncidentRecord], ctx: _Week) -> PagesPerDay:
    first = ctx.window.start.astimezone(ctx.tz).date()
    last = (ctx.window.end - timedelta(microseconds=1)).astimezone(ctx.tz).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    teams = {team: [0] * len(days) for team in sorted({i.team for i in touched})}
    for incident in touched:
        for page in _pages([incident], ctx.window):
            teams[incident.team][(page.at.astimezone(ctx.tz).date() - first).days] += 1
    return PagesPerDay(days=days, teams=teams)

