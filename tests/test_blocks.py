"""Incident message blocks: golden dicts, escaping, budgets, states, and a property test."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.alerts import Action, AlertLine, AlertStatus, IncidentStatus, IncidentView, Link
from bot.slack.action_ids import (
    MESSAGE_METADATA_EVENT_TYPE,
    ActionId,
    BadActionValue,
    IncidentRef,
)
from bot.slack.incident.blocks import alert_message, pack_lines
from bot.slack.text import (
    MAX_BLOCKS,
    escape_mrkdwn,
    mrkdwn_link,
    safe_url,
    slack_date,
    truncate_mrkdwn,
)

T0 = datetime(2026, 11, 23, 14, 29, tzinfo=UTC)
T0_EPOCH = 1795444140
FMT = "{date_short_pretty} {time}"
DATE_T0 = f"<!date^{T0_EPOCH}^{FMT}|2026-11-23 14:29 UTC>"
DATE_T0_MINUS_10 = f"<!date^{T0_EPOCH - 600}^{FMT}|2026-11-23 14:19 UTC>"
VALUE = '{"incident_id":42}'

# Every "<...>" we emit on purpose; anything else came from alert text unescaped.
ALLOWED_CONTROL = re.compile(
    r"<!date\^\d+\^[^|<>]+\|[^<>]+>|<@[UW][A-Z0-9]+>|<https?://[^<>|\s]+\|[^<>|]+>"
)
BROKEN_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def make_view(**overrides: Any) -> IncidentView:
    fields: dict[str, Any] = {
        "id": 42,
        "title": "Checkout error rate above 5%",
        "severity": "critical",
        "status": IncidentStatus.TRIGGERED,
        "team": "payments",
        "action": Action.PAGE,
        "alert_type": "availability",
        "service": "checkout",
        "started_at": T0,
        "summary": "5xx ratio is 7.2% on checkout-api",
        "description": "Error budget burn rate is 14x over 1h.",
        "links": [
            Link(label="Source", url="http://prometheus:9090/graph?g0.expr=up&g0.tab=1"),
            Link(label="Runbook", url="https://runbooks.example.com/checkout-5xx"),
            Link(label="Dashboard", url="https://grafana.example.com/d/abc"),
        ],
        "reasons": ["matched team=payments", "severity=critical pages"],
        "route_path": "root > payments",
        "alerts": [
            AlertLine(
                alertname="CheckoutErrors",
                status=AlertStatus.RESOLVED,
                starts_at=T0 - timedelta(minutes=10),
                labels={"alertname": "CheckoutErrors", "pod": "api-1", "env": "prod"},
            ),
            AlertLine(
                alertname="CheckoutErrors",
                status=AlertStatus.FIRING,
                starts_at=T0,
                labels={"alertname": "CheckoutErrors", "pod": "api-2", "env": "prod"},
                generator_url="http://prometheus:9090/graph?g0.expr=x",
            ),
        ],
        "runbook": "checkout-5xx",
        "handoff_configured": True,
    }
    return IncidentView(**(fields | overrides))


def render(view: IncidentView) -> tuple[str, list[dict[str, Any]]]:
    """Render and serialise: to_dict() runs slack_sdk's own validators on every block."""
    text, blocks = alert_message(view)
    dicts = [b.to_dict() for b in blocks]
    assert_within_limits(text, dicts)
    return text, dicts


def texts_of(node: Any) -> list[str]:
    """Every text object's string anywhere in a block tree."""
    if isinstance(node, list):
        return [t for item in node for t in texts_of(item)]
    if not isinstance(node, dict):
        return []
    own = [node["text"]] if isinstance(node.get("text"), str) else []
    return own + [t for key, v in node.items() if key != "text" or not own for t in texts_of(v)]


