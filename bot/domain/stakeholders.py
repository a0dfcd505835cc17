"""People beyond the responders: a declared incident as an alert, update reminders, shifts.

Pure: the services read the rows and the clock and ask these functions what to do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.alerts import Alert, AlertStatus
from bot.domain.schedules import ScheduleSpec, handoffs_between, next_handoff

#: `/oncall page TEAM sev2 ...`: the words a person types, and the alert severity they mean.
SEVERITY_WORDS: dict[str, str] = {"sev1": "critical", "sev2": "error", "sev3": "warning",
                                  "sev4": "info"}
DEFAULT_SEVERITY = "sev2"  # a person who declares without saying how bad wants someone woken
#: Severities whose open incidents owe stakeholders an update every `update_every`.
URGENT_SEVERITIES = frozenset({"critical", "error", "sev1", "sev2"})
DECLARED_SOURCE = "slack"
DECLARED_ALERTNAME = "Declared"
DECLARATION_LABEL = "declaration"  # one per declare: a declared incident never joins another


@dataclass(frozen=True)
class Declaration:
    """What a person declared, already validated (team known, severity one of SEVERITY_WORDS)."""

    team: str
    severity: str  # sev1..sev4
    summary: str
    service: str = ""


def declared_alert(declaration: Declaration, declarer: str, at: datetime) -> Alert:
    """The synthetic alert a declaration becomes, so it takes the path every alert takes."""
    token = hashlib.sha256(f"{declarer}|{at.isoformat()}|{declaration.summary}".encode())
    key = token.hexdigest()[:16]
    labels = {"alertname": DECLARED_ALERTNAME, "team": declaration.team,
              "severity": SEVERITY_WORDS[declaration.severity], DECLARATION_LABEL: key}
    if declaration.service:
        labels["service"] = declaration.service
    return Alert(source=DECLARED_SOURCE, status=AlertStatus.FIRING, labels=labels,
                 annotations={"summary": declaration.summary, "declared_by": declarer},
                 starts_at=at, fingerprint=f"declared-{key}")


def update_reminder_due(*, severity: str, opened_at: datetime, last_update: datetime | None,
                        last_reminder: datetime | None, every: timedelta, now: datetime) -> bool:
    """An urgent incident silent for `every` since it opened, its last update, or the last
    reminder: once per interval, never at every tick."""
    if severity.strip().lower() not in URGENT_SEVERITIES:
        return False
    since = max(t for t in (opened_at, last_update, last_reminder) if t is not None)
    return now - since >= every


@dataclass(frozen=True)
class Shift:
    start: datetime
    end: datetime


def shifts_of(schedule: ScheduleSpec, user: str, now: datetime, until: datetime,
              limit: int = 3) -> list[Shift]:
    """The person's next primary shifts of the rotation (overrides aside) starting after now."""
    found = []
    for handoff in handoffs_between(schedule, now, until):
        if handoff.primary == user:
            found.append(Shift(start=handoff.at, end=next_handoff(schedule, handoff.at)))
            if len(found) == limit:
                break
    return found
