"""External pagers (`pagers:` in oncall.yaml): request bodies and answers, with no HTTP here.

Two kinds, by `type`:

    pagers:
      pagerduty-ai: {type: pagerduty, routing_key_env: PD_ROUTING_KEY_AI}
      phone-bridge: {type: webhook, url: "https://ntfy.example.com/hooks/oncall",
                     secret_env: NTFY_SECRET, headers: {X-Team: ai-eng}}

PagerDuty gets Events API v2 events (POST to `url`, by default
https://events.pagerduty.com/v2/enqueue): one alert per incident, correlated by a stable
`dedup_key`, so a later acknowledge or resolve closes the same alert. A webhook pager gets
the JSON of `webhook_page`, signed as described in `bot.domain.signing`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from bot.domain.alerts import IncidentStatus, Link
from bot.domain.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signed_headers

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_LIMIT = 1024  # PagerDuty's payload.summary
DEDUP_KEY_LIMIT = 255  # PagerDuty's dedup_key
EVENT_SIZE_LIMIT = 512 * 1024  # PagerDuty refuses larger events
CLIENT = "oncall-bot"

PagerAction = Literal["trigger", "acknowledge", "resolve"]
PageEvent = Literal["trigger", "acknowledge", "resolve", "test"]

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_RESERVED_HEADERS = {"content-type", "content-length", "host"} | {
    SIGNATURE_HEADER.lower(),
    IDEMPOTENCY_HEADER.lower(),
}
_SEVERITIES = {
    "critical": ("critical", "page", "sev1"),
    "error": ("error", "high", "sev2"),
    "warning": ("warning", "warn", "medium", "sev3"),
}


# -- config -----------------------------------------------------------------------------


def _check_env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(
            f"expected an environment variable name like PD_ROUTING_KEY, got {value!r}"
        )
    return value


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"expected an http(s) URL like https://pager.example.com/hook, got {value!r}"
        )
    return value


EnvName = Annotated[str, AfterValidator(_check_env_name)]
HttpUrl = Annotated[str, AfterValidator(_check_url)]


class PagerDutySpec(BaseModel):
    """A PagerDuty service reached through an Events API v2 integration key kept in the env."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["pagerduty"]
    routing_key_env: EnvName
    url: HttpUrl = PAGERDUTY_EVENTS_URL


class WebhookSpec(BaseModel):
    """Any HTTP receiver (ntfy, an Opsgenie bridge, a phone bridge) taking `webhook_page` JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["webhook"]
    url: HttpUrl
    secret_env: EnvName
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name in headers:
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by the bot and cannot be overridden")
        return headers


PagerSpec = Annotated[PagerDutySpec | WebhookSpec, Field(discriminator="type")]
"""One entry under `pagers:`, told apart by `type: pagerduty | webhook`."""


# -- PagerDuty --------------------------------------------------------------------------


def incident_dedup_key(incident_id: int) -> str:
    """The stable key PagerDuty correlates trigger, acknowledge and resolve by."""
    return f"oncall-bot-incident-{incident_id}"


def pagerduty_severity(label: str) -> str:
    """Map our severity labels onto PagerDuty's four; anything unknown is `info`."""
    wanted = label.strip().lower()
    return next((pd for pd, ours in _SEVERITIES.items() if wanted in ours), "info")


