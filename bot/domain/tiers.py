"""Support tiers: whether an alert of a tier may page now, and what happens instead.

Pure. A tier pages `24/7`, in `business_hours` (of its zone, default the team's) or `never`;
otherwise it `notify`s now and pages when business hours start if the incident is still open,
goes to the `digest`, or stays `notify_only`. The answer is an Adjustment (demote_to and maybe
page_later_at) plus one line for the message saying why it did or did not page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.domain.alert_path import Adjustment
from bot.domain.alerts import Action
from bot.domain.business_hours import in_hours, next_start


@dataclass(frozen=True)
class TierVerdict:
    """The tier that applied, what it does now, and the line the message shows."""

    name: str
    why: str
    adjustment: Adjustment | None = None


def tier_name(labels: Mapping[str, str], label: str, team_default: str | None) -> str | None:
    """The alert's `tier` label (or the configured label), else the team's default tier."""
    return labels.get(label) or team_default


def verdict(name: str, tier, now: datetime, zone: str, hours) -> TierVerdict:
    """What tier `name` (a bot.config_context.Tier) does to an alert at `now`."""
    zone = tier.time_zone or zone
    hours = tier.business_hours or hours
    rule = f"tier {name}"
    if tier.pages == "24/7":
        return TierVerdict(name, f"{rule}: pages 24/7")
    inside = tier.pages == "business_hours" and in_hours(now, zone, hours)
    span = f"{hours.describe()} {zone}"
    if inside:
        return TierVerdict(name, f"{rule}: pages in business hours ({span}), now inside them")
    when = "never pages" if tier.pages == "never" else f"pages in business hours ({span})"
    if tier.otherwise == "digest":
        why = f"{rule} {when}: to the digest"
        return TierVerdict(name, why, Adjustment(rule=rule, why=why, demote_to=Action.DIGEST))
    if tier.otherwise == "notify" and tier.pages == "business_hours":
        later = next_start(now, zone, hours)
        why = f"{rule} {when}: notified now, pages at {later:%a %H:%M} UTC if still open"
        return TierVerdict(name, why, Adjustment(rule=rule, why=why, demote_to=Action.NOTIFY,
                                                 page_later_at=later))
    why = f"{rule} {when}: notified only"
    return TierVerdict(name, why, Adjustment(rule=rule, why=why, demote_to=Action.NOTIFY))
