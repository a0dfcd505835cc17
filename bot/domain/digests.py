"""What the digests are given and when they run: the store's records and the clock.

The storage layer builds these plain records; the digests themselves live next door:
`cost_digest` (hourly cost spikes) and `noise` (the weekly noise review), with `stats`
for medians and p90s. Windows are half-open, [start, end), and come back as aware UTC
datetimes; a team's time zone matters only for where its week and business hours fall.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import NamedTuple

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "DEFAULT_GRACE",
    "HOUR",
    "ActionItemRecord",
    "DigestItem",
    "IncidentRecord",
    "PageRecord",
    "Window",
    "check_aware",
    "digest_window",
    "is_after_hours",
    "last_due_window",
    "previous_week",
    "week_before",
    "window_due",
]

HOUR = timedelta(hours=1)
DEFAULT_GRACE = timedelta(minutes=2)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WEEK = timedelta(days=7)


class Window(NamedTuple):
    """A half-open span of time [start, end), in UTC."""

    start: datetime
    end: datetime

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def check_aware(moment: datetime, name: str) -> datetime:
    """Refuse naive datetimes: a digest run by a server in another zone must not shift."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")
    return moment


# -- records the store builds ------------------------------------------------------------


class DigestItem(BaseModel):
    """One cost alert firing, as the store reads it (one per alert, not per redelivery)."""

    model_config = ConfigDict(frozen=True)

    service: str = ""
    model: str = ""
    alertname: str = ""
    value: float | None = None
    baseline: float | None = None
    ratio: float | None = None
    fired_at: AwareDatetime
    still_firing: bool = False
    flagged_missing_ratio: bool = False


class PageRecord(BaseModel):
    """One page one person received."""

    person: str
    at: AwareDatetime
    rotation: str


class IncidentRecord(BaseModel):
    """One incident as the store reads it for the review."""

    id: int
    team: str
    alertname: str
    route_key: str
    opened_at: AwareDatetime
    first_paged_at: AwareDatetime | None = None
    first_acked_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    resolved_by_source: bool = False
    paged: bool = False
    pages: list[PageRecord] = Field(default_factory=list)
    routed_to_humans: bool = False
    alert_fired_at: list[AwareDatetime] = Field(default_factory=list)
    auto_resolved_before_ack: bool = False
    tier: str = ""  # the support tier that applied when it opened (issue 14)
    verdicts: list[str] = Field(default_factory=list)  # feedback: bot.domain.feedback.Verdict

    @property
    def rule(self) -> tuple[str, str]:
        return (self.alertname, self.route_key)

    @property
    def acked(self) -> bool:
        """A paged incident somebody acked (unpaged ones do not count, as in the glossary)."""
        return self.paged and self.first_acked_at is not None

    @property
    def time_to_ack(self) -> float | None:
        """First ack minus first page, in seconds; an ack before the page counts as 0."""
        if not self.acked or self.first_paged_at is None or self.first_acked_at is None:
            return None
        return max(0.0, (self.first_acked_at - self.first_paged_at).total_seconds())

    @property
    def time_to_resolve(self) -> float | None:
        """Resolved minus opened, in seconds."""
        if self.resolved_at is None:
            return None
        return max(0.0, (self.resolved_at - self.opened_at).total_seconds())


class ActionItemRecord(BaseModel):
    """A follow-up from a postmortem: open until done, overdue once its date has passed."""

    id: int
    owner: str
    due: date | None = None
    done: bool = False
    title: str = ""


# -- the hourly cost digest ---------------------------------------------------------------


def digest_window(at: datetime, period: timedelta = HOUR) -> Window:
    """The window holding `at`; periods are aligned to the UTC hour (multiples from the epoch)."""
    check_aware(at, "at")
    _check_period(period)
    slot = (at - _EPOCH) // period
    start = _EPOCH + slot * period
    return Window(start, start + period)


def window_due(end: datetime, now: datetime, grace: timedelta = DEFAULT_GRACE) -> bool:
    """Send a window's digest a little after it closes, so late deliveries still make it."""
    return now >= end + grace


def last_due_window(
    now: datetime, period: timedelta = HOUR, grace: timedelta = DEFAULT_GRACE
) -> Window:
    """The most recent window whose digest is due at `now`: the scheduler's question."""
    current = digest_window(now - grace, period)
    return Window(current.start - period, current.start)


def _check_period(period: timedelta) -> None:
    seconds = period.total_seconds()
    whole = period % timedelta(seconds=1) == timedelta(0)
    if period <= timedelta(0) or not whole or (3600 % seconds and seconds % 3600):
        raise ValueError(f"a digest period must divide an hour or be whole hours, got {period}")


# -- the weekly noise review --------------------------------------------------------------


def previous_week(now: datetime, tz: tzinfo) -> Window:
    """The last full calendar week in `tz`, Monday 00:00 to Monday 00:00 (167 to 169 hours).

    Midnights are placed on the local calendar, so a week spanning a DST change is an
    hour shorter or longer; a midnight that a DST gap skips starts the day at the gap's end.
    """
    local = check_aware(now, "now").astimezone(tz)
    monday = local.date() - timedelta(days=local.weekday())
    this_week = datetime.combine(monday, time(0), tzinfo=tz)
    return Window(_utc(this_week - _WEEK), _utc(this_week))


def week_before(week: tuple[datetime, datetime], tz: tzinfo) -> Window:
    """The seven local days before `week` (for week-over-week figures), DST-safe."""
    start = week[0].astimezone(tz)
    return Window(_utc(start - _WEEK), week[0].astimezone(UTC))


def _utc(local: datetime) -> datetime:
    # Aware arithmetic in Python is wall-clock arithmetic: `local - 7 days` is the same
    # local time a week earlier, whatever DST did in between; only now convert.
    return local.astimezone(UTC)


def is_after_hours(moment: datetime, tz: tzinfo, business_hours: tuple[int, int]) -> bool:
    """Outside [start, end) o'clock, or on a Saturday or Sunday, in the team's time zone."""
    local = moment.astimezone(tz)
    start, end = business_hours
    return local.weekday() >= 5 or not start <= local.hour < end
