"""Block Kit builders for the incident message: pure functions from an IncidentView to blocks.

Everything that comes from an alert is escaped (bot.slack.text) before it reaches mrkdwn, and
the message stays within Slack's budgets by truncating, never by raising.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.domain.alerts import (
    AlertLine,
    AlertStatus,
    IncidentStatus,
    IncidentView,
    Link,
)
from bot.slack.action_ids import ActionId, IncidentRef
from bot.slack.incident.changes_blocks import changes_blocks
from bot.slack.text import (
    CONTEXT_ELEMENTS_MAX,
    CONTEXT_TEXT_MAX,
    FIELD_TEXT_MAX,
    HEADER_TEXT_MAX,
    LINK_LABEL_MAX,
    LINKS_MAX,
    MAX_BLOCKS,
    SECTION_FIELDS_MAX,
    SECTION_TEXT_MAX,
    as_utc,
    escape_mrkdwn,
    mrkdwn_link,
    mrkdwn_text,
    one_line,
    slack_date,
    truncate_mrkdwn,
    truncate_plain,
    user_mention,
)
from bot.slack.triage.blocks import confidence_buttons, why_blocks

FALLBACK_TITLE_MAX = 150
ALERT_LINES_MAX = 50
ALERT_LINE_MAX = 1000
ALERT_LINK_MAX = 800
ALERT_LABEL_KEYS_MAX = 5
SEVERITY_MAX = 20

STATUS_EMOJI = {
    IncidentStatus.TRIGGERED: ":red_circle:",
    IncidentStatus.ACKNOWLEDGED: ":large_yellow_circle:",
    IncidentStatus.RESOLVED: ":large_green_circle:",
}
ALERT_EMOJI = {AlertStatus.FIRING: ":fire:", AlertStatus.RESOLVED: ":white_check_mark:"}

# ---------------------------------------------------------------- the message


def alert_message(view: IncidentView, extra: Sequence[Block] = (),
                  after: Sequence[Block] = ()) -> tuple[str, list[Block]]:
    """Render the incident message: the notification text and the blocks, within limits.

    `extra` (at most a few blocks, e.g. who was paged) goes right under the facts; `after`
    (e.g. the feedback row) goes under the buttons.
    """
    head = [_header_block(view), _fields_block(view), *extra, *_annotation_blocks(view),
            *changes_blocks(view)]
    tail = [*_links_blocks(view), *_reasons_blocks(view), *why_blocks(view),
            *_actions_blocks(view), *after]
    alerts = _alert_list_blocks(view, budget=MAX_BLOCKS - len(head) - len(tail))
    return fallback_text(view), [*head, *alerts, *tail]


def fallback_text(view: IncidentView) -> str:
    """Short text for notifications and clients that cannot show blocks."""
    title = truncate_mrkdwn(escape_mrkdwn(one_line(view.title)), FALLBACK_TITLE_MAX)
    severity = _severity(view)
    prefix = f"[{escape_mrkdwn(severity)}] " if severity else ""
    return f"{prefix}#{view.id} {title} ({view.status.value})"


def _severity(view: IncidentView) -> str:
    """Severity as a short upper-case tag, e.g. CRITICAL."""
    return truncate_plain(one_line(view.severity).upper(), SEVERITY_MAX)


def _header_block(view: IncidentView) -> HeaderBlock:
    """Status, severity, number and title in the large font, escaped like any text object."""
    parts = [STATUS_EMOJI[view.status], _severity(view), f"#{view.id}", one_line(view.title)]
    text = truncate_mrkdwn(escape_mrkdwn(" ".join(p for p in parts if p)), HEADER_TEXT_MAX)
    return HeaderBlock(text=PlainTextObject(text=text, emoji=True))


def _fields_block(view: IncidentView) -> SectionBlock:
    """The facts a responder scans first, two columns."""
    pairs = [
        ("Team", escape_mrkdwn(one_line(view.team))),
        ("Type", escape_mrkdwn(one_line(view.alert_type))),
        ("Service", escape_mrkdwn(one_line(view.service))),
        ("Started", slack_date(view.started_at)),
        ("Status", status_text(view)),
        ("Action", view.action.value),
        ("Tier", escape_mrkdwn(one_line(view.tier or ""))),
    ]
    fields = [_field(name, value) for name, value in pairs if value]
    return SectionBlock(fields=fields[:SECTION_FIELDS_MAX])


def _field(name: str, value: str) -> MarkdownTextObject:
    """One labelled field, cut to Slack's 2,000 characters."""
    return mrkdwn_text(truncate_mrkdwn(f"*{name}*\n{value}", FIELD_TEXT_MAX))


