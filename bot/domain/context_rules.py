"""Context rules: which of the configured rules hold for one alert now, as Adjustments.

Pure. The caller gathers the facts (bot/services/context_facts.py): the recent changes of the
alert's service and its dependencies, the other alerts firing, the noise verdicts of the same
rule, whether the team is in maintenance. A rule holds when every condition it names holds;
its effects become one Adjustment (bot/domain/alert_path.py), named after the rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.alert_path import Adjustment
from bot.domain.alerts import Action
from bot.domain.business_hours import in_hours
from bot.domain.changes import ChangeLine, before_text
from bot.domain.durations import format_duration


@dataclass(frozen=True)
class ContextFacts:
    """What is true around one alert at one moment, gathered in bulk by the service."""

    changes: Sequence[ChangeLine] = ()  # of the alert's service and its dependencies
    firing: Sequence[Mapping[str, str]] = ()  # labels of the other alerts firing now
    #: rule name -> the firing alerts its while_firing matchers select (from `firing_for`),
    #: so a batch scans the firing alerts once per rule, not once per alert and rule
    firing_by_rule: Mapping[str, Sequence[Mapping[str, str]]] = field(default_factory=dict)
    noise: Sequence[datetime] = ()  # when the same rule was called noise (or dismissed)
    maintenance: bool = False  # the alert's team is in a maintenance window
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Where:
    """The team's time zone and business hours (an object with weekdays, start, end)."""

    zone: str
    hours: object


def holding(rules: Sequence, labels: Mapping[str, str], now: datetime, where: Where,
            facts: ContextFacts) -> list[Adjustment]:
    """The Adjustments of every rule that holds for this alert, in the config's order."""
    found = []
    for rule in rules:
        if not all(m.matches(labels) for m in rule.selects):
            continue
        reasons = _conditions(rule, labels, now, where, facts)
        if reasons is not None:
            found.append(_adjustment(rule, "; ".join(reasons)))
    return found


def _conditions(rule, labels, now: datetime, where: Where, facts: ContextFacts,
                ) -> list[str] | None:
    """Why each condition of the rule holds, or None as soon as one does not."""
    reasons = []
    for check in (_after_change, _while_firing, _time, _recent_noise, _maintenance):
        reason = check(rule, labels, now, where, facts)
        if reason is False:
            return None
        if reason:
            reasons.append(reason)
    return reasons


def _after_change(rule, labels, now, where, facts) -> str | bool | None:
    condition = rule.after_change
    if condition is None:
        return None
    kinds = set(condition.kinds)
    recent = [c for c in facts.changes if (not kinds or c.kind in kinds)
              and now - condition.within <= c.at <= now]
    if not recent:
        return False
    last = max(recent, key=lambda c: c.at)
    version = f" {last.version}" if last.version else ""
    return f"{last.kind}{version} of {last.service} {before_text(last.at, now)}"


def _while_firing(rule, labels, now, where, facts) -> str | bool | None:
    condition = rule.while_firing
    if condition is None:
        return None
    candidates = facts.firing_by_rule.get(rule.name)
    if candidates is None:
        candidates = firing_for(rule, facts.firing)
    for other in candidates:
        if other != labels:
            return f"{other.get('alertname', 'an alert')} is firing"
    return False


def firing_for(rule, firing: Sequence[Mapping[str, str]]) -> list[Mapping[str, str]]:
    """The firing alerts a rule's while_firing matchers select (at most two are needed: one
    of them may be the alert being routed)."""
    tests = [m.predicate() for m in rule.while_firing.parsed]
    found = []
    for labels in firing:
        if all(test(labels) for test in tests):
            found.append(labels)
            if len(found) == 2:
                break
    return found


def _time(rule, labels, now, where, facts) -> str | bool | None:
    condition = rule.time
    if condition is None:
        return None
    inside = in_hours(now, where.zone, where.hours)
    if condition.outside_business_hours and inside:
        return False
    if condition.inside_business_hours and not inside:
        return False
    word = "inside" if inside else "outside"
    return f"{word} business hours ({where.hours.describe()} {where.zone})"


def _recent_noise(rule, labels, now, where, facts) -> str | bool | None:
    condition = rule.recent_noise
    if condition is None:
        return None
    count = sum(1 for at in facts.noise if now - condition.within <= at <= now)
    if count < condition.dismissed_at_least:
        return False
    return f"called noise {count}× in {format_duration(condition.within)}"


def _maintenance(rule, labels, now, where, facts) -> str | bool | None:
    if rule.maintenance is None:
        return None
    if rule.maintenance != facts.maintenance:
        return False
    return "team in maintenance" if facts.maintenance else "no maintenance"


def _adjustment(rule, why: str) -> Adjustment:
    delta = (rule.raise_page_at or 0.0) - (rule.lower_page_at or 0.0)
    return Adjustment(
        rule=rule.name, why=why, page_at_delta=delta,
        demote_to=Action(rule.demote_to) if rule.demote_to else None,
        promote_to=Action(rule.promote_to) if rule.promote_to else None,
        hold_for=rule.hold_for)
