"""oncall.yaml keys of issue 14: change windows, service dependencies, context rules, tiers.

Models only (layer "config"); the pure evaluation lives in bot/domain/context_rules.py and
bot/domain/tiers.py, which take these models as they are.
"""

from __future__ import annotations

from datetime import time, timedelta
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.config_digests import check_time_zone
from bot.domain.durations import Duration
from bot.domain.matchers import Matcher, MatcherError, parse_matcher

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class BusinessHours(_Strict):
    """When a team works: weekdays and a daily span in the team's time zone."""

    days: list[str] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    start: time = time(9, 0)
    end: time = time(17, 0)

    @field_validator("days")
    @classmethod
    def _days(cls, values: list[str]) -> list[str]:
        days = [v.strip().lower()[:3] for v in values]
        for value, day in zip(values, days, strict=True):
            if day not in WEEKDAYS:
                raise ValueError(f"{value!r}: a weekday, e.g. mon, tue ... sun")
        if not days:
            raise ValueError("at least one weekday")
        return days

    @model_validator(mode="after")
    def _span(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError("end must be after start (e.g. start: '09:00', end: '17:00')")
        return self

    @cached_property
    def weekdays(self) -> frozenset[int]:
        return frozenset(WEEKDAYS.index(d) for d in self.days)

    @cached_property
    def text(self) -> str:
        return self.describe()

    def describe(self) -> str:
        days = ",".join(d.capitalize() for d in self.days)
        return f"{days} {self.start:%H:%M}–{self.end:%H:%M}"


class ServiceSpec(_Strict):
    """A service whose changes matter to another's alerts: `depends_on` lists them."""

    depends_on: list[str] = Field(default_factory=list)


class ChangesConfig(_Strict):
    """How far back the incident message looks for changes, and GitHub's mapping."""

    window: Duration = timedelta(hours=2)
    github_service_from: Literal["repository", "environment"] = Field(
        "repository", description="which part of a GitHub deployment names the service")


class AfterChange(_Strict):
    kinds: list[str] = Field(default_factory=list, description="none listed: any kind")
    within: Duration = timedelta(minutes=30)


def _parsed(values: list[str]) -> list[str]:
    for value in values:
        try:
            parse_matcher(value)
        except (MatcherError, ValueError) as exc:
            raise ValueError(str(exc)) from None
    return values


class WhileFiring(_Strict):
    matchers: list[str] = Field(min_length=1, description="another firing alert matches all")

    @field_validator("matchers")
    @classmethod
    def _check(cls, values: list[str]) -> list[str]:
        return _parsed(values)

    @cached_property
    def parsed(self) -> list[Matcher]:
        return [parse_matcher(m) for m in self.matchers]


class TimeCondition(_Strict):
    outside_business_hours: bool | None = None
    inside_business_hours: bool | None = None

    @model_validator(mode="after")
    def _one(self) -> TimeCondition:
        if self.outside_business_hours is None and self.inside_business_hours is None:
            raise ValueError("set outside_business_hours: true or inside_business_hours: true")
        return self


class RecentNoise(_Strict):
    dismissed_at_least: int = Field(ge=1)
    within: Duration = timedelta(days=7)


class ContextRule(_Strict):
    """While every condition holds (for an alert the `matchers` select), apply the effects."""

    name: str = Field(min_length=1, max_length=64)
    matchers: list[str] = Field(default_factory=list, description="which alerts; none: all")
    after_change: AfterChange | None = None
    while_firing: WhileFiring | None = None
    time: TimeCondition | None = None
    recent_noise: RecentNoise | None = None
    maintenance: bool | None = None
    raise_page_at: float | None = Field(None, gt=0, le=1)
    lower_page_at: float | None = Field(None, gt=0, le=1)
    demote_to: Literal["triage", "digest", "notify"] | None = None
    promote_to: Literal["page"] | None = None
    hold_for: Duration | None = None

    @field_validator("matchers")
    @classmethod
    def _check(cls, values: list[str]) -> list[str]:
        return _parsed(values)

    @cached_property
    def selects(self) -> list[Matcher]:
        return [parse_matcher(m) for m in self.matchers]

    @model_validator(mode="after")
    def _complete(self) -> ContextRule:
        conditions = (self.after_change, self.while_firing, self.time, self.recent_noise,
                      self.maintenance)
        if all(c is None for c in conditions):
            raise ValueError("a rule needs a condition: after_change, while_firing, time, "
                             "recent_noise or maintenance")
        effects = (self.raise_page_at, self.lower_page_at, self.demote_to, self.promote_to,
                   self.hold_for)
        if all(e is None for e in effects):
            raise ValueError("a rule needs an effect: raise_page_at, lower_page_at, demote_to, "
                             "promote_to or hold_for")
        if self.demote_to and self.promote_to:
            raise ValueError("demote_to and promote_to in one rule contradict each other")
        return self


class Tier(_Strict):
    """A support tier: when it pages, and what happens to its alerts otherwise."""

    pages: Literal["24/7", "business_hours", "never"] = "24/7"
    otherwise: Literal["notify", "digest", "notify_only"] = Field(
        "notify", description="notify: notify now and page when business hours start, if "
        "still open; digest: batch it; notify_only: notify and never page")
    time_zone: str | None = Field(None, description="default: the team's")
    business_hours: BusinessHours | None = Field(None, description="default: the team's")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return check_time_zone(value) if value is not None else None
