"""The `schedules` block of oncall.yaml: rotations, overrides and who is on call at an instant.

Shift k (k >= 0) belongs to `members[k % len(members)]`. Shift 0 begins at `start`; every
later shift begins at a handoff. Handoffs happen at the handoff's local wall-clock time in
the schedule's zone: the first is the last handoff time (on the handoff weekday when the
rotation is whole weeks) within one rotation after `start`, so a first shift may be cut
short, as in PagerDuty; the others follow every rotation length in local calendar days. A
handoff time that a spring-forward gap skips happens when the clock jumps (02:30 -> 03:00);
one that a fall-back fold repeats happens at its first occurrence. All results are UTC.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    model_validator,
)

from bot.domain.durations import Duration

__all__ = [
    "EARLIEST",
    "WEEKDAYS",
    "Handoff",
    "HandoffSpec",
    "OnCall",
    "Override",
    "ScheduleSpec",
    "handoffs_between",
    "local_to_utc",
    "next_handoff",
    "shift_index",
    "who_is_on_call",
]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
"""The `shift_start` of the gap before a schedule starts (still convertible to any zone)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)
_SLACK_USER_RE = re.compile(r"[UW][A-Z0-9]{6,}")
_NAMED_ROTATIONS = {"daily": "1d", "weekly": "1w"}
_HHMM_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


# -- field types -----------------------------------------------------------------------------


def _check_user_id(value: str) -> str:
    if not _SLACK_USER_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a Slack user id (U or W, then 6+ capitals/digits)")
    return value


def _parse_hhmm(value: object) -> object:
    """Read "HH:MM"; YAML 1.1 reads an unquoted 10:30 as the number 630, so say to quote it."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f'write the time as quoted "HH:MM" (YAML read {value} as a number)')
    if isinstance(value, str):
        found = _HHMM_RE.fullmatch(value)
        if found is None:
            raise ValueError(f'{value!r} is not a time of day: expected "HH:MM", e.g. "09:00"')
        return time(int(found[1]), int(found[2]))
    return value


def _format_hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def _parse_start(value: object) -> object:
    """Read a local date and time such as "2026-01-05 09:00"; the zone is `time_zone`."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            message = f'{value!r} is not a date and time: expected "YYYY-MM-DD HH:MM"'
            raise ValueError(message) from None
    if isinstance(value, datetime) and value.tzinfo is not None:
        raise ValueError("start is a local time in time_zone: leave out the UTC offset")
    return value


def _named_rotation(value: object) -> object:
    return _NAMED_ROTATIONS.get(value.lower(), value) if isinstance(value, str) else value


def _whole_days(value: timedelta) -> timedelta:
    if value <= timedelta(0) or value % _DAY:
        raise ValueError("a rotation is daily, weekly or a whole number of days such as 3d or 2w")
    return value


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        message = f"unknown time zone {name!r}: expected an IANA name such as America/New_York"
        raise ValueError(message) from None
    return name


def _non_empty_unique(users: list[str]) -> list[str]:
    if not users:
        raise ValueError("list at least one Slack user id")
    twice = sorted({user for user in users if users.count(user) > 1})
    if twice:
        raise ValueError(f"each person may appear once; repeated: {', '.join(twice)}")
    return users


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("a time zone is required (an aware datetime)")
    return value.astimezone(UTC)


ZoneName = Annotated[str, AfterValidator(_known_zone)]
SlackUserId = Annotated[str, AfterValidator(_check_user_id)]
People = Annotated[list[SlackUserId], AfterValidator(_non_empty_unique)]
LocalTime = Annotated[
    time, BeforeValidator(_parse_hhmm), PlainSerializer(_format_hhmm, when_used="json")
]
Weekday = Annotated[
    Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
    BeforeValidator(lambda value: value.lower() if isinstance(value, str) else value),
]
Rotation = Annotated[Duration, BeforeValidator(_named_rotation), AfterValidator(_whole_days)]
LocalDateTime = Annotated[datetime, BeforeValidator(_parse_start)]
UtcDateTime = Annotated[datetime, AfterValidator(_aware_utc)]


# -- models ----------------------------------------------------------------------------------


class HandoffSpec(BaseModel):
    """When shifts change hands; each part defaults to `start`'s (weekday unused unless weeks)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weekday: Weekday | None = None
    time: LocalTime | None = None


class ScheduleSpec(BaseModel):
    """One rotation: who takes turns, how long a turn lasts, and when turns change hands."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_zone: ZoneName
    start: LocalDateTime
    rotation: Rotation
    handoff: HandoffSpec = HandoffSpec()
    members: People
    secondary: People | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def handoff_time(self) -> time:
        return self.start.time() if self.handoff.time is None else self.handoff.time

    @property
    def handoff_weekday(self) -> int | None:
        """Monday = 0; None unless the rotation is whole weeks (then handoffs keep a weekday)."""
        if self.rotation % _WEEK:
            return None
        named = self.handoff.weekday
        return WEEKDAYS.index(named) if named else self.start.weekday()


