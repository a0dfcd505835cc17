"""A postmortem draft in Markdown, from the record alone: nothing in it is remembered later."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from bot.domain.postmortem_ai import HUMANS_KINDS, AIFacts, HumansEntry, ai_sections


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    actor: str | None = None
    text: str = ""
    data: dict = Field(default_factory=dict)


class ActionItemLine(BaseModel):
    id: int
    owner: str
    text: str
    due: str | None = None
    done: bool = False


class PostmortemFacts(BaseModel):
    """Everything the draft says, read from the database by the caller."""

    id: int
    title: str
    team: str
    severity: str = ""
    service: str = ""
    status: str
    opened_at: datetime
    first_paged_at: datetime | None = None
    acked_at: datetime | None = None
    resolved_at: datetime | None = None
    impact_start: datetime | None = None
    impact_end: datetime | None = None
    reasons: list[str] = Field(default_factory=list)
    route_path: list[str] = Field(default_factory=list)
    why: list[str] = Field(default_factory=list)  # the path decision (confidence, context)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    actions: list[ActionItemLine] = Field(default_factory=list)
    action: str = ""  # what the bot did with it: page, notify, triage, digest
    ai: AIFacts = Field(default_factory=AIFacts)


def postmortem_markdown(facts: PostmortemFacts) -> str:
    """The draft, section by section; times in UTC (a document outlives time zones)."""
    start = facts.impact_start or facts.opened_at
    parts = [_summary(facts), _updates(facts), _timeline(facts), _runbook(facts), _handoffs(facts),
             _routing(facts),
             *ai_sections(facts.ai, start, facts.resolved_at, facts.action or "-", facts.reasons,
                          [HumansEntry(at=e.at, kind=e.kind, actor=e.actor)
                           for e in facts.timeline if e.kind in HUMANS_KINDS]),
             _actions(facts), _open_questions()]
    return "\n\n".join(p for p in parts if p) + "\n"


def _summary(f: PostmortemFacts) -> str:
    tta = _span(f.first_paged_at, f.acked_at)
    ttr = _span(f.opened_at, f.resolved_at)
    responders = sorted({e.actor for e in f.timeline if _is_person(e.actor)})
    rows = [("Incident", f"#{f.id} {f.title}"), ("Team", f.team), ("Severity", f.severity or "-"),
            ("Service", f.service or "-"), ("Status", f.status),
            ("Impact window", f"{_t(f.impact_start)} to {_t(f.impact_end) or 'ongoing'}"),
            ("Time to ack", tta or "not paged or not acked (first ack minus first page)"),
            ("Time to resolve", ttr or "not resolved (resolved minus opened)"),
            ("Responders", ", ".join(f"<@{r}>" for r in responders) or "-")]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return (f"# Postmortem draft: #{f.id} {f.title}\n\n## Summary\n\n_What happened, in two "
            f"sentences: (to write)_\n\n| | |\n| --- | --- |\n{table}")


def _timeline(f: PostmortemFacts) -> str:
    lines = [f"| {e.at:%Y-%m-%d %H:%M:%S} | {e.kind} | {e.actor or ''} | {_cell(e.text)} |"
             for e in f.timeline]
    return ("## Timeline (UTC)\n\n| time | what | who | details |\n| --- | --- | --- | --- |\n"
            + "\n".join(lines))


def _updates(f: PostmortemFacts) -> str:
    """What stakeholders were told, and when (`/oncall update`, **Post update**)."""
    updates = [e for e in f.timeline if e.kind == "status_update"]
    if not updates:
        return ""
    return "## Updates\n\n" + "\n".join(
        f"- {e.at:%Y-%m-%d %H:%M} UTC, <@{e.actor}>: {_cell(e.text)}" for e in updates)


def _runbook(f: PostmortemFacts) -> str:
    steps = [e for e in f.timeline if e.kind == "runbook_step"]
    if not steps:
        return "## Runbook path\n\nNo runbook was walked."
    lines = [f"{n}. {e.data.get('runbook', '')} / {e.data.get('node', '')}: "
             f"{e.data.get('answer', '')} ({e.actor})" for n, e in enumerate(steps, 1)]
    return "## Runbook path\n\n" + "\n".join(lines)


def _handoffs(f: PostmortemFacts) -> str:
    moves = [e for e in f.timeline if e.kind in ("routed_to_humans", "restored_ai",
                                                  "handoff_failed")]
    if not moves:
        return ""
    return "## Handoffs to humans\n\n" + "\n".join(f"- {e.at:%H:%M:%S} {e.text}" for e in moves)


def _routing(f: PostmortemFacts) -> str:
    path = " > ".join(f.route_path) or "-"
    reasons = "\n".join(f"- {r}" for r in f.reasons) or "- (none recorded)"
    why = f"\n\nPath: {' · '.join(f.why)}" if f.why else ""
    return f"## Why it was routed here\n\nRoute: {path}\n\n{reasons}{why}"


def _actions(f: PostmortemFacts) -> str:
    if not f.actions:
        return "## Action items\n\n- [ ] (add with `/oncall action @owner TEXT due DATE`)"
    lines = [f"- [{'x' if a.done else ' '}] {a.text} (owner <@{a.owner}>"
             + (f", due {a.due}" if a.due else "") + f", #{a.id})" for a in f.actions]
    return "## Action items\n\n" + "\n".join(lines)


def _open_questions() -> str:
    return ("## Questions to answer\n\n- How did we notice, and could we have noticed sooner?\n"
            "- Did the alert page the right people with what they needed?\n"
            "- What made it worse or better?")


def _span(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    seconds = int((end - start) / timedelta(seconds=1))
    hours, rest = divmod(seconds, 3600)
    return (f"{hours}h " if hours else "") + f"{rest // 60}m {rest % 60:02d}s"


def _t(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:300]


def _is_person(actor: str | None) -> bool:
    return bool(actor) and actor[0] in "UW" and actor[1:].isalnum()