def assert_within_limits(text: str, blocks: list[dict[str, Any]]) -> None:
    """The budgets Slack enforces and slack_sdk does not check."""
    assert 0 < len(text) <= 4000
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "header":
            assert 1 <= len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            assert 1 <= len(block.get("text", {"text": "x"})["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(1 <= len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(1 <= len(e["text"]) <= 3000 for e in block["elements"])
        if block["type"] == "actions":
            assert 1 <= len(block["elements"]) <= 25
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(block_ids) == len(set(block_ids))


def assert_no_foreign_controls(text: str, blocks: list[dict[str, Any]]) -> None:
    """No mention, link or broken entity can come from alert text."""
    for s in [text, *texts_of(blocks)]:
        stripped = ALLOWED_CONTROL.sub("", s)
        assert "<" not in stripped and ">" not in stripped, s
        assert not BROKEN_ENTITY.search(s), s


def block_of(blocks: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [b for b in blocks if b["type"] == kind]


def button(action_id: str, label: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": VALUE,
        **extra,
    }


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


# ---------------------------------------------------------------- golden


def test_firing_incident_golden() -> None:
    text, blocks = render(make_view())

    assert text == "[CRITICAL] #42 Checkout error rate above 5% (triggered)"
    assert blocks == [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": ":red_circle: CRITICAL #42 Checkout error rate above 5%",
                "emoji": True,
            },
        },
        {
            "type": "section",
            "fields": [
                mrkdwn("*Team*\npayments"),
                mrkdwn("*Type*\navailability"),
                mrkdwn("*Service*\ncheckout"),
                mrkdwn(f"*Started*\n{DATE_T0}"),
                mrkdwn("*Status*\nTriggered"),
                mrkdwn("*Action*\npage"),
            ],
        },
        {"type": "section", "text": mrkdwn("5xx ratio is 7.2% on checkout-api")},
        {"type": "section", "text": mrkdwn("Error budget burn rate is 14x over 1h.")},
        {
            "type": "section",
            "text": mrkdwn(
                "*Alerts:* 1 firing, 1 resolved\n"
                ":fire: *<http://prometheus:9090/graph?g0.expr=x|CheckoutErrors>*"
                f" — pod=api-2 · {DATE_T0}\n"
                f":white_check_mark: *CheckoutErrors* — pod=api-1 · {DATE_T0_MINUS_10}"
            ),
        },
        {
            "type": "context",
            "elements": [
                mrkdwn("<http://prometheus:9090/graph?g0.expr=up&amp;g0.tab=1|Source>"),
                mrkdwn("<https://runbooks.example.com/checkout-5xx|Runbook>"),
                mrkdwn("<https://grafana.example.com/d/abc|Dashboard>"),
            ],
        },
        {
            "type": "context",
            "elements": [
                mrkdwn("Routed via root &gt; payments: matched team=payments"
                       " · severity=critical pages"),
            ],
        },
        {
            "type": "actions",
            "block_id": "incident-actions-42",
            "elements": [
                button("incident.ack", "Ack", style="primary"),
                button("incident.escalate", "Escalate"),
                button("incident.route_to_humans", "Route to humans", style="danger"),
                button("incident.resolve", "Resolve"),
                button("incident.runbook_start", "Start runbook"),
                button("incident.post_update", "Post update"),
            ],
        },
    ]


def test_single_alert_is_not_listed_and_optional_fields_drop_out() -> None:
    view = make_view(
        alerts=make_view().alerts[:1], alert_type="", service="", severity="", runbook=None
    )
    text, blocks = render(view)

    assert text == "#42 Checkout error rate above 5% (triggered)"
    assert blocks[0]["text"]["text"] == ":red_circle: #42 Checkout error rate above 5%"
    assert [f["text"].split("\n")[0] for f in blocks[1]["fields"]] == [
        "*Team*",
        "*Started*",
        "*Status*",
        "*Action*",
    ]
    assert not any("*Alerts:*" in t for t in texts_of(blocks))
    actions = block_of(blocks, "actions")[0]["elements"]
    assert ActionId.INCIDENT_RUNBOOK_START not in [b["action_id"] for b in actions]


def test_truncated_at_source_is_reported_even_with_one_alert() -> None:
    _, blocks = render(make_view(alerts=[], alerts_truncated_at_source=7))

    assert block_of(blocks, "context")[0]["elements"] == [
        mrkdwn("Alertmanager truncated 7 alerts from this notification")
    ]


# ---------------------------------------------------------------- states


def test_acked_incident_hides_ack_and_says_who() -> None:
    view = make_view(
        status=IncidentStatus.ACKNOWLEDGED, acked_by="U0ACKER", acked_at=T0 + timedelta(hours=1)
    )
    text, blocks = render(view)

    assert text.endswith("(acknowledged)")
    assert blocks[0]["text"]["text"].startswith(":large_yellow_circle: CRITICAL #42")
    acked_at = f"<!date^{T0_EPOCH + 3600}^{FMT}|2026-11-23 15:29 UTC>"
    assert blocks[1]["fields"][4]["text"] == f"*Status*\nAcked by <@U0ACKER> at {acked_at}"
    actions = block_of(blocks, "actions")
    assert [b["action_id"] for b in actions[0]["elements"]] == [
        "incident.escalate",
        "incident.route_to_humans",
        "incident.resolve",
        "incident.runbook_start",
        "incident.post_update",
    ]


def test_resolved_incident_has_no_buttons() -> None:
    view = make_view(status=IncidentStatus.RESOLVED, resolved_by="W0RESOLVER", resolved_at=T0)
    text, blocks = render(view)

    assert text.endswith("(resolved)")
    assert blocks[0]["text"]["text"].startswith(":large_green_circle:")
    assert blocks[1]["fields"][4]["text"] == f"*Status*\nResolved by <@W0RESOLVER> at {DATE_T0}"
    assert block_of(blocks, "actions") == []


def test_resolved_at_source() -> None:
    _, blocks = render(make_view(status=IncidentStatus.RESOLVED, resolved_at=T0))

    assert blocks[1]["fields"][4]["text"] == f"*Status*\nResolved at source · {DATE_T0}"


def test_actor_that_is_not_a_user_id_is_escaped_not_mentioned() -> None:
    view = make_view(status=IncidentStatus.ACKNOWLEDGED, acked_by="<!channel>")
    _, blocks = render(view)

    assert blocks[1]["fields"][4]["text"] == "*Status*\nAcked by &lt;!channel&gt;"


# ---------------------------------------------------------------- escaping


def test_escape_mrkdwn() -> None:
    assert escape_mrkdwn("a & <b> c") == "a &amp; &lt;b&gt; c"
    assert escape_mrkdwn("&lt;") == "&amp;lt;"


def test_mentions_in_alert_text_ping_nobody() -> None:
    view = make_view(
        title="<!here> down",
        severity="<!everyone>",
        team="<#C123|payments>",
        summary="cc <!channel> & <@U123>",
        description="<https://evil.example|click>",
        reasons=["<!subteam^S123>"],
        alerts=[
            AlertLine(
                alertname="<!channel>",
                status=AlertStatus.FIRING,
                starts_at=T0,
                summary="<@U999>",
                generator_url="https://x.example/<!channel>|boom",
            ),
            AlertLine(alertname="b", status=AlertStatus.FIRING, starts_at=T0),
        ],
    )
    text, blocks = render(view)

    assert "[&lt;!EVERYONE&gt;] #42 &lt;!here&gt; down" in text
    assert blocks[0]["text"]["text"] == ":red_circle: &lt;!EVERYONE&gt; #42 &lt;!here&gt; down"
    assert blocks[2]["text"]["text"] == "cc &lt;!channel&gt; &amp; &lt;@U123&gt;"
    assert blocks[3]["text"]["text"] == "&lt;https://evil.example|click&gt;"
    alerts = blocks[4]["text"]["text"]
    assert "*<https://x.example/%3C!channel%3E%7Cboom|&lt;!channel&gt;>* — &lt;@U999&gt;" in alerts
    assert_no_foreign_controls(text, blocks)


def test_unsafe_links_are_dropped_and_labels_cannot_break_out() -> None:
    view = make_view(
        links=[
            Link(label="js", url="javascript:alert(1)"),
            Link(label="rel", url="/relative/path"),
            Link(label="no host", url="https:///x"),
            Link(label="a|b <c>", url="https://ok.example/a b"),
        ]
    )
    _, blocks = render(view)

    assert block_of(blocks, "context")[0]["elements"] == [
        mrkdwn("<https://ok.example/a%20b|a¦b &lt;c&gt;>")
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.example/x?y=1&z=2", "https://a.example/x?y=1&amp;z=2"),
        ("HTTP://a.example", "HTTP://a.example"),
        ("ftp://a.example", None),
        ("mailto:a@example.com", None),
        ("", None),
        ("http://[::1", None),
    ],
)
def test_safe_url(url: str, expected: str | None) -> None:
    assert safe_url(url) == expected


