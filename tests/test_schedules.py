"""Schedules: rotation order, overrides, the gap before start, DST, and properties over zones."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.domain.schedules import (
    EARLIEST,
    Override,
    ScheduleSpec,
    handoffs_between,
    local_to_utc,
    next_handoff,
    shift_index,
    who_is_on_call,
)

A, B, C, D, E, X = (
    "U0AAAAAAA1",
    "U0BBBBBBB2",
    "U0CCCCCCC3",
    "U0DDDDDDD4",
    "W0EEEEEEE5",
    "U0XXXXXXX9",
)
NY, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
TICK = timedelta(microseconds=1)


def spec(**fields: Any) -> ScheduleSpec:
    """ai-eng from the issue: New York, weekly from Monday 2026-01-05 09:00, members A B C."""
    base = {"time_zone": "America/New_York", "start": "2026-01-05 09:00", "rotation": "weekly"}
    return ScheduleSpec.model_validate({**base, "members": [A, B, C], **fields})


def ny(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=NY, fold=fold)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def cover(user: str, start: datetime, end: datetime, **fields: Any) -> Override:
    return Override(user=user, start=start, end=end, **fields)


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"time_zone": "America/New_Yrok"}, "unknown time zone 'America/New_Yrok'"),
        ({"time_zone": "../etc/passwd"}, "unknown time zone '../etc/passwd'"),
        ({"start": "next monday"}, "'next monday' is not a date and time"),
        ({"start": "2026-01-05 09:00+01:00"}, "leave out the UTC offset"),
        ({"members": []}, "at least one Slack user id"),
        ({"members": [A, B, A]}, f"repeated: {A}"),
        ({"members": ["alice"]}, "'alice' is not a Slack user id"),
        ({"members": ["u0aaaaaaa1"]}, "is not a Slack user id"),
        ({"members": ["C0123456789"]}, "is not a Slack user id"),
        ({"members": ["U12345"]}, "is not a Slack user id"),
        ({"secondary": []}, "at least one Slack user id"),
        ({"rotation": "36h"}, "whole number of days"),
        ({"rotation": "0"}, "whole number of days"),
        ({"rotation": "fortnightly"}, "not a valid duration 'fortnightly'"),
        ({"handoff": {"weekday": "mondy"}}, "handoff.weekday"),
        ({"handoff": {"time": "9:00"}}, "'9:00' is not a time of day"),
        ({"handoff": {"time": "24:00"}}, "'24:00' is not a time of day"),
        ({"handoff": {"time": 630}}, "YAML read 630 as a number"),
        ({"handoff": {"day": "monday"}}, "handoff.day"),
        ({"layers": 2}, "layers"),
    ],
)
def test_refuses_bad_schedules_naming_the_problem(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("+", r"\+")):
        spec(**fields)


def test_reads_the_issue_example() -> None:
    schedule = spec(
        handoff={"weekday": "Monday", "time": "09:00"}, secondary=[D, E], members=["W0123456"]
    )
    assert schedule.rotation == 7 * DAY
    assert (schedule.handoff_weekday, schedule.handoff_time) == (0, time(9, 0))
    assert schedule.start == datetime(2026, 1, 5, 9, 0)


def test_round_trips_through_json() -> None:
    schedule = spec(handoff={"weekday": "friday", "time": "17:30"}, secondary=[D], rotation="3d")
    dumped = schedule.model_dump(mode="json")
    assert (dumped["rotation"], dumped["handoff"]["time"]) == ("3d", "17:30")
    assert ScheduleSpec.model_validate(dumped) == schedule


@pytest.mark.parametrize(("text", "days"), [("daily", 1), ("Weekly", 7), ("3d", 3), ("2w", 14)])
def test_reads_rotation_lengths(text: str, days: int) -> None:
    assert spec(rotation=text).rotation == days * DAY


def test_overrides_need_an_end_after_the_start_and_aware_times() -> None:
    with pytest.raises(ValidationError, match="end after it starts"):
        cover(D, utc(2026, 1, 6), utc(2026, 1, 6))
    with pytest.raises(ValidationError, match="time zone is required"):
        cover(D, datetime(2026, 1, 6), utc(2026, 1, 7))
    assert cover(D, ny(2026, 1, 6), ny(2026, 1, 7)).start == utc(2026, 1, 6, 5)


def test_refuses_a_naive_instant() -> None:
    with pytest.raises(ValueError, match="pass an aware datetime"):
        who_is_on_call(spec(), datetime(2026, 1, 6))


# -- rotation order ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "at", "primary", "secondary"),
    [
        ({}, ny(2026, 1, 5, 9), A, B),
        ({}, ny(2026, 1, 12, 8, 59), A, B),
        ({}, ny(2026, 1, 12, 9), B, C),
        ({}, ny(2026, 1, 19, 9), C, A),
        ({}, ny(2026, 1, 26, 9), A, B),
        ({"rotation": "daily"}, ny(2026, 1, 6, 9), B, C),
        ({"rotation": "daily"}, ny(2026, 1, 7, 8, 59), B, C),
        ({"rotation": "daily"}, ny(2026, 1, 8, 9), A, B),
        ({"rotation": "3d"}, ny(2026, 1, 8, 8, 59), A, B),
        ({"rotation": "3d"}, ny(2026, 1, 8, 9), B, C),
        ({"rotation": "3d"}, ny(2026, 1, 11, 9), C, A),
        ({"rotation": "2w"}, ny(2026, 1, 19, 8, 59), A, B),
        ({"rotation": "2w"}, ny(2026, 1, 19, 9), B, C),
        # the first shift is one rotation, cut short to end at a handoff time
        ({"rotation": "3d", "handoff": {"time": "10:00"}}, ny(2026, 1, 7, 9, 59), A, B),
        ({"rotation": "3d", "handoff": {"time": "10:00"}}, ny(2026, 1, 7, 10), B, C),
        ({"rotation": "3d", "handoff": {"time": "10:00"}}, ny(2026, 1, 10, 10), C, A),
        ({"rotation": "2w", "handoff": {"weekday": "wednesday"}}, ny(2026, 1, 14, 8, 59), A, B),
        ({"rotation": "2w", "handoff": {"weekday": "wednesday"}}, ny(2026, 1, 14, 9), B, C),
        ({"secondary": [D, E]}, ny(2026, 1, 5, 9), A, D),
        ({"secondary": [D, E]}, ny(2026, 1, 12, 9), B, E),
        ({"secondary": [D, E]}, ny(2026, 1, 19, 9), C, D),
        ({"members": [A]}, ny(2026, 1, 19, 9), A, None),
        ({"handoff": {"weekday": "wednesday", "time": "10:00"}}, ny(2026, 1, 7, 9, 59), A, B),
        ({"handoff": {"weekday": "wednesday", "time": "10:00"}}, ny(2026, 1, 7, 10), B, C),
        ({"handoff": {"weekday": "wednesday", "time": "10:00"}}, ny(2026, 1, 14, 10), C, A),
        ({"handoff": {"weekday": "monday", "time": "08:00"}}, ny(2026, 1, 12, 7, 59), A, B),
        ({"handoff": {"weekday": "monday", "time": "08:00"}}, ny(2026, 1, 12, 8), B, C),
        # a weekday means nothing for a daily rotation
        ({"rotation": "daily", "handoff": {"weekday": "friday", "time": "08:00"}},
         ny(2026, 1, 6, 8), B, C),
    ],
)  # fmt: skip
def test_rotation_order(
    fields: dict[str, Any], at: datetime, primary: str, secondary: str | None
) -> None:
    on_call = who_is_on_call(spec(**fields), at)
    assert (on_call.primary, on_call.secondary) == (primary, secondary)
    assert not on_call.overridden


def test_a_shift_runs_from_handoff_to_handoff() -> None:
    on_call = who_is_on_call(spec(), ny(2026, 1, 14, 3))
    assert on_call.shift_start == ny(2026, 1, 12, 9) == utc(2026, 1, 12, 14)
    assert on_call.shift_end == on_call.next_handoff == ny(2026, 1, 19, 9)
    assert on_call.shift_start.tzinfo is UTC
    assert shift_index(spec(), ny(2026, 1, 14, 3)) == 1


def test_before_start_nobody_is_on_call() -> None:
    on_call = who_is_on_call(spec(), ny(2026, 1, 5, 8, 59))
    assert (on_call.primary, on_call.secondary, on_call.overridden) == (None, None, False)
    assert on_call.next_handoff == on_call.shift_end == ny(2026, 1, 5, 9)
    assert on_call.shift_start == EARLIEST
    assert shift_index(spec(), ny(2026, 1, 5, 8, 59)) == -1


def test_handoffs_between_is_half_open_and_starts_with_the_first_shift() -> None:
    found = handoffs_between(spec(), ny(2026, 1, 1), ny(2026, 1, 19, 9))
    assert [(h.at, h.primary, h.secondary, h.previous_primary) for h in found] == [
        (ny(2026, 1, 5, 9), A, B, None),
        (ny(2026, 1, 12, 9), B, C, A),
        (ny(2026, 1, 19, 9), C, A, B),
    ]
    assert handoffs_between(spec(), ny(2026, 1, 12, 9), ny(2026, 1, 19, 8)) == []


def test_next_handoff_is_strictly_after() -> None:
    assert next_handoff(spec(), ny(2026, 1, 1)) == ny(2026, 1, 5, 9)
    assert next_handoff(spec(), ny(2026, 1, 5, 9)) == ny(2026, 1, 12, 9)
    assert next_handoff(spec(), ny(2026, 1, 12, 8, 59)) == ny(2026, 1, 12, 9)


# -- overrides -----------------------------------------------------------------------------

OVER = cover(D, ny(2026, 1, 6, 12), ny(2026, 1, 7, 12), created_at=utc(2026, 1, 1))


@pytest.mark.parametrize(
    ("at", "overrides", "primary", "secondary", "start", "end"),
    [
        # active: the override wins and bounds the answer
        (ny(2026, 1, 6, 18), [OVER], D, B, ny(2026, 1, 6, 12), ny(2026, 1, 7, 12)),
        # before it: the answer holds until the override starts
        (ny(2026, 1, 6, 9), [OVER], A, B, ny(2026, 1, 5, 9), ny(2026, 1, 6, 12)),
        # expired: back to the rotation since the override ended
        (ny(2026, 1, 8), [OVER], A, B, ny(2026, 1, 7, 12), ny(2026, 1, 12, 9)),
        # past the handoff: the shift end still bounds it
        (ny(2026, 1, 11), [cover(D, ny(2026, 1, 10), ny(2026, 1, 14))], D, B,
         ny(2026, 1, 10), ny(2026, 1, 12, 9)),
        (ny(2026, 1, 12, 10), [cover(D, ny(2026, 1, 10), ny(2026, 1, 14))], D, C,
         ny(2026, 1, 12, 9), ny(2026, 1, 14)),
        # overlapping: the latest created wins, whatever the order given
        (ny(2026, 1, 7), [cover(E, ny(2026, 1, 6), ny(2026, 1, 8), created_at=utc(2026, 1, 2)),
                          OVER], E, B, ny(2026, 1, 6, 12), ny(2026, 1, 7, 12)),
        (ny(2026, 1, 7), [cover(E, ny(2026, 1, 6), ny(2026, 1, 8), created_at=utc(2025, 12, 1)),
                          OVER], D, B, ny(2026, 1, 6, 12), ny(2026, 1, 7, 12)),
        # same created_at: the later one in the sequence wins
        (ny(2026, 1, 7), [cover(E, ny(2026, 1, 6), ny(2026, 1, 8)),
                          cover(D, ny(2026, 1, 6), ny(2026, 1, 8))], D, B,
         ny(2026, 1, 6), ny(2026, 1, 8)),
        # secondary: the primary stays
        (ny(2026, 1, 7), [cover(E, ny(2026, 1, 6), ny(2026, 1, 8), role="secondary")], A, E,
         ny(2026, 1, 6), ny(2026, 1, 8)),
        # before start: an override fills the gap
        (ny(2026, 1, 4), [cover(D, ny(2026, 1, 3), ny(2026, 1, 6))], D, None,
         ny(2026, 1, 3), ny(2026, 1, 5, 9)),
    ],
)  # fmt: skip
def test_overrides(
    at: datetime,
    overrides: list[Override],
    primary: str,
    secondary: str | None,
    start: datetime,
    end: datetime,
) -> None:
    on_call = who_is_on_call(spec(), at, overrides)
    assert (on_call.primary, on_call.secondary) == (primary, secondary)
    assert (on_call.shift_start, on_call.shift_end) == (start, end)
    assert on_call.overridden == any(item.covers(at) for item in overrides)
    assert on_call.next_handoff == next_handoff(spec(), at)


# -- DST -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "after", "until", "utc_hours"),
    [
        ("America/New_York", utc(2026, 3, 1), utc(2026, 3, 10), [14, 13]),  # spring forward 3-08
        ("America/New_York", utc(2026, 10, 25), utc(2026, 11, 3), [13, 14]),  # fall back 11-01
        ("Europe/Berlin", utc(2026, 3, 22), utc(2026, 3, 31), [8, 7]),  # spring forward 3-29
        ("Europe/Berlin", utc(2026, 10, 18), utc(2026, 10, 27), [7, 8]),  # fall back 10-25
    ],
)
def test_weekly_handoff_keeps_local_time_across_dst(
    zone: str, after: datetime, until: datetime, utc_hours: list[int]
) -> None:
    found = handoffs_between(spec(time_zone=zone), after, until)
    local = [handoff.at.astimezone(ZoneInfo(zone)) for handoff in found]
    assert [(at.weekday(), at.time()) for at in local] == [(0, time(9, 0))] * 2
    assert [handoff.at.hour for handoff in found] == utc_hours
    assert local[0].utcoffset() != local[1].utcoffset()
    shift = 7 * DAY - (local[1].utcoffset() - local[0].utcoffset())  # type: ignore[operator]
    assert found[1].at - found[0].at == shift


def test_a_handoff_in_the_spring_forward_gap_happens_when_the_clock_jumps() -> None:
    schedule = spec(start="2026-03-01 02:30", rotation="daily")
    found = handoffs_between(schedule, utc(2026, 3, 7), utc(2026, 3, 10))
    assert [h.at for h in found] == [
        utc(2026, 3, 7, 7, 30),
        utc(2026, 3, 8, 7),
        utc(2026, 3, 9, 6, 30),
    ]
    assert found[1].at.astimezone(NY).time() == time(3, 0)
    assert found[2].at.astimezone(NY).time() == time(2, 30)
    on_call = who_is_on_call(schedule, ny(2026, 3, 8, 4))
    assert (on_call.shift_start, on_call.shift_end) == (utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30))


def test_a_handoff_in_the_fall_back_fold_happens_at_the_first_occurrence() -> None:
    schedule = spec(start="2026-10-25 01:30", rotation="daily")
    found = handoffs_between(schedule, utc(2026, 10, 31, 12), utc(2026, 11, 2, 12))
    assert found[0].at.astimezone(NY).replace(tzinfo=None) == datetime(2026, 11, 1, 1, 30)
    assert found[0].at.astimezone(NY).fold == 0
    assert [h.at for h in found] == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]
    # the second 01:30 is not a second handoff: that shift lasts 25 hours
    assert shift_index(schedule, ny(2026, 11, 1, 1, 30, fold=1)) == 7
    assert next_handoff(schedule, ny(2026, 11, 1, 1, 30, fold=1)) == utc(2026, 11, 2, 6, 30)


def test_a_start_in_the_gap_begins_when_the_clock_jumps() -> None:
    assert who_is_on_call(spec(start="2026-03-08 02:30"), utc(2026, 3, 8, 7)).primary == A
    assert who_is_on_call(spec(start="2026-03-08 02:30"), utc(2026, 3, 8, 6, 59)).primary is None


@pytest.mark.parametrize(
    ("zone", "local", "expected"),
    [
        ("America/New_York", datetime(2026, 3, 8, 2, 30), utc(2026, 3, 8, 7)),
        ("America/New_York", datetime(2026, 11, 1, 1, 30), utc(2026, 11, 1, 5, 30)),
        ("Europe/Berlin", datetime(2026, 3, 29, 2, 59), utc(2026, 3, 29, 1)),
        ("Australia/Sydney", datetime(2026, 10, 4, 2, 15), utc(2026, 10, 3, 16)),
        ("Australia/Lord_Howe", datetime(2026, 10, 4, 2, 15), utc(2026, 10, 3, 15, 30)),
        ("Asia/Kolkata", datetime(2026, 3, 8, 2, 30), utc(2026, 3, 7, 21)),
    ],
)
def test_local_to_utc(zone: str, local: datetime, expected: datetime) -> None:
    assert local_to_utc(local, ZoneInfo(zone)) == expected


# -- properties ----------------------------------------------------------------------------

ZONES = ["America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata", "UTC"]
IDS = [f"U0PERSON{n:02d}" for n in range(8)]


@st.composite
def schedules(draw: st.DrawFn) -> ScheduleSpec:
    """Any zone, start, rotation length, handoff and members (secondary explicit or not)."""
    start = draw(st.datetimes(datetime(2000, 1, 1), datetime(2035, 12, 31))).replace(
        second=0, microsecond=0
    )
    handoff = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "weekday": st.sampled_from(["monday", "wednesday", "sunday"]),
                "time": st.times().map(lambda t: t.strftime("%H:%M")),
            },
        )
    )
    members = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=5, unique=True))
    return ScheduleSpec(
        time_zone=draw(st.sampled_from(ZONES)),
        start=start.strftime("%Y-%m-%d %H:%M"),
        rotation=f"{draw(st.sampled_from([1, 2, 3, 5, 7, 14]))}d",
        handoff=handoff,
        members=members,
        secondary=draw(st.none() | st.lists(st.sampled_from(IDS), min_size=1, unique=True)),
    )


def start_of(schedule: ScheduleSpec) -> datetime:
    return next_handoff(schedule, EARLIEST)


offsets = st.timedeltas(timedelta(0), timedelta(days=3 * 365))


@settings(max_examples=200)
@given(schedules(), offsets)
def test_one_primary_whose_shift_holds_the_instant(
    schedule: ScheduleSpec, offset: timedelta
) -> None:
    at = start_of(schedule) + offset
    on_call = who_is_on_call(schedule, at)
    k = shift_index(schedule, at)
    assert on_call.primary == schedule.members[k % len(schedule.members)]
    assert on_call.shift_start <= at < on_call.shift_end == on_call.next_handoff
    assert shift_index(schedule, on_call.shift_start) == k
    assert shift_index(schedule, on_call.shift_end - TICK) == k
    assert shift_index(schedule, on_call.shift_end) == k + 1
    assert k == 0 or shift_index(schedule, on_call.shift_start - TICK) == k - 1
    if k == 0:  # one rotation at most, cut short to end at a handoff time
        assert on_call.shift_end - on_call.shift_start <= schedule.rotation + HOUR


@given(schedules(), offsets.map(lambda offset: offset + TICK))
def test_nobody_before_start(schedule: ScheduleSpec, offset: timedelta) -> None:
    on_call = who_is_on_call(schedule, start_of(schedule) - offset)
    assert (on_call.primary, on_call.secondary) == (None, None)
    assert on_call.next_handoff == on_call.shift_end == start_of(schedule)


def at_configured_time(schedule: ScheduleSpec, at: datetime) -> bool:
    """At the handoff's wall-clock time (its first occurrence), or when a gap skipping it ends."""
    zone = schedule.zone
    before, local = (at - TICK).astimezone(zone), at.astimezone(zone)
    wanted = datetime.combine(local.date(), schedule.handoff_time)
    if local.replace(tzinfo=None) == wanted:
        return local.fold == 0
    jumped = before.utcoffset() != local.utcoffset()
    return jumped and before.replace(tzinfo=None) < wanted < local.replace(tzinfo=None)


