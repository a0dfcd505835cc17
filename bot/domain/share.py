"""What a shared journal shows a reader outside Slack: public entries only, in plain words.

A link token is 128 random bits (urlsafe text); the database keeps its SHA-256 only, so a
leaked table opens no page. Text leaves as plain text: Slack mentions, channel and user-group
references, ids and mrkdwn become words or go; links and host names go unless allow-listed.

    scrub("<@U024BE7LH> restarted <https://grafana.corp.internal/d/1|the board> on db-1.svc")
    -> "a responder restarted the board on [host removed]"
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.domain.text import unescape_mrkdwn

TOKEN_BYTES = 16  # 128 bits
DEFAULT_FOR = timedelta(days=7)
STATUS_UPDATE = "status_update"  # wip/people's `/oncall update` and Post update rows

#: Timeline kinds that are shown, and the fixed words shown for them (no internal text).
MILESTONES: dict[str, str] = {
    "acked": "A responder acknowledged the incident.",
    "escalated": "More responders were called in.",
    "resolved": "The incident was resolved.",
    "reopened": "The incident was reopened.",
}
NOTE_KINDS = frozenset({"note", "slack_message"})

_USER = re.compile(r"<@[UW][A-Z0-9]+(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#[CG][A-Z0-9]+(?:\|([^>]*))?>")
_SUBTEAM = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|([^>]*))?>")
_DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")
_SPECIAL = re.compile(r"<![a-z]+(?:\|[^>]*)?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>\s]*)(?:\|([^>]*))?>")
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"')\]]+", re.IGNORECASE)
_HOST = re.compile(
    r"\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:internal|local|lan|corp|intra|intranet|home"
    r"|svc|cluster|localdomain|private)\b(?:\.[a-z0-9.-]+)?(?::\d+)?", re.IGNORECASE)
_IP = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"
                 r"|\[?\b[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){3,7}\b\]?", re.IGNORECASE)
_SLACK_ID = re.compile(r"\b[UWCGSBD][A-Z0-9]{8,}\b")
_MRKDWN = re.compile(r"(?<![\w*_~`])([*_~])(?=\S)(.+?)(?<=\S)\1(?![\w*_~`])")
_CODE = re.compile(r"```|`")
_SPACES = re.compile(r"[ \t]{2,}")
LINK_REMOVED, HOST_REMOVED, HIDDEN = "[link removed]", "[host removed]", "(hidden)"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_hash(stored: str, token: str) -> bool:
    """Constant-time: how long a comparison takes says nothing about the stored hash."""
    return hmac.compare_digest(stored.encode(), token_hash(token).encode())


def plausible_token(token: str) -> bool:
    """A token we could have issued (urlsafe base64 of 16 bytes); cheap refusal of junk."""
    return len(token) == 22 and re.fullmatch(r"[A-Za-z0-9_-]{22}", token) is not None


def host_allowed(host: str, allowed: Collection[str]) -> bool:
    host = host.lower().split(":")[0]
    return any(host == a.lower() or host.endswith("." + a.lower()) for a in allowed)


def _url_host(url: str) -> str:
    match = re.match(r"^[a-z]+://([^/?#]+)", url, re.IGNORECASE)
    return match.group(1).rsplit("@", 1)[-1] if match else ""


def scrub(text: str, *, allowed_hosts: Collection[str] = (),
          hidden_values: Collection[str] = ()) -> str:
    """Slack mrkdwn or plain text -> plain text for the public page (escaped later by Jinja)."""
    text = _USER.sub(lambda m: (m.group(1) or "a responder"), text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(1)}" if m.group(1) else "a channel", text)
    text = _SUBTEAM.sub(lambda m: (m.group(1) or "a team").lstrip("@"), text)
    text = _DATE.sub(lambda m: m.group(1), text)
    text = _SPECIAL.sub("", text)
    text = _LINK.sub(lambda m: _link(m.group(1), m.group(2), allowed_hosts), text)
    text = unescape_mrkdwn(text)
    text = _URL.sub(lambda m: m.group(0) if host_allowed(_url_host(m.group(0)), allowed_hosts)
                    else LINK_REMOVED, text)
    text = _HOST.sub(lambda m: m.group(0) if host_allowed(m.group(0), allowed_hosts)
                     else HOST_REMOVED, text)
    text = _IP.sub(HOST_REMOVED, text)
    text = _SLACK_ID.sub("", text)
    for value in sorted((v for v in hidden_values if len(v) >= 3), key=len, reverse=True):
        text = re.sub(re.escape(value), HIDDEN, text, flags=re.IGNORECASE)
    text = _MRKDWN.sub(lambda m: m.group(2), text)
    text = _CODE.sub("", text)
    return _SPACES.sub(" ", text).strip()


def _link(url: str, label: str | None, allowed: Collection[str]) -> str:
    if url.startswith("mailto:"):
        return label or "an address"
    if host_allowed(_url_host(url), allowed):
        return f"{label} ({url})" if label else url
    return label or LINK_REMOVED


def public_text(kind: str, text: str,
                data: Mapping[str, object]) -> tuple[Literal["update", "milestone"], str] | None:
    """What a public page shows for a timeline row, or None when the row is internal: status
    updates and notes marked public show their text; milestones fixed words."""
    if kind == STATUS_UPDATE or (kind in NOTE_KINDS and data.get("public") is True):
        return "update", text
    return ("milestone", MILESTONES[kind]) if kind in MILESTONES else None


class PublicEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    kind: Literal["update", "milestone", "change"]
    text: str


class PublicIncident(BaseModel):
    """One incident as a client may read it."""

    model_config = ConfigDict(frozen=True)

    number: int
    title: str
    status: str  # investigating | acknowledged | resolved
    severity: str
    service: str
    impact_start: datetime
    impact_end: datetime | None  # None: still going on
    updates: list[PublicEntry] = Field(default_factory=list)
    entries: list[PublicEntry] = Field(default_factory=list)

    @property
    def latest_update(self) -> PublicEntry | None:
        return self.updates[-1] if self.updates else None


class PublicJournal(BaseModel):
    """What a shared page renders: one incident, or a service's incidents and its changes."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["incident", "service"]
    heading: str
    generated_at: datetime
    expires_at: datetime
    incidents: list[PublicIncident]
    changes: list[PublicEntry] = Field(default_factory=list)


def public_status(status: str) -> str:
    return {"triggered": "investigating", "acknowledged": "identified"}.get(status, status)
