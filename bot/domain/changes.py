"""Change events: what changed in a service, when and by whom, as senders report it.

One event, trimmed: {"service": "voice-agent", "kind": "prompt", "version": "v42",
"author": "alice", "url": "https://github.com/acme/voice/pull/7", "summary": "shorter greeting",
"at": "2026-11-23T02:40:00Z"}. `kind` is one of the usual words (deploy, prompt, model, config,
flag, provider) or any other single word; `at` defaults to when the bot received it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

KNOWN_KINDS = ("deploy", "prompt", "model", "config", "flag", "provider")
KIND_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
SERVICE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")
#: How far in the future a sender's `at` may be (clock skew), no more.
MAX_SKEW = timedelta(minutes=5)


class ChangeEvent(BaseModel):
    """One change as POST /changes takes it (also what GitHub and /oncall change become)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str = Field(min_length=1, max_length=128)
    kind: str
    version: str = Field("", max_length=256)
    author: str = Field("", max_length=128)
    url: str = Field("", max_length=2048)
    summary: str = Field("", max_length=1000)
    at: datetime | None = None

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        if not SERVICE_RE.match(value):
            raise ValueError("a service name: letters, digits and _ . : / -, like voice-agent")
        return value

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower()
            if not KIND_RE.match(value):
                raise ValueError(f"one word, e.g. {', '.join(KNOWN_KINDS)}")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("an http(s) URL")
        return value

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("a time with a zone, like 2026-11-23T03:12:00Z")
        return value.astimezone(UTC) if value is not None else None

    def when(self, received: datetime) -> datetime:
        """`at`, or when it was received; a time in the future is refused by the caller."""
        return self.at or received


class ChangeLine(BaseModel):
    """One change as a message, a runbook, the journal or a postmortem shows it."""

    service: str
    kind: str
    version: str = ""
    author: str = ""
    url: str = ""
    summary: str = ""
    at: datetime


def before_text(change_at: datetime, moment: datetime) -> str:
    """`25m before`, `2h 5m before`, `3m after`: how a change stands to the alert's start."""
    delta = moment - change_at
    word = "before" if delta >= timedelta(0) else "after"
    minutes = int(abs(delta).total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    span = f"{hours}h {rest}m" if hours else f"{rest}m"
    return f"{span} {word}"


def plain_line(change: ChangeLine, moment: datetime | None = None) -> str:
    """A change as plain text (templates escape it for where it lands; Markdown quotes it)."""
    parts = [f"{change.kind} {change.version}".strip(), change.service]
    if change.author:
        parts.append(f"by {change.author}")
    if moment is not None:
        parts.append(before_text(change.at, moment))
    else:
        parts.append(f"{change.at:%Y-%m-%d %H:%M} UTC")
    text = " · ".join(parts)
    if change.summary:
        text += f": {change.summary}"
    return text + (f" ({change.url})" if change.url else "")