@settings(max_examples=100)
@given(schedules(), offsets)
def test_handoffs_at_the_local_time_rotating_in_order(
    schedule: ScheduleSpec, offset: timedelta
) -> None:
    after = start_of(schedule) + offset
    found = handoffs_between(schedule, after, after + 40 * DAY)
    k = shift_index(schedule, after)
    assert len(found) >= 40 // (schedule.rotation // DAY) - 1  # - 1: a 25-hour day
    members = schedule.members
    for n, handoff in enumerate(found, start=1):
        assert at_configured_time(schedule, handoff.at)
        assert handoff.primary == members[(k + n) % len(members)]
        assert handoff.previous_primary == members[(k + n - 1) % len(members)]
        assert who_is_on_call(schedule, handoff.at).primary == handoff.primary
        assert who_is_on_call(schedule, handoff.at - TICK).primary == handoff.previous_primary
    dates = [handoff.at.astimezone(schedule.zone).date() for handoff in found]
    assert all(b - a == schedule.rotation for a, b in itertools.pairwise(dates))
    if schedule.handoff_weekday is not None:
        assert {date.weekday() for date in dates} <= {schedule.handoff_weekday}


@settings(max_examples=200)
@given(schedules(), st.integers(0, 6), st.floats(0, 1, exclude_max=True))
def test_adding_a_member_keeps_everything_before_their_first_shift(
    schedule: ScheduleSpec, shift: int, fraction: float
) -> None:
    """Adding X after the n members changes nothing before shift n, X's first shift.

    Timing never depends on members. Primaries agree in shifts 0..n-1 and X has shift n.
    An explicit secondary rotation agrees everywhere; the default secondary (the next
    primary) agrees in shifts 0..n-2 and is X in shift n-1.
    """
    n = len(schedule.members)
    grown = schedule.model_copy(update={"members": [*schedule.members, X]})
    start = start_of(schedule)
    bounds = [h.at for h in handoffs_between(schedule, EARLIEST, start + 8 * 15 * DAY)]
    at = bounds[shift] + (bounds[shift + 1] - bounds[shift]) * fraction
    old, new = who_is_on_call(schedule, at), who_is_on_call(grown, at)
    k = shift_index(schedule, at)
    assert shift_index(grown, at) == k
    assert (old.shift_start, old.shift_end) == (new.shift_start, new.shift_end)
    if k < n:
        assert new.primary == old.primary
    if k == n:
        assert new.primary == X
    if schedule.secondary is not None or k < n - 1:
        assert new.secondary == old.secondary
    elif k == n - 1:
        assert new.secondary == X


