"""Whether a moment falls in a team's business hours, and when they next start (DST-safe).

`hours` is any object with `weekdays` (0 = Monday), `start` and `end` (local times), such as
bot.config_context.BusinessHours; the zone is an IANA name.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


def in_hours(moment: datetime, zone: str, hours) -> bool:
    local = moment.astimezone(ZoneInfo(zone))
    return local.weekday() in hours.weekdays and hours.start <= local.time() < hours.end


def next_start(moment: datetime, zone: str, hours) -> datetime:
    """The next moment business hours begin, after `moment` (UTC); `moment` itself if in them."""
    if in_hours(moment, zone, hours):
        return moment
    tz = ZoneInfo(zone)
    local = moment.astimezone(tz)
    for days in range(0, 8):
        day = (local + timedelta(days=days)).date()
        start = datetime.combine(day, hours.start, tzinfo=tz)
        if day.weekday() in hours.weekdays and start.astimezone(UTC) > moment:
            return start.astimezone(UTC)
    raise ValueError("business hours without a weekday")
