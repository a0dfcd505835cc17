"""Prometheus durations: the grammar Alertmanager reads, the text we write back, the field type."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from bot.domain.durations import (
    Duration,
    DurationError,
    format_duration,
    format_elapsed,
    parse_duration,
)

DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2h30m", timedelta(hours=2, minutes=30)),
        ("1d", DAY),
        ("1w", 7 * DAY),
        ("1y", 365 * DAY),
        ("500ms", timedelta(milliseconds=500)),
        ("1m30s500ms", timedelta(minutes=1, seconds=30, milliseconds=500)),
        (
            "1y2w3d4h5m6s7ms",
            timedelta(days=365 + 14 + 3, hours=4, minutes=5, seconds=6, milliseconds=7),
        ),
        ("0", timedelta(0)),
        ("0s", timedelta(0)),
        ("007m", timedelta(minutes=7)),
    ],
)
def test_parses_prometheus_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "5", "1.5h", "-1s", "5 m", "1h 30m", " 5m", "5m ", "1m1h", "1s1s", "5M", "٣s", "P1D"],
)
def test_refuses_what_prometheus_refuses(text: str) -> None:
    with pytest.raises(DurationError, match="expected a Prometheus duration"):
        parse_duration(text)


def test_error_message_shows_the_input_and_examples() -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration("5 minutes")
    assert "'5 minutes'" in str(caught.value)
    assert "1h30m" in str(caught.value)


def test_refuses_durations_longer_than_go_can_hold() -> None:
    with pytest.raises(DurationError, match="too long"):
        parse_duration("300y")


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=90), "90s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=1, minutes=30), "90m"),
        (timedelta(hours=36), "36h"),
        (DAY, "1d"),
        (14 * DAY, "2w"),
        (366 * DAY, "366d"),
        (timedelta(hours=1, seconds=1), "1h1s"),
        (timedelta(milliseconds=1500), "1500ms"),
    ],
)
def test_formats_the_shortest_text(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


@pytest.mark.parametrize("duration", [timedelta(seconds=-1), timedelta(microseconds=1500)])
def test_format_refuses_what_the_text_cannot_carry(duration: timedelta) -> None:
    with pytest.raises(DurationError):
        format_duration(duration)


@given(st.integers(min_value=0, max_value=10**12))
def test_format_then_parse_round_trips(milliseconds: int) -> None:
    duration = timedelta(milliseconds=milliseconds)
    text = format_duration(duration)
    assert parse_duration(text) == duration
    assert len(text) <= len(_greedy(milliseconds))


def _greedy(milliseconds: int) -> str:
    """Prometheus's own rendering (largest units first): never shorter than ours."""
    units = [("y", 31536000000), ("w", 604800000), ("d", 86400000), ("h", 3600000)]
    units += [("m", 60000), ("s", 1000), ("ms", 1)]
    parts = []
    for unit, size in units:
        count, milliseconds = divmod(milliseconds, size)
        parts += [f"{count}{unit}"] if count else []
    return "".join(parts) or "0s"


class _Timers(BaseModel):
    wait: Duration
    later: Duration | None = None


def test_field_reads_strings_and_timedeltas() -> None:
    timers = _Timers.model_validate({"wait": "1h30m", "later": timedelta(minutes=2)})
    assert timers.wait == timedelta(minutes=90)
    assert timers.later == timedelta(minutes=2)


def test_field_reads_a_bare_yaml_zero() -> None:
    assert _Timers.model_validate({"wait": 0}).wait == timedelta(0)


def test_field_writes_text_in_json_mode() -> None:
    timers = _Timers(wait="5m", later="1d")  # type: ignore[arg-type]
    assert timers.model_dump(mode="json") == {"wait": "5m", "later": "1d"}
    assert timers.model_dump() == {"wait": timedelta(minutes=5), "later": DAY}
    assert _Timers.model_validate_json(timers.model_dump_json()) == timers


@pytest.mark.parametrize("bad", ["5 minutes", 300, True, 1.5, timedelta(seconds=-5)])
def test_field_error_says_what_is_expected(bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        _Timers.model_validate({"wait": bad})
    assert caught.value.errors()[0]["loc"] == ("wait",)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (20, "20s"), (20.7, "20s"), (630, "10m30s"), (3900, "1h5m"),
    (3 * 86400 + 7200, "3d2h"), (-5, "0s")])
def test_format_elapsed_reads_like_a_person_would_say_it(seconds, text):
    assert format_elapsed(timedelta(seconds=seconds)) == text
    assert parse_duration(text) == timedelta(seconds=max(int(seconds), 0))
