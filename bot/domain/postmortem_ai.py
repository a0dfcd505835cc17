"""The postmortem sections agentic incidents need: versions at the time, what changed before,
the eval and quality signals that fired, the time with humans, and the bot's own decisions.

Pure Markdown from facts the service gathers. A section with nothing to say says so: a blank
"What changed" would read as "nothing changed", which the record cannot promise.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from bot.domain.changes import ChangeLine, before_text

#: Alert labels that name what an AI workload ran on.
VERSION_LABELS = ("model", "model_version", "prompt", "prompt_version", "provider",
                  "provider_region", "agent_version")
VERSION_KINDS = ("model", "prompt", "provider")
SIGNAL_TYPES = ("quality", "eval", "evals", "safety")


class SignalLine(BaseModel):
    alertname: str
    alert_type: str = ""
    detector: str = ""
    starts_at: datetime
    summary: str = ""


class FeedbackLine(BaseModel):
    user: str
    verdict: str
    at: datetime


class HumansEntry(BaseModel):
    at: datetime
    kind: str  # routed_to_humans | restored_ai
    actor: str | None = None


class AIFacts(BaseModel):
    """What the AI sections say, read from the record by bot/services/postmortem.py."""

    changes: list[ChangeLine] = Field(default_factory=list)  # service and dependencies
    window: timedelta = timedelta(hours=2)
    labels: dict[str, str] = Field(default_factory=dict)  # the lead alert's
    signals: list[SignalLine] = Field(default_factory=list)
    feedback: list[FeedbackLine] = Field(default_factory=list)
    tier: str | None = None
    rules: list[str] = Field(default_factory=list)  # context rules that held at open


def is_signal(labels: dict[str, str]) -> bool:
    """An eval or quality alert: by its alert_type, or a `detector` label."""
    return labels.get("alert_type", "").lower() in SIGNAL_TYPES or bool(labels.get("detector"))


HUMANS_KINDS = ("routed_to_humans", "restored_ai")


def ai_sections(ai: AIFacts, start: datetime, end: datetime | None, action: str,
                reasons: list[str], humans: list[HumansEntry]) -> list[str]:
    """`humans`: the incident's routed_to_humans and restored_ai timeline rows, in order."""
    return [_versions(ai, start), _what_changed(ai, start), _signals(ai), _humans(humans, end),
            _decisions(ai, action, reasons)]


def _versions(ai: AIFacts, start: datetime) -> str:
    lines = [f"- {key}: {ai.labels[key]} (alert label)" for key in VERSION_LABELS
             if ai.labels.get(key)]
    for kind in VERSION_KINDS:
        before = [c for c in ai.changes if c.kind == kind and c.at <= start]
        if before:
            last = before[-1]
            lines.append(f"- {kind} of {last.service}: {last.version or '(no version)'} "
                         f"since {last.at:%Y-%m-%d %H:%M} UTC (change event"
                         + (f" by {last.author}" if last.author else "") + ")")
    body = "\n".join(lines) or ("No model, prompt or provider version on record: no such "
                                "alert labels, no change events of these kinds.")
    return "## Model, prompt and provider at the time\n\n" + body


def _what_changed(ai: AIFacts, start: datetime) -> str:
    before = [c for c in ai.changes if start - ai.window <= c.at <= start]
    during = [c for c in ai.changes if c.at > start]
    lines = [_change(c, start) for c in reversed(before)]
    if during:
        lines.append("\nDuring the incident:\n")
        lines += [_change(c, start) for c in during]
    hours = int(ai.window.total_seconds() // 3600)
    span = f"{hours}h" if hours else f"{int(ai.window.total_seconds() // 60)}m"
    body = "\n".join(lines) if before or during else (
        f"No change recorded for the service or its dependencies in the {span} before it "
        "started.")
    return "## What changed before it started\n\n" + body


def _change(change: ChangeLine, start: datetime) -> str:
    head = f"{change.kind} {change.version}".strip()
    who = f" by {change.author}" if change.author else ""
    text = f"- {before_text(change.at, start)}: {head} of {change.service}{who}"
    text += f": {change.summary}" if change.summary else ""
    return text + (f" ({change.url})" if change.url else "")


def _signals(ai: AIFacts) -> str:
    if not ai.signals:
        return ("## Evals and quality signals\n\nNo eval or quality signal fired with this "
                "incident.")
    lines = [f"- {s.starts_at:%H:%M:%S} {s.alertname}"
             + (f" ({s.alert_type})" if s.alert_type else "")
             + (f", detector {s.detector}" if s.detector else "")
             + (f": {s.summary}" if s.summary else "") for s in ai.signals]
    return "## Evals and quality signals\n\n" + "\n".join(lines)


def _humans(humans: list[HumansEntry], end: datetime | None) -> str:
    lines, since, total = [], None, timedelta(0)
    for entry in humans:
        if entry.kind == "routed_to_humans" and since is None:
            since = entry
        elif entry.kind == "restored_ai" and since is not None:
            total += entry.at - since.at
            lines.append(f"- {since.at:%H:%M:%S} to {entry.at:%H:%M:%S} "
                         f"({_span(entry.at - since.at)}), by {since.actor or '?'}")
            since = None
    if since is not None:
        until = f"until the resolve at {end:%H:%M:%S}" if end else "and still with humans"
        lines.append(f"- from {since.at:%H:%M:%S}, {until}, by {since.actor or '?'}")
        total += (end - since.at) if end else timedelta(0)
    if not lines:
        return "## Routed to humans\n\nThe workload was not routed to humans."
    return ("## Routed to humans\n\n" + "\n".join(lines)
            + f"\n\nWith humans for {_span(total)} in all.")


def _decisions(ai: AIFacts, action: str, reasons: list[str]) -> str:
    lines = [f"- action taken: {action}"]
    lines += [f"- tier: {ai.tier}"] if ai.tier else []
    lines += [f"- context rule held: {rule}" for rule in ai.rules]
    lines += [f"- why: {reason}" for reason in reasons]
    verdicts = [f"- feedback: {f.verdict} by <@{f.user}> at {f.at:%Y-%m-%d %H:%M} UTC"
                for f in ai.feedback]
    lines += verdicts or ["- feedback: none given on this incident"]
    return "## The bot's decisions\n\n" + "\n".join(lines)


def _span(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    return f"{hours}h {rest}m" if hours else f"{rest}m"