class Override(BaseModel):
    """Someone covers a role from start to end; among overlapping ones the latest created wins."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: SlackUserId
    start: UtcDateTime
    end: UtcDateTime
    role: Literal["primary", "secondary"] = "primary"
    created_at: UtcDateTime = _EPOCH  # equal created_at: the later one in the sequence wins

    @model_validator(mode="after")
    def _ends_after_start(self) -> Override:
        if self.end <= self.start:
            raise ValueError("an override must end after it starts")
        return self

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end


class OnCall(BaseModel):
    """Who is on call at an instant, and the stretch of time [shift_start, shift_end) it holds."""

    primary: str | None
    secondary: str | None
    shift_start: datetime
    shift_end: datetime
    next_handoff: datetime
    overridden: bool


class Handoff(BaseModel):
    """One change of hands in the rotation (overrides aside), for the handoff message."""

    at: datetime
    primary: str
    secondary: str | None
    previous_primary: str | None


# -- local wall-clock time -> UTC ------------------------------------------------------------


def local_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """Resolve a naive local time: a time in a gap happens when the clock jumps; a fold, first."""
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == local:
        return first
    return _gap_end(local, zone)


def _gap_end(local: datetime, zone: ZoneInfo) -> datetime:
    """The transition instant: bisect whole seconds between the two readings of `local`."""
    readings = [local.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)]
    low, high = ((reading - _EPOCH) // _SECOND for reading in sorted(readings))
    after = _offset(high, zone)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if _offset(middle, zone) == after else (middle, high)
    return _EPOCH + high * _SECOND


def _offset(seconds: int, zone: ZoneInfo) -> timedelta | None:
    return (_EPOCH + seconds * _SECOND).astimezone(zone).utcoffset()


# -- shift boundaries ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Boundaries:
    """Where shifts begin: shift 0 at start, shift k >= 1 at local first + (k - 1) * step."""

    zone: ZoneInfo
    start: datetime
    first: datetime
    step: timedelta

    def __call__(self, k: int) -> datetime:
        if k <= 0:
            return self.start if k == 0 else EARLIEST
        return local_to_utc(self.first + (k - 1) * self.step, self.zone)


def _boundaries(schedule: ScheduleSpec) -> _Boundaries:
    zone = schedule.zone
    start = local_to_utc(schedule.start, zone)
    return _Boundaries(zone, start, _first_handoff(schedule, start), schedule.rotation)


def _first_handoff(schedule: ScheduleSpec, start: datetime) -> datetime:
    """The last handoff time within one rotation of start: the first shift is never longer."""
    limit = schedule.start + schedule.rotation
    first = datetime.combine(limit.date(), schedule.handoff_time)
    weekday = schedule.handoff_weekday
    if weekday is not None:
        first -= (first.weekday() - weekday) % 7 * _DAY
    stride = _DAY if weekday is None else _WEEK
    first -= stride if first > limit else timedelta(0)
    while local_to_utc(first, schedule.zone) <= start:  # start and handoff in one DST gap
        first += stride
    return first


def _require_aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"{at} has no time zone: pass an aware datetime")
    return at.astimezone(UTC)


def _index(bounds: _Boundaries, at: datetime) -> int:
    """Estimate from local calendar time, then settle against the exact boundaries."""
    if at < bounds.start:
        return -1
    local = at.astimezone(bounds.zone).replace(tzinfo=None)
    k = max(0, (local - bounds.first) // bounds.step + 1)
    while k > 0 and bounds(k) > at:
        k -= 1
    while bounds(k + 1) <= at:
        k += 1
    return k


def shift_index(schedule: ScheduleSpec, at: datetime) -> int:
    """The number of the rotation shift holding `at`: 0 from start on, -1 before start."""
    return _index(_boundaries(schedule), _require_aware(at))


def next_handoff(schedule: ScheduleSpec, after: datetime) -> datetime:
    """The first handoff strictly after `after` (start itself, before the schedule starts)."""
    bounds = _boundaries(schedule)
    return bounds(_index(bounds, _require_aware(after)) + 1)


def handoffs_between(schedule: ScheduleSpec, after: datetime, until: datetime) -> list[Handoff]:
    """Handoffs in (after, until], so ticks that pass on `until` as `after` miss none."""
    bounds = _boundaries(schedule)
    first, last = (_index(bounds, _require_aware(edge)) for edge in (after, until))
    return [
        Handoff(
            at=bounds(k),
            primary=schedule.members[k % len(schedule.members)],
            secondary=_secondary(schedule, k),
            previous_primary=_primary(schedule, k - 1),
        )
        for k in range(first + 1, last + 1)
    ]


# -- who is on call --------------------------------------------------------------------------


def _primary(schedule: ScheduleSpec, k: int) -> str | None:
    return schedule.members[k % len(schedule.members)] if k >= 0 else None


def _secondary(schedule: ScheduleSpec, k: int) -> str | None:
    """The explicit secondary rotation, else the next primary (nobody when one member)."""
    if k < 0 or (schedule.secondary is None and len(schedule.members) == 1):
        return None
    if schedule.secondary is None:
        return _primary(schedule, k + 1)
    return schedule.secondary[k % len(schedule.secondary)]


def _winner(overrides: Sequence[Override], at: datetime, role: str) -> Override | None:
    ordered = sorted(enumerate(overrides), key=lambda pair: (pair[1].created_at, pair[0]))
    active = [item for _, item in ordered if item.role == role and item.covers(at)]
    return active[-1] if active else None


def who_is_on_call(
    schedule: ScheduleSpec, at: datetime, overrides: Sequence[Override] = ()
) -> OnCall:
    """Answer for one instant: the rotation's shift, with any active override on top."""
    at = _require_aware(at)
    bounds = _boundaries(schedule)
    k = _index(bounds, at)
    primary, secondary = _winner(overrides, at, "primary"), _winner(overrides, at, "secondary")
    # Any override start or end inside the shift splits it: the answer may change there.
    edges = [bounds(k), bounds(k + 1), *(t for item in overrides for t in (item.start, item.end))]
    return OnCall(
        primary=primary.user if primary else _primary(schedule, k),
        secondary=secondary.user if secondary else _secondary(schedule, k),
        shift_start=max(edge for edge in edges if edge <= at),
        shift_end=min(edge for edge in edges if edge > at),
        next_handoff=bounds(k + 1),
        overridden=primary is not None or secondary is not None,
    )