@settings(max_examples=200)
@given(schedules(), offsets, st.lists(st.tuples(offsets, offsets, st.sampled_from(IDS),
       st.booleans(), st.integers(0, 3)), max_size=4))  # fmt: skip
def test_overrides_hold_constant_answers(
    schedule: ScheduleSpec, offset: timedelta, raw: list[tuple[Any, ...]]
) -> None:
    """The latest-created active override wins, and the answer holds across its stretch."""
    start = start_of(schedule)
    overrides = [
        Override(
            user=user,
            start=start + begin / 50,
            end=start + begin / 50 + length / 100 + TICK,
            role="secondary" if secondary else "primary",
            created_at=utc(2020, 1, 1) + created * DAY,
        )
        for begin, length, user, secondary, created in raw
    ]
    at = start + offset / 50
    on_call = who_is_on_call(schedule, at, overrides)
    assert on_call.shift_start <= at < on_call.shift_end <= on_call.next_handoff
    for edge in (on_call.shift_start, on_call.shift_end - TICK):
        again = who_is_on_call(schedule, edge, overrides)
        assert (again.primary, again.secondary) == (on_call.primary, on_call.secondary)
    active = [o for o in overrides if o.covers(at) and o.role == "primary"]
    latest = max(enumerate(active), key=lambda p: (p[1].created_at, p[0]), default=None)
    assert on_call.primary == (latest[1].user if latest else who_is_on_call(schedule, at).primary)
