"""Median and p90 with the count: the figures every report gives (DESIGN.md, glossary).

The median is the usual one (the mean of the two middle values for an even count).
The p90 is the nearest-rank percentile: sort the n values and take the one at rank
ceil(0.9 * n), counting from 1. It is always one of the values, never interpolated,
so "p90 = 12 min" means someone really waited 12 minutes; and since that rank is never
below the upper middle rank, p90 >= median always holds.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

__all__ = ["Summary", "nearest_rank", "summary"]


class Summary(BaseModel):
    """Count, median and nearest-rank p90 of some values; both None when there are none."""

    model_config = ConfigDict(frozen=True)

    count: int
    median: float | None = None
    p90: float | None = None


def summary(values: Sequence[float]) -> Summary:
    """Summarise values the way every report does; an empty input gives count 0 and Nones."""
    if not values:
        return Summary(count=0)
    ordered = sorted(values)
    return Summary(
        count=len(ordered),
        median=float(statistics.median(ordered)),
        p90=float(nearest_rank(ordered, 90)),
    )


def nearest_rank(ordered: Sequence[float], percent: int) -> float:
    """The value at rank ceil(percent/100 * n) (1-based) of already sorted, non-empty values."""
    if not ordered:
        raise ValueError("nearest_rank needs at least one value")
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in 1..100, got {percent}")
    rank = -(-percent * len(ordered) // 100)  # integer ceil: 0.9 * 70 is 63.00000000000001
    return ordered[rank - 1]
