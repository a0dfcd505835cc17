"""Digest windows, the cost-spike digest and the report statistics (median, nearest-rank p90)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.cost_digest import (
    NO_FIGURES,
    AmountError,
    build_cost_digest,
    digest_item,
    parse_amount,
    should_page,
    spike_ratio,
)
from bot.domain.digests import (
    DigestItem,
    Window,
    digest_window,
    last_due_window,
    previous_week,
    window_due,
)
from bot.domain.stats import Summary, nearest_rank, summary

H = timedelta(hours=1)
WINDOW = Window(datetime(2025, 3, 4, 10, tzinfo=UTC), datetime(2025, 3, 4, 11, tzinfo=UTC))
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)
)


def at(minute: int, hour: int = 10) -> datetime:
    return datetime(2025, 3, 4, hour, minute, tzinfo=UTC)


def item(service: str, model: str, minute: int, **fields: object) -> DigestItem:
    return DigestItem.model_validate(
        {"service": service, "model": model, "fired_at": at(minute), **fields}
    )


# -- reading amounts and ratios --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3.0),
        ("3.25", 3.25),
        (" 4.5 ", 4.5),
        ("3x", 3.0),
        ("3.2×", 3.2),
        ("$1,234.50", 1234.5),
        ("$ 12", 12.0),
        ("€7.5", 7.5),
        ("12.5 USD/h", 12.5),
        ("12.5USD/h", 12.5),
        ("1,000,000 tokens", 1e6),
        ("1.5e+02", 150.0),
        ("1.235k", 1235.0),
        ("2M", 2e6),
        ("250%", 2.5),
        (".5", 0.5),
        ("0", 0.0),
        ("+4", 4.0),
    ],
)
def test_reads_amounts_the_way_alert_rules_write_them(text: str, expected: float) -> None:
    assert parse_amount(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "not a number"),
        ("abc", "not a number"),
        ("NaN", "not a number"),
        ("+Inf", "not a number"),
        ("1.2.3", "not a number"),
        ("12 34", "not a number"),
        ("1,5", "not a number"),  # a decimal comma or a broken thousands group: refuse, not guess
        ("-3", "negative"),
        ("1e999", "too large"),
    ],
)
def test_refuses_what_is_not_a_plain_amount(text: str, problem: str) -> None:
    with pytest.raises(AmountError, match=problem):
        parse_amount(text)


@pytest.mark.parametrize(
    ("labels", "annotations", "ratio", "value", "baseline", "reason"),
    [
        ({"ratio": "6"}, {}, 6.0, None, None, "ratio as given"),
        ({}, {"ratio": "6.5x"}, 6.5, None, None, "ratio as given"),
        ({"ratio": "2"}, {"ratio": "7"}, 7.0, None, None, "ratio as given"),  # annotations win
        ({}, {"ratio": "4", "value": "$40", "baseline": "$10"}, 4.0, 40.0, 10.0, "ratio as given"),
        ({}, {"value": "$120/h", "baseline": "$40/h"}, 3.0, 120.0, 40.0, "value / baseline"),
        (
            {"value": "1,200 USD/h"},
            {"baseline": "300 USD/h"},
            4.0,
            1200.0,
            300.0,
            "value / baseline",
        ),
        ({}, {"ratio": "high", "value": "9", "baseline": "3"}, 3.0, 9.0, 3.0, "value / baseline"),
        ({}, {}, None, None, None, NO_FIGURES),
        ({"alertname": "CostSpike"}, {"summary": "spend up"}, None, None, None, NO_FIGURES),
        ({}, {"value": "12", "baseline": "0"}, math.inf, 12.0, 0.0, "baseline 0"),
        ({}, {"value": "0", "baseline": "0"}, math.inf, 0.0, 0.0, "baseline 0"),
        ({}, {"ratio": "+Inf"}, math.inf, None, None, "baseline 0"),
        ({"ratio": "NaN"}, {}, math.inf, None, None, "baseline 0"),
        ({}, {"value": "12"}, None, 12.0, None, "no baseline"),
        ({}, {"baseline": "12"}, None, None, 12.0, "no value"),
        ({}, {"value": "lots", "baseline": "3"}, None, None, 3.0, "value annotation 'lots'"),
        ({"baseline": "-3"}, {"value": "3"}, None, 3.0, None, "baseline label '-3' is negative"),
        ({}, {"ratio": "?"}, None, None, None, "ratio annotation '?' is not a number; no value/"),
        ({}, {"ratio": "?", "value": "1"}, None, 1.0, None, "ratio annotation '?' is not a "),
    ],
)
def test_spike_ratio(
    labels: dict[str, str],
    annotations: dict[str, str],
    ratio: float | None,
    value: float | None,
    baseline: float | None,
    reason: str,
) -> None:
    reading = spike_ratio(labels, annotations)
    assert (reading.ratio, reading.value, reading.baseline) == (ratio, value, baseline)
    assert reading.reason.startswith(reason)
    assert reading.known is (ratio is not None)


def test_the_unknown_reading_says_so() -> None:
    assert spike_ratio({}, {}).model_dump() == {
        "ratio": None,
        "value": None,
        "baseline": None,
        "reason": "no value/baseline or ratio labels",
    }


@pytest.mark.parametrize(
    ("annotations", "threshold", "pages"),
    [
        ({"ratio": "5"}, 5.0, True),
        ({"ratio": "4.99"}, 5.0, False),
        ({"value": "50", "baseline": "10"}, 5.0, True),
        ({"value": "50", "baseline": "0"}, 1000.0, True),  # infinite: "baseline 0" pages
        ({"ratio": "+Inf"}, 5.0, True),
        ({}, 0.0, False),
    ],
)
def test_pages_at_or_above_the_threshold_only_with_a_known_ratio(
    annotations: dict[str, str], threshold: float, pages: bool
) -> None:
    assert should_page(spike_ratio({}, annotations), threshold) is pages


def test_digest_item_reads_service_model_and_ratio_off_the_alert() -> None:
    labels = {"alertname": "CostSpike", "service": "chat", "model": "gpt-4o"}
    built = digest_item(labels, {"ratio": "3x"}, fired_at=at(5), still_firing=True)
    assert built == DigestItem(
        service="chat", model="gpt-4o", alertname="CostSpike", ratio=3.0, fired_at=at(5),
        still_firing=True, flagged_missing_ratio=False,
    )  # fmt: skip
    assert digest_item({}, {}, fired_at=at(5), still_firing=False).flagged_missing_ratio


# -- windows ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "period", "expected"),
    [
        (at(37), H, WINDOW),
        (at(0), H, WINDOW),  # half-open: the hour starts its own window
        (at(59) + timedelta(seconds=59.999), H, WINDOW),
        (datetime(2025, 3, 4, 12, 37, tzinfo=timezone(timedelta(hours=2))), H, WINDOW),
        (at(37, hour=11), 2 * H, Window(at(0), at(0, hour=12))),
        (at(37), timedelta(minutes=15), Window(at(30), at(45))),
        (
            datetime(2025, 3, 4, 5, tzinfo=UTC),
            24 * H,
            Window(datetime(2025, 3, 4, tzinfo=UTC), datetime(2025, 3, 5, tzinfo=UTC)),
        ),
    ],
)
def test_windows_align_to_the_utc_hour(
    moment: datetime, period: timedelta, expected: Window
) -> None:
    window = digest_window(moment, period)
    assert window == expected
    assert window.start.utcoffset() == timedelta(0)


@given(moment=moments, hours=st.sampled_from([1, 2, 3, 4, 6, 8, 12, 24]))
def test_a_window_holds_its_moment_and_starts_on_the_hour(moment: datetime, hours: int) -> None:
    window = digest_window(moment, timedelta(hours=hours))
    assert window.start <= moment < window.end
    assert window.end - window.start == timedelta(hours=hours)
    assert (window.start.minute, window.start.second, window.start.microsecond) == (0, 0, 0)
    assert window.start.hour % hours == 0


@pytest.mark.parametrize(
    "period",
    [timedelta(0), -H, timedelta(minutes=7), timedelta(minutes=90), timedelta(seconds=0.5)],
)
def test_refuses_periods_that_do_not_align_to_the_hour(period: timedelta) -> None:
    with pytest.raises(ValueError, match="divide an hour or be whole hours"):
        digest_window(at(0), period)


def test_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        digest_window(datetime(2025, 3, 4, 10))
    with pytest.raises(ValueError, match="timezone-aware"):
        previous_week(datetime(2025, 3, 4, 10), BERLIN)


def test_a_window_is_due_a_couple_of_minutes_after_it_closes() -> None:
    assert not window_due(WINDOW.end, at(1, hour=11))
    assert window_due(WINDOW.end, at(2, hour=11))
    assert window_due(WINDOW.end, at(1, hour=11), grace=timedelta(0))
    assert last_due_window(at(1, hour=11)) == Window(at(0, hour=9), at(0))
    assert last_due_window(at(2, hour=11)) == WINDOW


# -- weeks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "now", "start_utc", "hours"),
    [
        (BERLIN, datetime(2025, 3, 5, 12), datetime(2025, 2, 23, 23), 168),
        (BERLIN, datetime(2025, 4, 1, 9), datetime(2025, 3, 23, 23), 167),  # spring forward
        (BERLIN, datetime(2025, 10, 28, 9), datetime(2025, 10, 19, 22), 169),  # fall back
        (NEW_YORK, datetime(2025, 3, 12, 9), datetime(2025, 3, 3, 5), 167),
        (NEW_YORK, datetime(2025, 11, 4, 9), datetime(2025, 10, 27, 4), 169),
        (NEW_YORK, datetime(2025, 3, 10, 0), datetime(2025, 3, 3, 5), 167),  # Monday 00:00 itself
        (NEW_YORK, datetime(2025, 3, 9, 23, 59), datetime(2025, 2, 24, 5), 168),
    ],
)
def test_previous_week_is_the_last_calendar_week_in_the_team_zone(
    tz: ZoneInfo, now: datetime, start_utc: datetime, hours: int
) -> None:
    week = previous_week(now.replace(tzinfo=tz), tz)
    assert week.start == start_utc.replace(tzinfo=UTC)
    assert week.end - week.start == timedelta(hours=hours)
    assert week.start.tzinfo is UTC and week.end.tzinfo is UTC


@given(now=moments, tz=st.sampled_from([BERLIN, NEW_YORK]))
def test_previous_week_runs_monday_to_monday_local(now: datetime, tz: ZoneInfo) -> None:
    week = previous_week(now, tz)
    start, end = (moment.astimezone(tz) for moment in week)
    assert (start.weekday(), start.hour, start.minute) == (0, 0, 0)
    assert (end.weekday(), end.hour, end.minute) == (0, 0, 0)
    assert (end.date() - start.date()).days == 7
    local_now = now.astimezone(tz)
    assert week.end <= now  # the week is over...
    assert (local_now.date() - end.date()).days < 7  # ...and it is the one just before this one
    hours = (week.end - week.start) / H  # in UTC: same-zone subtraction would be wall-clock
    offset_change = (end.utcoffset() - start.utcoffset()) / H  # type: ignore[operator]
    assert hours == 168 - offset_change
    assert hours in {167, 168, 169}
    assert (hours != 168) == (offset_change != 0)


@given(now=moments, moment=moments, tz=st.sampled_from([BERLIN, NEW_YORK]))
def test_previous_week_holds_exactly_the_moments_of_those_seven_local_days(
    now: datetime, moment: datetime, tz: ZoneInfo
) -> None:
    week = previous_week(now, tz)
    local_now = now.astimezone(tz).date()
    monday = local_now - timedelta(days=local_now.weekday() + 7)
    inside = monday <= moment.astimezone(tz).date() < monday + timedelta(days=7)
    assert week.holds(moment) is inside
    for edge in (week.start, week.end - timedelta(microseconds=1)):
        assert week.holds(edge)
    assert not week.holds(week.end)


# -- the cost digest -------------------------------------------------------------------------


def test_an_empty_window_sends_nothing() -> None:
    assert build_cost_digest([], WINDOW) is None
    outside = [item("chat", "gpt-4o", 0, ratio=9).model_copy(update={"fired_at": at(0, 11)})]
    assert build_cost_digest(outside, WINDOW) is None


def test_one_line_per_service_and_model_with_its_figures() -> None:
    items = [
        item("chat", "gpt-4o", 5, value=30, baseline=10, ratio=3, alertname="CostSpike"),
        item("chat", "gpt-4o", 40, value=80, baseline=10, ratio=8, alertname="CostSpike"),
        item("chat", "gpt-4o", 50, value=None, baseline=12, ratio=None, still_firing=True,
             alertname="TokenSpike", flagged_missing_ratio=True),
        item("chat", "gpt-4o", 20, value=50, baseline=10, ratio=5, alertname="CostSpike"),
    ]  # fmt: skip
    digest = build_cost_digest(items, WINDOW)
    assert digest is not None
    [line] = digest.lines
    assert line.model_dump() == {
        "service": "chat",
        "model": "gpt-4o",
        "alertnames": ["CostSpike", "TokenSpike"],
        "spend_rate": 80.0,  # the latest value reported
        "baseline": 12.0,
        "ratio": 8.0,  # the worst
        "times_fired": 4,
        "first_seen": at(5),
        "last_seen": at(50),
        "still_firing": True,
        "missing_ratio": False,
        "baseline_zero": False,
    }
    assert (digest.window_start, digest.window_end, digest.times_fired) == (*WINDOW, 4)


def test_worst_ratio_first_and_lines_without_a_ratio_last_and_flagged() -> None:
    items = [
        item("search", "embed-3", 1, ratio=None, value=5, flagged_missing_ratio=True),
        item("chat", "gpt-4o", 2, ratio=3, value=30),
        item("rerank", "small", 3, ratio=12, value=1),
        item("chat", "mini", 4, ratio=3, value=90),  # same ratio, higher spend first
        item("agents", "claude", 5, ratio=None),
        item("chat", "gpt-4o", 9, ratio=None, flagged_missing_ratio=True),
    ]
    digest = build_cost_digest(items, WINDOW)
    assert digest is not None
    order = [(line.service, line.model, line.ratio, line.missing_ratio) for line in digest.lines]
    assert order == [
        ("rerank", "small", 12.0, False),
        ("chat", "mini", 3.0, False),
        ("chat", "gpt-4o", 3.0, False),  # one reading without a ratio does not flag the line
        ("search", "embed-3", None, True),  # unknown ratios: higher spend first
        ("agents", "claude", None, True),
    ]
    assert digest.lines_missing_ratio == 2
    assert digest.times_fired == 6


def test_only_items_fired_inside_the_window_count() -> None:
    items = [
        item("chat", "gpt-4o", 0, ratio=2),
        item("chat", "gpt-4o", 0, ratio=50).model_copy(update={"fired_at": WINDOW.end}),
        item("chat", "gpt-4o", 0, ratio=50).model_copy(update={"fired_at": at(59, hour=9)}),
    ]
    digest = build_cost_digest(items, WINDOW)
    assert digest is not None
    assert (digest.lines[0].ratio, digest.lines[0].times_fired) == (2.0, 1)


def test_the_cost_digest_prints_as_json() -> None:
    digest = build_cost_digest([item("chat", "gpt-4o", 5, ratio=3)], WINDOW)
    assert digest is not None
    printed = json.loads(json.dumps(digest.to_json()))
    assert printed["window_start"] == "2025-03-04T10:00:00Z"
    assert printed["lines"][0]["ratio"] == 3.0


# -- statistics ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], Summary(count=0, median=None, p90=None)),
        ([7], Summary(count=1, median=7, p90=7)),
        ([1, 2], Summary(count=2, median=1.5, p90=2)),
        ([3, 1, 2], Summary(count=3, median=2, p90=3)),
        (list(range(1, 11)), Summary(count=10, median=5.5, p90=9)),  # rank ceil(9.0) = 9
        (list(range(1, 12)), Summary(count=11, median=6, p90=10)),  # rank ceil(9.9) = 10
        (list(range(1, 71)), Summary(count=70, median=35.5, p90=63)),  # 0.9 * 70 in floats > 63
    ],
)
def test_summary_gives_median_and_nearest_rank_p90(values: list[int], expected: Summary) -> None:
    assert summary(values) == expected


def test_nearest_rank_refuses_what_has_no_rank() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        nearest_rank([], 90)
    with pytest.raises(ValueError, match="percent"):
        nearest_rank([1.0], 0)


@given(st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False), min_size=1))
def test_median_sits_between_min_and_max_and_p90_at_or_above_it(values: list[float]) -> None:
    result = summary(values)
    assert result.count == len(values)
    assert result.median is not None and result.p90 is not None
    assert min(values) <= result.median <= max(values)
    assert result.median <= result.p90 <= max(values)
    assert result.p90 in values
    at_or_below = sum(value <= result.p90 for value in values)
    assert at_or_below >= 0.9 * len(values)  # nearest rank: at least 90% are <= p90
