"""Prometheus durations (`90s`, `1h30m`, `1w`): parse, format, and a pydantic field type.

The grammar is prometheus/common `model.ParseDuration`, which Alertmanager uses for
`group_wait` and friends: integers with units y, w, d, h, m, s, ms, largest unit first,
each unit at most once, no spaces; `0` alone is allowed. A year is 365 days.
"""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

__all__ = ["Duration", "DurationError", "format_duration", "format_elapsed", "parse_duration"]

_UNITS_MS: tuple[tuple[str, int], ...] = (
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
)
_DURATION_RE = re.compile("".join(f"(?:([0-9]+){unit})?" for unit, _ in _UNITS_MS))
# Go's time.Duration is int64 nanoseconds; Prometheus refuses anything longer.
_MAX_MS = (2**63 - 1) // 1_000_000
_ONE_MS = timedelta(milliseconds=1)
_EXPECTED = (
    "expected a Prometheus duration: whole numbers with units, largest unit first, "
    "no spaces, e.g. 90s, 5m, 1h30m, 1d, 1w, 500ms (units y, w, d, h, m, s, ms)"
)


class DurationError(ValueError):
    """A duration that Prometheus (and so Alertmanager) would not accept."""


def parse_duration(text: str) -> timedelta:
    """Read a duration exactly as Alertmanager reads its config, so both agree on timing."""
    if text == "0":
        return timedelta(0)
    found = _DURATION_RE.fullmatch(text) if text else None
    if found is None:
        raise DurationError(f"not a valid duration {text!r}: {_EXPECTED}")
    total_ms = sum(
        int(count) * unit_ms
        for count, (_, unit_ms) in zip(found.groups(), _UNITS_MS, strict=True)
        if count is not None
    )
    if total_ms > _MAX_MS:
        raise DurationError(f"duration {text!r} is too long: at most about 292 years")
    return timedelta(milliseconds=total_ms)


def format_duration(duration: timedelta) -> str:
    """Write a duration back in the shortest text that parse_duration reads as the same value."""
    total_ms = _whole_milliseconds(duration)
    if total_ms == 0:
        return "0s"
    candidates = ((_render(total_ms, units), len(units)) for units in _unit_choices())
    # Fewest characters first, then fewest components ("366d" over "1y1d").
    return min((len(text), parts, text) for text, parts in candidates if text)[2]


def format_elapsed(duration: timedelta) -> str:
    """How long something took, for people: whole seconds, largest unit first, every unit up
    to days (`20s`, `10m30s`, `1h5m`, `2d3h`); also a valid duration for parse_duration."""
    left = max(int(duration.total_seconds()), 0)
    parts = []
    for unit, seconds in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, left = divmod(left, seconds)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _whole_milliseconds(duration: timedelta) -> int:
    """Refuse what the text form cannot carry: negative or sub-millisecond durations."""
    if duration < timedelta(0):
        raise DurationError(f"a duration cannot be negative, got {duration}")
    if duration % _ONE_MS:
        raise DurationError(f"durations have millisecond precision, got {duration}")
    return duration // _ONE_MS


def _unit_choices() -> itertools.chain[tuple[tuple[str, int], ...]]:
    """Every subset of units (largest first) that a rendering may use."""
    return itertools.chain.from_iterable(
        itertools.combinations(_UNITS_MS, size) for size in range(1, len(_UNITS_MS) + 1)
    )


def _render(total_ms: int, units: tuple[tuple[str, int], ...]) -> str:
    """Greedy rendering with only `units`; empty when they cannot express the value exactly."""
    parts, rest = [], total_ms
    for unit, unit_ms in units:
        count, rest = divmod(rest, unit_ms)
        if count == 0:
            return ""
        parts.append(f"{count}{unit}")
    return "" if rest else "".join(parts)


def _coerce_duration(value: object) -> timedelta:
    """Accept what a YAML config holds (a string, or a bare 0) as well as a timedelta."""
    if isinstance(value, timedelta):
        _whole_milliseconds(value)
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        return parse_duration(value)
    raise DurationError(f"not a valid duration {value!r}: {_EXPECTED}")


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A pydantic field type: reads `"5m"`, holds a timedelta, writes `"5m"` in JSON mode."""
