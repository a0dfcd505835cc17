"""External pagers: config specs, PagerDuty Events API v2 bodies and answers, webhook pages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from bot.domain.alerts import IncidentStatus, Link
from bot.domain.pagers import (
    EVENT_SIZE_LIMIT,
    PAGERDUTY_EVENTS_URL,
    OutcomeKind,
    PageIncident,
    PagePerson,
    PagerDutySpec,
    PagerSpec,
    WebhookSpec,
    classify_pagerduty_response,
    incident_dedup_key,
    json_body,
    page_details,
    page_links,
    pagerduty_event,
    pagerduty_severity,
    webhook_headers,
    webhook_page,
)
from bot.domain.signing import verify

PAGERS = TypeAdapter(dict[str, PagerSpec])
KEY = "R0UTINGKEY0123456789abcdefABCDEF"
STARTED = datetime(2025, 3, 30, 0, 55, tzinfo=UTC)
RUNBOOK = Link(label="Runbook", url="https://runbooks.example.com/llm-errors")
INCIDENT = PageIncident(
    id=42,
    title="LLM error rate high",
    severity="critical",
    team="ai-eng",
    started_at=STARTED,
    url="https://example.slack.com/archives/C0123ABCD/p1711760100000100",
    summary="5xx from the model gateway above 5% for 10m",
    links=[RUNBOOK],
)
ANA = PagePerson(id="U0PRIMARY1", name="Ana Lima", email="ana@example.com")
BO = PagePerson(id="U0SECOND01")


# -- config -----------------------------------------------------------------------------


def test_reads_both_kinds_of_pager() -> None:
    pagers = PAGERS.validate_python(
        {
            "pagerduty-ai": {"type": "pagerduty", "routing_key_env": "PD_ROUTING_KEY_AI"},
            "local-pd": {
                "type": "pagerduty",
                "routing_key_env": "PD_KEY",
                "url": "http://127.0.0.1:8765/v2/enqueue",
            },
            "ntfy": {
                "type": "webhook",
                "url": "https://ntfy.example.com/hooks/oncall",
                "secret_env": "NTFY_SECRET",
                "headers": {"X-Team": "ai-eng"},
            },
        }
    )
    assert pagers["pagerduty-ai"] == PagerDutySpec(
        type="pagerduty", routing_key_env="PD_ROUTING_KEY_AI", url=PAGERDUTY_EVENTS_URL
    )
    assert pagers["local-pd"].url == "http://127.0.0.1:8765/v2/enqueue"
    assert isinstance(pagers["ntfy"], WebhookSpec)
    assert pagers["ntfy"].headers == {"X-Team": "ai-eng"}


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"type": "opsgenie"}, "does not match any of the expected tags: 'pagerduty', 'webhook'"),
        ({"routing_key_env": "PD"}, "Unable to extract tag using discriminator 'type'"),
        ({"type": "pagerduty"}, "routing_key_env\n  Field required"),
        ({"type": "pagerduty", "routing_key_env": "pd-key"}, "environment variable name"),
        ({"type": "pagerduty", "routing_key": "abc"}, "Extra inputs are not permitted"),
        ({"type": "webhook", "url": "ftp://x", "secret_env": "S"}, "http(s) URL"),
        ({"type": "webhook", "url": "https://x.example"}, "secret_env\n  Field required"),
        (
            {
                "type": "webhook",
                "url": "https://x.example",
                "secret_env": "S",
                "headers": {"x-oncall-signature": "forged"},
            },
            "set by the bot and cannot be overridden",
        ),
        (
            {
                "type": "webhook",
                "url": "https://x.example",
                "secret_env": "S",
                "headers": {"Bad Header": "1"},
            },
            "not a valid HTTP header name",
        ),
    ],
)
def test_refuses_bad_specs(spec: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as failure:
        PAGERS.validate_python({"p": spec})
    assert fragment in str(failure.value)


# -- PagerDuty events -------------------------------------------------------------------


def test_trigger_event_golden() -> None:
    event = pagerduty_event(
        "trigger",
        routing_key=KEY,
        dedup_key=incident_dedup_key(42),
        summary="#42 LLM error rate high",
        source="llm-gateway",
        severity_label="critical",
        links=[RUNBOOK, Link(label="empty", url="")],
        details={"team": "ai-eng", "firing": 3, "started": STARTED},
        timestamp=STARTED,
        component="model-gateway",
        group="ai-eng",
        event_class="error-rate",
        client_url="https://example.slack.com/archives/C0123ABCD/p1711760100000100",
    )
    assert event == {
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": "oncall-bot-incident-42",
        "client": "oncall-bot",
        "client_url": "https://example.slack.com/archives/C0123ABCD/p1711760100000100",
        "payload": {
            "summary": "#42 LLM error rate high",
            "source": "llm-gateway",
            "severity": "critical",
            "timestamp": "2025-03-30T00:55:00.000+00:00",
            "component": "model-gateway",
            "group": "ai-eng",
            "class": "error-rate",
            "custom_details": {
                "team": "ai-eng",
                "firing": 3,
                "started": "2025-03-30 00:55:00+00:00",
            },
        },
        "links": [{"href": "https://runbooks.example.com/llm-errors", "text": "Runbook"}],
    }
    json.loads(json_body(event))


def test_minimal_trigger_fills_required_fields() -> None:
    event = pagerduty_event("trigger", routing_key=KEY, dedup_key="k", summary="  ")
    assert event["payload"] == {
        "summary": "(no summary)",
        "source": "oncall-bot",
        "severity": "info",
    }
    assert "links" not in event and "client_url" not in event


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_carry_only_the_keys(action: str) -> None:
    event = pagerduty_event(
        action,  # type: ignore[arg-type]
        routing_key=KEY,
        dedup_key="oncall-bot-incident-42",
        summary="ignored",
        severity_label="critical",
    )
    assert event == {
        "routing_key": KEY,
        "event_action": action,
        "dedup_key": "oncall-bot-incident-42",
    }


def test_summary_is_truncated_to_1024_characters() -> None:
    event = pagerduty_event("trigger", routing_key=KEY, dedup_key="k", summary="x" * 5000)
    summary = event["payload"]["summary"]
    assert len(summary) == 1024
    assert summary.endswith("…")
    exact = pagerduty_event("trigger", routing_key=KEY, dedup_key="k", summary="y" * 1024)
    assert exact["payload"]["summary"] == "y" * 1024


def test_naive_timestamps_are_utc() -> None:
    naive = datetime(2025, 3, 30, 0, 55)
    event = pagerduty_event("trigger", routing_key=KEY, dedup_key="k", summary="s", timestamp=naive)
    assert event["payload"]["timestamp"] == "2025-03-30T00:55:00.000+00:00"


def test_oversized_details_are_dropped_not_the_page() -> None:
    event = pagerduty_event(
        "trigger",
        routing_key=KEY,
        dedup_key="k",
        summary="s",
        details={"log": "x" * EVENT_SIZE_LIMIT},
    )
    assert event["payload"]["custom_details"] == {"note": "details dropped: over 512 KB"}
    assert event["payload"]["summary"] == "s"
    assert len(json_body(event)) < EVENT_SIZE_LIMIT


@pytest.mark.parametrize("dedup_key", ["", "k" * 256])
def test_dedup_key_must_fit_pagerduty(dedup_key: str) -> None:
    with pytest.raises(ValueError, match="1 to 255 characters"):
        pagerduty_event("resolve", routing_key=KEY, dedup_key=dedup_key)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("critical", "critical"),
        ("page", "critical"),
        ("SEV1", "critical"),
        ("error", "error"),
        ("high", "error"),
        ("sev2", "error"),
        ("warning", "warning"),
        ("warn", "warning"),
        ("sev3", "warning"),
        (" Warning ", "warning"),
        ("info", "info"),
        ("sev4", "info"),
        ("", "info"),
        ("whatever", "info"),
    ],
)
def test_severity_mapping(label: str, expected: str) -> None:
    assert pagerduty_severity(label) == expected
    event = pagerduty_event(
        "trigger", routing_key=KEY, dedup_key="k", summary="s", severity_label=label
    )
    assert event["payload"]["severity"] == expected


# -- PagerDuty answers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (
            202,
            {
                "status": "success",
                "message": "Event processed",
                "dedup_key": "oncall-bot-incident-42",
            },
            OutcomeKind.OK,
            "Event processed",
        ),
        (202, None, OutcomeKind.OK, "Event processed"),
        (
            400,
            {
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": ["Length of 'routing_key' is incorrect (should be 32 characters)"],
            },
            OutcomeKind.FATAL,
            "PagerDuty refused the event: Event object is invalid: "
            "Length of 'routing_key' is incorrect (should be 32 characters)",
        ),
        (400, None, OutcomeKind.FATAL, "PagerDuty refused the event"),
        (429, None, OutcomeKind.RETRY, "PagerDuty throttled the event (429)"),
        (500, None, OutcomeKind.RETRY, "PagerDuty server error 500"),
        (
            503,
            {"status": "Unavailable", "message": "try later"},
            OutcomeKind.RETRY,
            "PagerDuty server error 503: try later",
        ),
        (403, None, OutcomeKind.FATAL, "unexpected HTTP 403 from PagerDuty"),
        (404, {"errors": "not a list"}, OutcomeKind.FATAL, "unexpected HTTP 404 from PagerDuty"),
        (302, None, OutcomeKind.FATAL, "unexpected HTTP 302 from PagerDuty"),
    ],
)
def test_classifies_pagerduty_answers(
    status: int, body: dict[str, Any] | None, kind: OutcomeKind, message: str
) -> None:
    outcome = classify_pagerduty_response(status, body)
    assert (outcome.kind, outcome.message) == (kind, message)


def test_ok_answer_keeps_pagerduty_dedup_key() -> None:
    outcome = classify_pagerduty_response(202, {"status": "success", "dedup_key": "srv01/HTTP"})
    assert outcome.dedup_key == "srv01/HTTP"
    assert classify_pagerduty_response(202, {"dedup_key": 7}).dedup_key is None


# -- generic webhooks -------------------------------------------------------------------


def test_webhook_page_golden() -> None:
    assert webhook_page("trigger", INCIDENT, ANA, level=1, people=[ANA, BO]) == {
        "version": 1,
        "event": "trigger",
        "dedup_key": "oncall-bot-incident-42",
        "title": "Page: #42 LLM error rate high",
        "message": "critical, team ai-eng: 5xx from the model gateway above 5% for 10m",
        "priority": "critical",
        "person": {"id": "U0PRIMARY1", "name": "Ana Lima", "email": "ana@example.com"},
        "people": [
            {"id": "U0PRIMARY1", "name": "Ana Lima", "email": "ana@example.com"},
            {"id": "U0SECOND01", "name": "", "email": ""},
        ],
        "level": 1,
        "incident": {
            "id": 42,
            "title": "LLM error rate high",
            "severity": "critical",
            "team": "ai-eng",
            "status": "triggered",
            "started_at": "2025-03-30T00:55:00Z",
            "url": "https://example.slack.com/archives/C0123ABCD/p1711760100000100",
            "summary": "5xx from the model gateway above 5% for 10m",
            "links": [{"label": "Runbook", "url": "https://runbooks.example.com/llm-errors"}],
        },
    }


def test_webhook_page_other_events() -> None:
    resolved = INCIDENT.model_copy(
        update={"status": IncidentStatus.RESOLVED, "severity": "", "summary": ""}
    )
    page = webhook_page("resolve", resolved, None)
    assert page["title"] == "Resolved: #42 LLM error rate high"
    assert page["message"] == "team ai-eng: LLM error rate high"
    assert (page["priority"], page["person"], page["level"]) == ("info", None, None)
    assert webhook_page("test", INCIDENT, BO)["title"].startswith("Test: #42")


def test_pagerduty_details_and_links_say_whom_to_wake_and_where_to_look() -> None:
    details = page_details(INCIDENT, ANA, level=2, people=[ANA])
    assert details == {
        "person": {"id": "U0PRIMARY1", "name": "Ana Lima", "email": "ana@example.com"},
        "people": [{"id": "U0PRIMARY1", "name": "Ana Lima", "email": "ana@example.com"}],
        "level": 2,
        "incident_id": 42,
        "team": "ai-eng",
        "severity": "critical",
        "summary": "5xx from the model gateway above 5% for 10m",
        "slack_url": "https://example.slack.com/archives/C0123ABCD/p1711760100000100",
    }
    assert page_links(INCIDENT) == [
        Link(label="Slack incident message", url=INCIDENT.url), RUNBOOK]
    assert page_links(INCIDENT.model_copy(update={"url": ""})) == [RUNBOOK]


def test_webhook_page_truncates_long_text() -> None:
    long = INCIDENT.model_copy(update={"title": "t" * 2000, "summary": "s" * 2000})
    page = webhook_page("trigger", long, None)
    assert len(page["title"]) == 250 and len(page["message"]) == 1024


def test_webhook_body_is_stable_across_retries() -> None:
    first = json_body(webhook_page("trigger", INCIDENT, ANA, level=1))
    assert first == json_body(webhook_page("trigger", INCIDENT, ANA, level=1))
    assert json.loads(first)["incident"]["id"] == 42


def test_webhook_headers_sign_the_body_and_cannot_be_overridden() -> None:
    spec = WebhookSpec(
        type="webhook", url="https://x.example", secret_env="S", headers={"X-Team": "ai-eng"}
    )
    body = json_body(webhook_page("trigger", INCIDENT, ANA))
    headers = webhook_headers(spec, body, "s3cret", 1_700_000_000, "key-1")
    assert headers["X-Team"] == "ai-eng"
    assert headers["Content-Type"] == "application/json"
    assert headers["Idempotency-Key"] == "key-1"
    assert verify(headers["X-Oncall-Signature"], body, "s3cret", 1_700_000_010)