def status_text(view: IncidentView) -> str:
    """Say who moved the incident to its status, and when, and where paging stands."""
    paging = escalation_text(view)
    return _state_text(view) + (f"\n{paging}" if paging else "")


def _state_text(view: IncidentView) -> str:
    if view.status is IncidentStatus.ACKNOWLEDGED:
        return "Acked" + _by(view.acked_by) + _at(view.acked_at)
    if view.status is IncidentStatus.RESOLVED:
        if view.resolved_by is None:
            return "Resolved at source" + _at(view.resolved_at, prefix=" · ")
        return "Resolved" + _by(view.resolved_by) + _at(view.resolved_at)
    return "Triggered"


def escalation_text(view: IncidentView) -> str:
    """The paging part of the status field: held, level N, time to ack, UNOWNED."""
    parts = []
    if view.unowned:
        parts.append(":rotating_light: *UNOWNED*: every level was paged, nobody acknowledged")
    elif view.escalation_level:
        parts.append(f"level {view.escalation_level} paged")
    elif view.page_held_until:
        parts.append(f"page held until {slack_date(view.page_held_until, '{time}')}")
    if view.auto_resolved_in_hold:
        parts.append("auto-resolved before the page was due: nobody was paged")
    if view.time_to_ack is not None:
        seconds = int(view.time_to_ack.total_seconds())
        parts.append(f"time to ack {seconds // 60}m {seconds % 60:02d}s")
    return " · ".join(parts)



def _by(user_id: str | None) -> str:
    return f" by {user_mention(user_id)}" if user_id else ""


def _at(dt: datetime | None, prefix: str = " at ") -> str:
    return f"{prefix}{slack_date(dt)}" if dt else ""


def _annotation_blocks(view: IncidentView) -> list[SectionBlock]:
    """Summary and description, escaped and cut to the section limit."""
    texts = (view.summary, view.description)
    return [_text_section(escape_mrkdwn(t)) for t in texts if t.strip()]


def _text_section(text: str) -> SectionBlock:
    return SectionBlock(text=mrkdwn_text(truncate_mrkdwn(text, SECTION_TEXT_MAX)))


# ---------------------------------------------------------------- alert list


def _alert_list_blocks(view: IncidentView, budget: int) -> list[Block]:
    """List the incident's alerts, firing first, in at most `budget` blocks."""
    if view.alert_total <= 1 or budget < 2:
        return _alerts_footer(0, view)[:budget]
    alerts = sorted(view.alerts, key=_alert_order)[:ALERT_LINES_MAX]
    keys = _distinguishing_keys(alerts)
    lines = [_alerts_heading(view)] + [_alert_line(a, keys) for a in alerts]
    texts, fitted = pack_lines(lines, max_blocks=budget - 1)
    blocks: list[Block] = [_text_section(t) for t in texts]
    return blocks + _alerts_footer(view.alert_total - max(fitted - 1, 0), view)


def _alert_order(alert: AlertLine) -> tuple[bool, datetime]:
    """Firing before resolved, then oldest first."""
    return (alert.status is not AlertStatus.FIRING, as_utc(alert.starts_at))


def _alerts_heading(view: IncidentView) -> str:
    firing = view.firing_count
    return f"*Alerts:* {firing} firing, {view.alert_total - firing} resolved"


def _distinguishing_keys(alerts: Sequence[AlertLine]) -> list[str]:
    """Label keys whose values differ between alerts: what tells them apart."""
    keys = sorted({k for a in alerts for k in a.labels} - {"alertname"})
    varying = [k for k in keys if len({a.labels.get(k) for a in alerts}) > 1]
    return varying[:ALERT_LABEL_KEYS_MAX]


def _alert_line(alert: AlertLine, keys: Sequence[str]) -> str:
    """One alert: status, name (linked to its source), what sets it apart, when it started."""
    detail = one_line(alert.summary) or _labels_text(alert, keys)
    line = f"{ALERT_EMOJI[alert.status]} *{_alert_name(alert)}*"
    if detail:
        line += f" — {escape_mrkdwn(detail)}"
    started = f" · {slack_date(alert.starts_at)}"
    return truncate_mrkdwn(line, ALERT_LINE_MAX - len(started)) + started


def _alert_name(alert: AlertLine) -> str:
    name = one_line(alert.alertname) or "alert"
    link = mrkdwn_link(alert.generator_url, name) if alert.generator_url else None
    if link and len(link) <= ALERT_LINK_MAX:
        return link
    return escape_mrkdwn(truncate_plain(name, LINK_LABEL_MAX))


