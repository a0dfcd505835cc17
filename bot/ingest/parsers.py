"""Webhook bodies -> domain Alerts, alert by alert, so one bad alert does not sink the rest.

Alertmanager (version "4"), trimmed:
    {"version": "4", "status": "firing", "receiver": "oncall", "groupKey": "{}:{...}",
     "truncatedAlerts": 0, "alerts": [{"status": "firing", "labels": {"alertname": "X"},
     "annotations": {"summary": "..."}, "startsAt": "2026-11-23T14:29:03.240258959Z",
     "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://...", "fingerprint": "58db..."}]}
Grafana sends the same per-alert fields with "version": "1" and adds dashboardURL/panelURL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.domain.alerts import Alert, AlertStatus

ZERO_TIME_YEAR = 1  # Go's zero time, which Alertmanager sends as endsAt while firing


class Rejection(BaseModel):
    index: int | None
    field: str
    error: str


@dataclass
class Parsed:
    alerts: list[Alert] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    truncated: int = 0


class PayloadError(ValueError):
    """The body as a whole is unusable: 400, naming the field."""

    def __init__(self, field_name: str, error: str, rejected: list[Rejection] | None = None):
        self.field = field_name
        self.error = error
        self.rejected = rejected or []
        super().__init__(f"{field_name}: {error}")


class WireAlert(BaseModel):
    """One alert as Alertmanager, Grafana and the generic form send it."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"] = "firing"
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] | None = None
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""
    dashboardURL: str = ""
    panelURL: str = ""

    @field_validator("startsAt", "endsAt")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("a time with a zone, like 2026-11-23T03:12:00Z")
        return value

    def to_alert(self, source: str) -> Alert:
        annotations = dict(self.annotations or {})
        if self.dashboardURL and "dashboard_url" not in annotations:
            annotations["dashboard_url"] = self.dashboardURL
        ends = self.endsAt if self.endsAt and self.endsAt.year > ZERO_TIME_YEAR else None
        return Alert(source=source, status=AlertStatus(self.status), labels=self.labels,
                     annotations=annotations, starts_at=self.startsAt, ends_at=ends,
                     generator_url=self.generatorURL, fingerprint=self.fingerprint)


def parse_alertmanager(body: Any) -> Parsed:
    envelope = _envelope(body)
    version = envelope.get("version")
    if version != "4":
        raise PayloadError("version", f"expected webhook version '4', got {version!r}")
    parsed = _alerts(envelope["alerts"], "alertmanager")
    parsed.truncated = _truncated(envelope)
    return parsed


def parse_grafana(body: Any) -> Parsed:
    envelope = _envelope(body)
    parsed = _alerts(envelope["alerts"], "grafana")
    parsed.truncated = _truncated(envelope)
    return parsed


def parse_generic(body: Any) -> Parsed:
    """`{"alerts": [...]}` or a single alert object."""
    if isinstance(body, dict) and "alerts" not in body:
        body = {"alerts": [body]}
    return _alerts(_envelope(body)["alerts"], "generic")


def _envelope(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise PayloadError("body", "expected a JSON object")
    if "alerts" not in body:
        raise PayloadError("alerts", "required field is missing")
    if not isinstance(body["alerts"], list):
        raise PayloadError("alerts", "expected a list of alerts")
    return body


def _truncated(envelope: dict[str, Any]) -> int:
    value = envelope.get("truncatedAlerts", 0)
    if not isinstance(value, int) or value < 0:
        raise PayloadError("truncatedAlerts", "expected a whole number >= 0")
    return value


def _alerts(items: list[Any], source: str) -> Parsed:
    parsed = Parsed()
    for index, item in enumerate(items):
        try:
            parsed.alerts.append(WireAlert.model_validate(item).to_alert(source))
        except ValidationError as exc:
            parsed.rejected.extend(_rejections(index, exc))
    if items and not parsed.alerts:
        first = parsed.rejected[0]
        raise PayloadError(first.field, first.error, parsed.rejected)
    return parsed


def _rejections(index: int, exc: ValidationError) -> list[Rejection]:
    found = []
    for error in exc.errors():
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        found.append(Rejection(index=index, field=f"alerts[{index}]{path}", error=error["msg"]))
    return found