def test_mrkdwn_link_defaults_empty_label() -> None:
    assert mrkdwn_link("https://a.example", "  ") == "<https://a.example|link>"


# ---------------------------------------------------------------- dates


def test_slack_date_is_local_for_readers_with_utc_fallback() -> None:
    assert slack_date(T0) == DATE_T0
    assert slack_date(T0.replace(tzinfo=None)) == DATE_T0
    paris = timezone(timedelta(hours=1))
    expected = f"<!date^{T0_EPOCH}^{{time}}|2026-11-23 14:29 UTC>"
    assert slack_date(T0.astimezone(paris), "{time}") == expected


# ---------------------------------------------------------------- truncation


def test_truncate_never_splits_an_escape_or_a_link() -> None:
    assert truncate_mrkdwn("abc", 3) == "abc"
    assert truncate_mrkdwn("ab&amp;cdef", 5) == "ab…"
    assert truncate_mrkdwn("x <https://a.example|label> tail", 10) == "x…"
    for limit in range(2, 40):
        out = truncate_mrkdwn(escape_mrkdwn("a&b<c>d" * 10), limit)
        assert len(out) <= limit
        assert not BROKEN_ENTITY.search(out)


def test_over_long_input_is_truncated_not_rejected() -> None:
    alerts = [
        AlertLine(
            alertname=f"Alert{i}",
            status=AlertStatus.FIRING if i % 3 else AlertStatus.RESOLVED,
            starts_at=T0 + timedelta(seconds=i),
            summary="x&y " * 500,
            generator_url=f"https://prom.example/graph?expr={'q' * 900}",
        )
        for i in range(500)
    ]
    view = make_view(
        title="T" * 1000,
        description="<&>" * 5000,
        summary="s" * 4000,
        reasons=["r" * 1000] * 20,
        alerts=alerts,
        alerts_truncated_at_source=12,
    )
    text, blocks = render(view)

    assert len(blocks) <= MAX_BLOCKS
    header = blocks[0]["text"]["text"]
    assert len(header) == 150 and header.endswith("…")
    description = blocks[3]["text"]["text"]
    assert len(description) <= 3000 and description.endswith("…")
    assert not BROKEN_ENTITY.search(description)
    alert_lines = [
        line
        for t in texts_of(blocks)
        for line in t.split("\n")
        if line.startswith((":fire:", ":white_check_mark:"))
    ]
    footer = block_of(blocks, "context")[0]["elements"]
    hidden = int(re.fullmatch(r"… and (\d+) more", footer[0]["text"]).group(1))
    assert len(alert_lines) + hidden == 500
    assert footer[1]["text"] == "Alertmanager truncated 12 alerts from this notification"
    assert alert_lines[0].startswith(":fire:")
    assert_no_foreign_controls(text, blocks)