def truncate(text: str, limit: int) -> str:
    """Shorten over-long text with an ellipsis instead of having the event refused."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pagerduty_event(
    action: PagerAction,
    *,
    routing_key: str,
    dedup_key: str,
    summary: str = "",
    source: str = "",
    severity_label: str = "",
    links: Sequence[Link] = (),
    details: Mapping[str, Any] | None = None,
    timestamp: datetime | None = None,
    component: str | None = None,
    group: str | None = None,
    event_class: str | None = None,
    client_url: str | None = None,
) -> dict[str, Any]:
    """An Events API v2 body; acknowledge and resolve carry only the keys, as PagerDuty shows.

    A trigger, trimmed: {"routing_key": "...", "event_action": "trigger", "dedup_key":
    "oncall-bot-incident-42", "client": "oncall-bot", "payload": {"summary": "...",
    "source": "llm-gateway", "severity": "critical", "custom_details": {...}},
    "links": [{"href": "...", "text": "..."}]}
    """
    if not dedup_key or len(dedup_key) > DEDUP_KEY_LIMIT:
        raise ValueError(f"dedup_key must be 1 to {DEDUP_KEY_LIMIT} characters, got {dedup_key!r}")
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key,
    }
    if action != "trigger":
        return event
    event["client"] = CLIENT
    if client_url:
        event["client_url"] = client_url
    event["payload"] = _payload(
        summary, source, severity_label, timestamp, component, group, event_class, details
    )
    if hrefs := [{"href": link.url, "text": link.label} for link in links if link.url]:
        event["links"] = hrefs
    return _fit(event)


def _payload(
    summary: str,
    source: str,
    severity_label: str,
    timestamp: datetime | None,
    component: str | None,
    group: str | None,
    event_class: str | None,
    details: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """PD-CEF fields; the required three never go out empty, the optional ones only when set."""
    payload: dict[str, Any] = {
        "summary": truncate(summary.strip() or "(no summary)", SUMMARY_LIMIT),
        "source": source.strip() or CLIENT,
        "severity": pagerduty_severity(severity_label),
    }
    if timestamp is not None:
        aware = timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
        payload["timestamp"] = aware.isoformat(timespec="milliseconds")
    optional = {"component": component, "group": group, "class": event_class}
    payload.update({key: value for key, value in optional.items() if value})
    if details:
        payload["custom_details"] = json.loads(json.dumps(dict(details), default=str))
    return payload


def _fit(event: dict[str, Any]) -> dict[str, Any]:
    """Drop custom_details rather than lose the page when the event is over 512 KB."""
    if len(json_body(event)) <= EVENT_SIZE_LIMIT:
        return event
    payload = {**event["payload"], "custom_details": {"note": "details dropped: over 512 KB"}}
    return {**event, "payload": payload}


class OutcomeKind(StrEnum):
    OK = "ok"
    RETRY = "retry"
    FATAL = "fatal"


class Outcome(BaseModel):
    """What the delivery worker does with an answer: done, try again later, or give up."""

    model_config = ConfigDict(frozen=True)

    kind: OutcomeKind
    message: str
    dedup_key: str | None = None


def classify_pagerduty_response(status: int, body: Mapping[str, Any] | None) -> Outcome:
    """Follow PagerDuty's retry table: 202 done; 429 and 5xx retry; 400 and the rest fatal.

    A network error (no status at all) is a retry too; the caller handles it.
    """
    body = body if isinstance(body, Mapping) else {}
    said = _pagerduty_text(body)
    if 200 <= status < 300:
        dedup_key = body.get("dedup_key")
        return Outcome(
            kind=OutcomeKind.OK,
            message=str(body.get("message") or "Event processed"),
            dedup_key=dedup_key if isinstance(dedup_key, str) else None,
        )
    if status == 429:
        return Outcome(kind=OutcomeKind.RETRY, message="PagerDuty throttled the event (429)")
    if status >= 500:
        return Outcome(kind=OutcomeKind.RETRY, message=f"PagerDuty server error {status}{said}")
    if status == 400:
        return Outcome(kind=OutcomeKind.FATAL, message=f"PagerDuty refused the event{said}")
    return Outcome(kind=OutcomeKind.FATAL, message=f"unexpected HTTP {status} from PagerDuty{said}")


def _pagerduty_text(body: Mapping[str, Any]) -> str:
    """PagerDuty's own words: `: message: error; error`, or nothing when it said nothing."""
    errors = body.get("errors")
    errors = [str(error) for error in errors] if isinstance(errors, list) else []
    parts = [str(part) for part in (body.get("message"), "; ".join(errors)) if part]
    return "".join(f": {part}" for part in parts)


# -- generic webhooks -------------------------------------------------------------------


