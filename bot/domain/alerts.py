"""Alerts, incidents and the incident state machine: pure values, no I/O."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from bot.domain.changes import ChangeLine


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class IncidentStatus(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Action(StrEnum):
    """What a route does with an alert: wake someone, tell the channel, look later, or batch."""

    PAGE = "page"
    NOTIFY = "notify"
    TRIAGE = "triage"
    DIGEST = "digest"


class Alert(BaseModel):
    """One alert as a sender reported it, normalised across Alertmanager, Grafana and generic."""

    model_config = ConfigDict(frozen=True)

    source: str
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str = ""
    fingerprint: str = ""

    @property
    def identity(self) -> tuple[str, str, datetime]:
        """(source, fingerprint, startsAt): the same alert firing again later is a new one."""
        return (self.source, self.fingerprint or labels_fingerprint(self.labels), self.starts_at)

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "") or self.annotations.get("summary", "") or "alert"


def alert_title(labels: dict[str, str], annotations: dict[str, str]) -> str:
    """An incident's title: `alertname: summary`, or whichever of them there is."""
    summary = annotations.get("summary", "").strip()
    name = labels.get("alertname", "").strip()
    if summary and name:
        return f"{name}: {summary}"[:512]
    return (summary or name or "Alert")[:512]


def labels_fingerprint(labels: dict[str, str]) -> str:
    """Stand in for a sender's fingerprint: a stable hash of the sorted label set."""
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class Link(BaseModel):
    label: str
    url: str


class AlertLine(BaseModel):
    """One alert as listed on its incident's message."""

    alertname: str
    status: AlertStatus
    summary: str = ""
    starts_at: datetime
    labels: dict[str, str] = Field(default_factory=dict)
    generator_url: str = ""


class PageLine(BaseModel):
    """One notification sent for the incident, as the message lists it."""

    target_kind: str
    target: str
    level: int
    at: datetime
    dnd_until: datetime | None = None
    error: str | None = None
    outcome: str = Field("sent", description="sent, skipped (reaches nobody) or failed")


class FailureLine(BaseModel):
    """A delivery for the incident that failed for good (other than a page: PageLine.error)."""

    what: str  # "thread note", "runbook step", "file upload"...
    target_kind: str = ""  # user|channel|pager|webhook, or "" when the incident's own thread
    target: str = ""
    error: str


class IncidentView(BaseModel):
    """Everything the incident message shows, read from the database after commit."""

    id: int
    title: str
    severity: str = ""
    status: IncidentStatus
    team: str
    action: Action
    alert_type: str = ""
    service: str = ""
    started_at: datetime
    summary: str = ""
    description: str = ""
    links: list[Link] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    route_path: str = ""
    alerts: list[AlertLine] = Field(default_factory=list)
    # How many alerts the incident has, and how many fire, when `alerts` holds only some of
    # them (an incident of 20,000 alerts loads the few its message can show); None: all.
    alert_count: int | None = None
    firing_alerts: int | None = None
    alerts_truncated_at_source: int = 0
    acked_by: str | None = None
    acked_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    runbook: str | None = None
    pages: list[PageLine] = Field(default_factory=list)
    first_paged_at: datetime | None = None
    page_held_until: datetime | None = None
    unowned: bool = False
    humans_mode: bool = False
    humans_by: str | None = None
    humans_at: datetime | None = None
    handoff_error: str | None = None
    handoff_configured: bool = False
    publishable: bool = False  # a status page is configured and the incident is not on it yet
    auto_resolved_in_hold: bool = False
    delivery_failures: list[FailureLine] = Field(default_factory=list)
    why: list[str] = Field(default_factory=list, description="the path decision, in parts")
    triage_pending: bool = False  # Confirm (page) / Dismiss (noise) are shown
    triage_due_at: datetime | None = None
    auto_runbook_at: datetime | None = None  # a high-confidence runbook's cancel window ends
    changes: list[ChangeLine] = Field(default_factory=list)  # recent, of service and deps
    tier: str | None = None
    feedback: dict[str, int] = Field(default_factory=dict)  # Verdict value -> people who chose it

    @property
    def escalation_level(self) -> int:
        return max((p.level for p in self.pages if p.outcome != "skipped"), default=0)

    @property
    def time_to_ack(self) -> timedelta | None:
        """First ack minus first page (DESIGN.md's definition); None unless both happened."""
        if self.acked_at is None or self.first_paged_at is None:
            return None
        return self.acked_at - self.first_paged_at

    @property
    def firing_count(self) -> int:
        if self.firing_alerts is not None:
            return self.firing_alerts
        return sum(1 for a in self.alerts if a.status is AlertStatus.FIRING)

    @property
    def alert_total(self) -> int:
        return len(self.alerts) if self.alert_count is None else self.alert_count