def _labels_text(alert: AlertLine, keys: Iterable[str]) -> str:
    return ", ".join(f"{k}={alert.labels[k]}" for k in keys if k in alert.labels)


def pack_lines(lines: Sequence[str], max_blocks: int) -> tuple[list[str], int]:
    """Join lines into section texts under 3,000 chars; return them and how many lines fit."""
    texts: list[str] = []
    current, fitted = "", 0
    for line in lines:
        line = truncate_mrkdwn(line, SECTION_TEXT_MAX)
        if current and len(current) + 1 + len(line) <= SECTION_TEXT_MAX:
            current = f"{current}\n{line}"
        elif len(texts) + bool(current) < max_blocks:
            texts += [current] if current else []
            current = line
        else:
            break
        fitted += 1
    return texts + ([current] if current else []), fitted


def _alerts_footer(hidden: int, view: IncidentView) -> list[Block]:
    """Say what the list leaves out: ours, and what Alertmanager dropped before us."""
    notes = []
    if hidden > 0:
        notes.append(f"… and {hidden} more")
    if view.alerts_truncated_at_source > 0:
        n = view.alerts_truncated_at_source
        notes.append(f"Alertmanager truncated {n} alerts from this notification")
    return [ContextBlock(elements=[mrkdwn_text(n) for n in notes])] if notes else []


# ---------------------------------------------------------------- links, reasons, buttons


def _links_blocks(view: IncidentView) -> list[Block]:
    """Source, runbook and dashboard links; unsafe or oversized URLs are dropped."""
    links = [_link_text(link) for link in view.links]
    elements = [mrkdwn_text(t) for t in links if t][:LINKS_MAX]
    return [ContextBlock(elements=elements)] if elements else []


def _link_text(link: Link) -> str | None:
    text = mrkdwn_link(link.url, link.label)
    return text if text and len(text) <= CONTEXT_TEXT_MAX else None


def _reasons_blocks(view: IncidentView) -> list[Block]:
    """Why the bot routed the incident here, in small print."""
    reasons = " · ".join(escape_mrkdwn(one_line(r)) for r in view.reasons if r.strip())
    route = escape_mrkdwn(one_line(view.route_path))
    texts = [f"Routed via {route}: {reasons}" if route else f"Routed: {reasons}"]
    elements = [mrkdwn_text(truncate_mrkdwn(t, CONTEXT_TEXT_MAX)) for t in texts if t]
    return [ContextBlock(elements=elements[:CONTEXT_ELEMENTS_MAX])] if elements else []


def _actions_blocks(view: IncidentView) -> list[Block]:
    """The buttons that make sense in the current status; none once resolved."""
    buttons = incident_buttons(view) + confidence_buttons(view)
    if not buttons:
        return []
    return [ActionsBlock(block_id=f"incident-actions-{view.id}", elements=buttons)]


def incident_buttons(view: IncidentView) -> list[ButtonElement]:
    """Ack while triggered; escalate and resolve until resolved; Route to humans (or Restore
    AI) when the service has a handoff; runbook if any."""
    if view.status is IncidentStatus.RESOLVED:
        return []
    value = IncidentRef(incident_id=view.id).encode()
    buttons = []
    if view.status is IncidentStatus.TRIGGERED:
        buttons.append(_button("Ack", ActionId.INCIDENT_ACK, value, style="primary"))
    buttons.append(_button("Escalate", ActionId.INCIDENT_ESCALATE, value))
    if view.handoff_configured:  # the off-switch exists only where oncall.yaml defines one
        buttons.append(_button("Restore AI", ActionId.INCIDENT_RESTORE_AI, value)
                       if view.humans_mode else
                       _button("Route to humans", ActionId.INCIDENT_ROUTE_TO_HUMANS, value,
                               style="danger"))
    buttons.append(_button("Resolve", ActionId.INCIDENT_RESOLVE, value))
    if view.runbook:
        buttons.append(_button("Start runbook", ActionId.INCIDENT_RUNBOOK_START, value))
    buttons.append(_button("Post update", ActionId.INCIDENT_POST_UPDATE, value))
    if view.publishable:
        buttons.append(_button("Publish to status page", ActionId.INCIDENT_PUBLISH, value))
    return buttons


def _button(
    label: str,
    action_id: ActionId,
    value: str,
    *,
    style: str | None = None,
    confirm: ConfirmObject | None = None,
) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=label),
        action_id=action_id.value,
        value=value,
        style=style,
        confirm=confirm,
    )
