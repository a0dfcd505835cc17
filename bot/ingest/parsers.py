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
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.domain.alerts import Alert, AlertStatus
from bot.ingest.body import INT64_MAX, BadNumber

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
    indexes: list[int] = field(default_factory=list)  # each alert's place in the body

    def refused(self, position: int, why: str) -> None:
        """The database refused `alerts[position]` (of the parsed ones): report it as sent."""
        index = self.indexes[position]
        self.rejected.append(Rejection(index=index, field=f"alerts[{index}]", error=why))


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
    fingerprint: str = Field("", max_length=128)  # the identity: rejected, never cut
    dashboardURL: str = ""
    panelURL: str = ""

    @field_validator("startsAt", "endsAt")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("a time with a zone, like 2026-11-23T03:12:00Z")
        try:
            return value.astimezone(UTC) if value is not None else None
        except OverflowError:
            raise ValueError("its offset puts it outside the years 1 to 9999") from None

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
    _truncated(envelope, parsed)
    return parsed


def parse_grafana(body: Any) -> Parsed:
    envelope = _envelope(body)
    parsed = _alerts(envelope["alerts"], "grafana")
    _truncated(envelope, parsed)
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


def _truncated(envelope: dict[str, Any], parsed: Parsed) -> None:
    """How many alerts the sender left out; a count we cannot read is noted, not fatal."""
    value = envelope.get("truncatedAlerts", 0)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT64_MAX:
        parsed.truncated = value
    else:
        parsed.rejected.append(Rejection(index=None, field="truncatedAlerts",
                                         error="expected a whole number from 0 to 2^63-1"))


def _alerts(items: list[Any], source: str) -> Parsed:
    parsed = Parsed()
    for index, item in enumerate(items):
        if (problem := unstorable(item, f"alerts[{index}]")) is not None:
            parsed.rejected.append(Rejection(index=index, field=problem[0], error=problem[1]))
            continue
        try:
            parsed.alerts.append(WireAlert.model_validate(item).to_alert(source))
            parsed.indexes.append(index)
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


def unstorable(value: Any, path: str) -> tuple[str, str] | None:
    """The first thing no database column can hold, as (field, why): a number beyond 64 bits
    or not finite, a NUL character, or a lone UTF-16 surrogate (a summary cut mid-emoji).
    Every alert of every webhook passes here: the field's path is spelled only for a find."""
    found = _problem(value)
    return None if found is None else (path + found[0], found[1])


def _problem(value: Any) -> tuple[str, str] | None:
    """(path below `value`, why) of the first unstorable thing in it."""
    if isinstance(value, str):
        why = _bad_text(value)
        return None if why is None else ("", why)
    if isinstance(value, BadNumber):
        return "", f"{value.text} is {value.why}"
    if isinstance(value, dict):
        for key in value:
            if (why := _bad_text(key)) is not None:
                return "", f"a key {why}"
        items = ((f".{k}", v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for where, item in items:
        if isinstance(item, str) and item.isascii() and "\x00" not in item:
            continue  # the common case, without a call
        if (found := _problem(item)) is not None:
            return where + found[0], found[1]
    return None


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    if text.isascii():
        return None
    try:
        text.encode()
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate (text cut mid-character?)"
    return None
