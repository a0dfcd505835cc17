"""Block Kit builders for the incident message: pure functions from an IncidentView to blocks.

Everything that comes from an alert is escaped before it reaches mrkdwn, and every
message-level budget Slack enforces but slack_sdk does not check (50 blocks, 2,000 per
field, 3,000 per context text) is enforced here by truncating, never by raising.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

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
from bot.domain.text import escape_mrkdwn, user_mention  # one escaping path, with services
from bot.slack.action_ids import ActionId, IncidentRef

MAX_BLOCKS = 50
HEADER_TEXT_MAX = HeaderBlock.text_max_length  # 150
SECTION_TEXT_MAX = SectionBlock.text_max_length  # 3,000
SECTION_FIELDS_MAX = SectionBlock.fields_max_length  # 10
FIELD_TEXT_MAX = 2000
CONTEXT_ELEMENTS_MAX = ContextBlock.elements_max_length  # 10
CONTEXT_TEXT_MAX = 3000
FALLBACK_TITLE_MAX = 150
ALERT_LINES_MAX = 50
ALERT_LINE_MAX = 1000
ALERT_LINK_MAX = 800
ALERT_LABEL_KEYS_MAX = 5
LINKS_MAX = CONTEXT_ELEMENTS_MAX
LINK_LABEL_MAX = 75
SEVERITY_MAX = 20
ELLIPSIS = "…"
DATE_FORMAT = "{date_short_pretty} {time}"

STATUS_EMOJI = {
    IncidentStatus.TRIGGERED: ":red_circle:",
    IncidentStatus.ACKNOWLEDGED: ":large_yellow_circle:",
    IncidentStatus.RESOLVED: ":large_green_circle:",
}
ALERT_EMOJI = {AlertStatus.FIRING: ":fire:", AlertStatus.RESOLVED: ":white_check_mark:"}

# An escape sequence or a <...> control sequence: a cut must never land inside one.
_ATOM = re.compile(r"<[^<>]*>|&(?:amp|lt|gt);")
_URL_UNSAFE = re.compile(r"[<>|\s\x00-\x1f\x7f]")


# ---------------------------------------------------------------- text helpers


def truncate_mrkdwn(text: str, limit: int) -> str:
    """Cut escaped mrkdwn to `limit` chars with an ellipsis, never inside `&amp;` or `<...>`."""
    if len(text) <= limit:
        return text
    cut = limit - len(ELLIPSIS)
    for atom in _ATOM.finditer(text):
        if atom.start() >= cut:
            break
        if atom.end() > cut:
            cut = atom.start()
            break
    return text[:cut].rstrip() + ELLIPSIS


def truncate_plain(text: str, limit: int) -> str:
    """Cut plain text to `limit` chars with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def one_line(text: str) -> str:
    """Collapse newlines and runs of whitespace so a value fits on one line."""
    return " ".join(text.split())


def safe_url(url: str) -> str | None:
    """Return the URL ready for a `<url|label>` link, or None unless it is http(s)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return _URL_UNSAFE.sub(lambda m: quote(m.group(), safe=""), url).replace("&", "&amp;")


def escape_link_label(label: str) -> str:
    """Escape a link label so it cannot close the link or start a new control sequence."""
    return escape_mrkdwn(one_line(label)).replace("|", "¦")


def mrkdwn_link(url: str, label: str) -> str | None:
    """Render `<url|label>`, or None when the URL is not a safe http(s) URL."""
    href = safe_url(url)
    if href is None:
        return None
    text = escape_link_label(truncate_plain(one_line(label), LINK_LABEL_MAX)) or "link"
    return f"<{href}|{text}>"


def slack_date(dt: datetime, fmt: str = DATE_FORMAT) -> str:
    """Render a date each reader sees in their own time zone, with a UTC fallback."""
    utc = _as_utc(dt)
    fallback = utc.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(utc.timestamp())}^{fmt}|{fallback}>"


def _as_utc(dt: datetime) -> datetime:
    """Treat naive datetimes as UTC, as the store writes them."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _mrkdwn(text: str) -> MarkdownTextObject:
    """Build a verbatim mrkdwn object: Slack adds no links or mentions of its own."""
    return MarkdownTextObject(text=text, verbatim=True)


# ---------------------------------------------------------------- the message


def alert_message(view: IncidentView, extra: Sequence[Block] = ()) -> tuple[str, list[Block]]:
    """Render the incident message: the notification text and the blocks, within limits.

    `extra` (at most a few blocks, e.g. who was paged) goes right under the facts.
    """
    head = [_header_block(view), _fields_block(view), *extra, *_annotation_blocks(view)]
    tail = [*_links_blocks(view), *_reasons_blocks(view), *_actions_blocks(view)]
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
    ]
    fields = [_field(name, value) for name, value in pairs if value]
    return SectionBlock(fields=fields[:SECTION_FIELDS_MAX])


def _field(name: str, value: str) -> MarkdownTextObject:
    """One labelled field, cut to Slack's 2,000 characters."""
    return _mrkdwn(truncate_mrkdwn(f"*{name}*\n{value}", FIELD_TEXT_MAX))


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
    return SectionBlock(text=_mrkdwn(truncate_mrkdwn(text, SECTION_TEXT_MAX)))


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
    return (alert.status is not AlertStatus.FIRING, _as_utc(alert.starts_at))


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
    return [ContextBlock(elements=[_mrkdwn(n) for n in notes])] if notes else []


# ---------------------------------------------------------------- links, reasons, buttons


def _links_blocks(view: IncidentView) -> list[Block]:
    """Source, runbook and dashboard links; unsafe or oversized URLs are dropped."""
    links = [_link_text(link) for link in view.links]
    elements = [_mrkdwn(t) for t in links if t][:LINKS_MAX]
    return [ContextBlock(elements=elements)] if elements else []


def _link_text(link: Link) -> str | None:
    text = mrkdwn_link(link.url, link.label)
    return text if text and len(text) <= CONTEXT_TEXT_MAX else None


def _reasons_blocks(view: IncidentView) -> list[Block]:
    """Why the bot routed the incident here, in small print."""
    reasons = " · ".join(escape_mrkdwn(one_line(r)) for r in view.reasons if r.strip())
    route = escape_mrkdwn(one_line(view.route_path))
    texts = [f"Routed via {route}: {reasons}" if route else f"Routed: {reasons}"]
    elements = [_mrkdwn(truncate_mrkdwn(t, CONTEXT_TEXT_MAX)) for t in texts if t]
    return [ContextBlock(elements=elements[:CONTEXT_ELEMENTS_MAX])] if elements else []


def _actions_blocks(view: IncidentView) -> list[Block]:
    """The buttons that make sense in the current status; none once resolved."""
    buttons = incident_buttons(view)
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
