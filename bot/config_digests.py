"""The `digests` key of oncall.yaml: the hourly cost digest and the weekly noise review.

Every key has a default, so a config without `digests:` runs both with sensible timing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.domain.digests import digest_window
from bot.domain.durations import Duration

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def check_time_zone(value: str) -> str:
    """An IANA zone name (Europe/Berlin), refused at load rather than at Monday 09:00."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)") from exc
    return value


def cron_trigger(schedule: str, time_zone: str) -> CronTrigger:
    """A standard 5-field crontab as a trigger in `time_zone`.

    Not `CronTrigger.from_crontab`: APScheduler 3 counts weekdays from Monday = 0, crontab
    from Sunday = 0, so `0 9 * * 1` would fire on Tuesdays. Numeric weekdays become names.
    """
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=_weekday_names(weekday), timezone=ZoneInfo(time_zone))


def _weekday_names(field: str) -> str:
    """`1-5` -> `mon,tue,wed,thu,fri`; `0`, `7` -> `sun`; `*/2`; names pass through."""
    names: list[str] = []
    for part in field.split(","):
        base, _, step = part.partition("/")
        found = re.fullmatch(r"(\*)|(\d)(?:-(\d))?", base)
        if found is None or part == "*":
            names.append(part)  # names (mon-fri): APScheduler reads them as crontab does
            continue
        low = 0 if found[1] else int(found[2])
        high = 6 if found[1] else int(found[3] or (6 if step else low))
        if high > 7 or low > high or (step and not step.isdigit()):
            raise ValueError(f"weekday {part!r}: numbers are 0-7 (0 and 7 are Sunday)")
        names += [_WEEKDAYS[n % 7] for n in range(low, high + 1, int(step or 1))]
    return ",".join(dict.fromkeys(names))


class CostDigestConfig(_Strict):
    """Cost digest windows: aligned to the UTC hour, sent `grace` after they close."""

    period: Duration = timedelta(hours=1)
    grace: Duration = timedelta(minutes=2)

    @field_validator("period")
    @classmethod
    def _aligned(cls, value: timedelta) -> timedelta:
        digest_window(datetime(2000, 1, 1, tzinfo=UTC), value)  # raises for 7m, 90m...
        return value

    @field_validator("grace")
    @classmethod
    def _short(cls, value: timedelta) -> timedelta:
        if value >= timedelta(hours=1):
            raise ValueError("grace must be under an hour: the digest would arrive too late")
        return value


class NoiseReviewConfig(_Strict):
    """When the weekly review goes out, where, and what counts as business hours."""

    schedule: str = Field("0 9 * * 1", description="crontab, in time_zone (Monday 09:00)")
    time_zone: str = "UTC"
    channel: str | None = Field(None, description="one review channel; null: each team's own")
    business_hours: tuple[int, int] = (9, 18)
    post_empty: bool = Field(False, description="post the review of a week with no alerts")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_time_zone(value)

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        from bot.config import Team  # the one rule for channel names; config imports us

        return Team._channel_shape(value) if value is not None else None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            cron_trigger(value, "UTC")
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a 5-field crontab (e.g. '0 9 * * 1'): "
                             f"{exc}") from exc
        return value

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= value[0] < value[1] <= 24:
            raise ValueError("business hours are [start, end) o'clock with 0 <= start < end "
                             "<= 24, e.g. [9, 18]")
        return value


class DigestsConfig(_Strict):
    cost: CostDigestConfig = Field(default_factory=CostDigestConfig)
    noise: NoiseReviewConfig = Field(default_factory=NoiseReviewConfig)