def test_pack_lines_respects_block_budget() -> None:
    texts, fitted = pack_lines(["x" * 2000] * 10, max_blocks=3)

    assert len(texts) == 3 and fitted == 3
    assert pack_lines(["a", "b"], max_blocks=0) == ([], 0)
    assert pack_lines(["a", "b"], max_blocks=1) == (["a\nb"], 2)


# ---------------------------------------------------------------- property


alert_lines = st.builds(
    AlertLine,
    alertname=st.text(max_size=300),
    status=st.sampled_from(AlertStatus),
    summary=st.text(max_size=300),
    starts_at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    labels=st.dictionaries(st.text(max_size=20), st.text(max_size=50), max_size=4),
    generator_url=st.sampled_from(
        ["", "http://prom:9090/graph?g0.expr=up&x=1", "javascript:alert(1)", "https://x/<!a>|b"]
    ),
)


@st.composite
def incident_views(draw: st.DrawFn) -> IncidentView:
    pool = draw(st.lists(alert_lines, min_size=1, max_size=5))
    count = draw(st.integers(min_value=0, max_value=500))
    status = draw(st.sampled_from(IncidentStatus))
    return make_view(
        title=draw(st.text()),
        severity=draw(st.text(max_size=30)),
        team=draw(st.text()),
        status=status,
        summary=draw(st.text()),
        description=draw(st.text(min_size=0, max_size=5000)),
        reasons=draw(st.lists(st.text(), max_size=20)),
        route_path=draw(st.text()),
        links=[Link(label=draw(st.text()), url=draw(st.text())), *make_view().links],
        alerts=[pool[i % len(pool)] for i in range(count)],
        alerts_truncated_at_source=draw(st.integers(min_value=0, max_value=10_000)),
        acked_by=draw(st.one_of(st.none(), st.text(), st.just("U0ACK"))),
        acked_at=T0,
        resolved_by=draw(st.one_of(st.none(), st.text())),
        resolved_at=T0,
        runbook=draw(st.one_of(st.none(), st.text(min_size=1))),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(incident_views())
def test_any_incident_renders_valid_and_within_limits(view: IncidentView) -> None:
    text, blocks = render(view)

    assert_no_foreign_controls(text, blocks)
    actions = block_of(blocks, "actions")
    assert (actions == []) == (view.status is IncidentStatus.RESOLVED)


def test_no_handoff_configured_means_no_route_to_humans_or_restore_ai() -> None:
    for humans_mode in (False, True):
        _, blocks = render(make_view(handoff_configured=False, humans_mode=humans_mode))
        [actions] = block_of(blocks, "actions")
        assert [b["action_id"] for b in actions["elements"]] == [
            "incident.ack", "incident.escalate", "incident.resolve", "incident.runbook_start",
            "incident.post_update"]


def test_with_a_handoff_restore_ai_replaces_route_to_humans_in_humans_mode() -> None:
    _, blocks = render(make_view(humans_mode=True))
    [actions] = block_of(blocks, "actions")
    ids = [b["action_id"] for b in actions["elements"]]
    assert "incident.restore_ai" in ids and "incident.route_to_humans" not in ids


# ---------------------------------------------------------------- action ids


def test_action_ids_and_metadata_type() -> None:
    assert [a.value for a in ActionId] == [
        "incident.ack",
        "incident.escalate",
        "incident.route_to_humans",
        "incident.resolve",
        "incident.runbook_start",
        "incident.restore_ai",
        "digest.open_incident",
        "silence.end",
        "maintenance.end",
        "triage.confirm",
        "triage.dismiss",
        "incident.why",
        "auto_runbook.cancel",
        "incident.post_update",
        "incident.publish",
    ]
    assert MESSAGE_METADATA_EVENT_TYPE == "oncall_incident"


@given(st.integers(min_value=1, max_value=2**63))
def test_incident_ref_round_trip(incident_id: int) -> None:
    ref = IncidentRef(incident_id=incident_id)

    assert IncidentRef.decode(ref.encode()) == ref
    assert len(ref.encode()) <= 2000


def test_incident_ref_encodes_compact_json() -> None:
    assert IncidentRef(incident_id=42).encode() == VALUE


@pytest.mark.parametrize(
    "value",
    [
        "",
        "42",
        "not json",
        "null",
        "[]",
        '{"incident_id":"42"}',
        '{"incident_id":0}',
        '{"incident_id":4.2}',
        '{"incident_id":1,"extra":2}',
        '{"id":1}',
    ],
)
def test_incident_ref_rejects_garbage(value: str) -> None:
    with pytest.raises(BadActionValue):
        IncidentRef.decode(value)
    assert issubclass(BadActionValue, ValueError)


def test_publish_to_status_page_shows_until_published_and_not_once_resolved() -> None:
    def labels(view) -> list[str]:
        return [b["text"]["text"] for block in block_of(render(view)[1], "actions")
                for b in block["elements"]]

    assert "Publish to status page" in labels(make_view(publishable=True))
    assert "Publish to status page" not in labels(make_view())
    assert block_of(render(make_view(publishable=True, status=IncidentStatus.RESOLVED))[1],
                    "actions") == []