class PagePerson(BaseModel):
    """Whom a page is meant to wake: the Slack id, with name and e-mail when Slack told us."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str = ""
    email: str = ""


class PageIncident(BaseModel):
    """The incident fields a generic pager receives."""

    model_config = ConfigDict(frozen=True)

    id: int
    title: str
    severity: str = ""
    team: str
    status: IncidentStatus = IncidentStatus.TRIGGERED
    started_at: datetime
    url: str = Field("", description="the incident's Slack message permalink")
    summary: str = ""
    links: list[Link] = Field(default_factory=list)
    why: str = Field("", description="the path decision's why-line, as on the Slack message")


_VERBS = {"trigger": "Page", "acknowledge": "Acknowledged", "resolve": "Resolved", "test": "Test"}


def webhook_page(
    event: PageEvent,
    incident: PageIncident,
    person: PagePerson | None,
    *,
    level: int | None = None,
    people: Sequence[PagePerson] = (),
) -> dict[str, Any]:
    """The JSON body for a generic pager; the same on every retry, so receivers can dedupe.

    {"version": 1, "event": "trigger", "dedup_key": "oncall-bot-incident-42",
     "title": "Page: #42 LLM error rate high", "message": "critical, team ai-eng: ...",
     "priority": "critical", "level": 1,
     "person": {"id": "U0PRIMARY1", "name": "Ana Lima", "email": "ana@example.com"},
     "people": [{"id": "U0PRIMARY1", ...}],
     "incident": {"id": 42, "title": "...", "severity": "critical", "team": "ai-eng",
                  "status": "triggered", "started_at": "2025-01-01T03:00:00Z", "url": "...",
                  "summary": "...", "links": [{"label": "Runbook", "url": "..."}]}}

    `event` is trigger, acknowledge, resolve or test (`oncall-bot test-page`); `person` is
    whom to wake (None for a team-wide page), `people` everyone the level pages; `url` is
    the incident message's Slack permalink; `priority` uses PagerDuty's four levels;
    `title` and `message` are ready for a phone or push notification.
    """
    title = truncate(f"{_VERBS[event]}: #{incident.id} {incident.title}", 250)
    lead = ", ".join(part for part in (incident.severity, f"team {incident.team}") if part)
    message = truncate(f"{lead}: {incident.summary or incident.title}", SUMMARY_LIMIT)
    return {
        "version": 1,
        "event": event,
        "dedup_key": incident_dedup_key(incident.id),
        "title": title,
        "message": message,
        "priority": pagerduty_severity(incident.severity),
        "person": person.model_dump() if person else None,
        "people": [p.model_dump() for p in people],
        "level": level,
        "incident": incident.model_dump(mode="json", exclude=set() if incident.why else {"why"}),
    }


def page_details(
    incident: PageIncident,
    person: PagePerson | None,
    *,
    level: int | None = None,
    people: Sequence[PagePerson] = (),
) -> dict[str, Any]:
    """PagerDuty's custom_details for a trigger: whom to wake and where to look.

    {"person": {"id": "U0PRIMARY1", "name": "Ana Lima", "email": "ana@example.com"},
     "people": [...], "level": 1, "incident_id": 42, "team": "ai-eng",
     "severity": "critical", "summary": "...", "slack_url": "https://...slack.com/archives/..."}
    """
    return {
        "person": person.model_dump() if person else None,
        "people": [p.model_dump() for p in people],
        "level": level,
        "incident_id": incident.id,
        "team": incident.team,
        "severity": incident.severity,
        "summary": incident.summary or incident.title,
        "slack_url": incident.url,
        **({"why": incident.why} if incident.why else {}),
    }


def page_links(incident: PageIncident) -> list[Link]:
    """The incident's Slack message first, then its own links (runbook, dashboard, source)."""
    slack = [Link(label="Slack incident message", url=incident.url)] if incident.url else []
    return [*slack, *incident.links]


def json_body(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes to send and sign: compact, sorted, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def webhook_headers(
    spec: WebhookSpec, body: bytes, secret: str, now: int, key: str
) -> dict[str, str]:
    """Headers for one webhook delivery: the configured ones, then ours, which always win."""
    return signed_headers(body, secret, now, key, spec.headers)
