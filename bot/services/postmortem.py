"""The postmortem draft of an incident: facts read from the database, Markdown from the domain."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from bot.domain.errors import IncidentNotFound
from bot.domain.permissions import Action
from bot.domain.postmortem import (
    ActionItemLine,
    PostmortemFacts,
    TimelineEntry,
    postmortem_markdown,
)
from bot.domain.postmortem_ai import AIFacts, FeedbackLine, SignalLine, is_signal
from bot.domain.privacy import visible, visible_rationale, visible_title
from bot.domain.text import unescape_mrkdwn
from bot.services import audit
from bot.services.context import ServiceContext
from bot.services.incidents import Actor, check_allowed, recording_denials
from bot.services.notify import FILE_UPLOAD
from bot.services.privacy import ensure_visible
from bot.services.views import changes_of
from bot.store import repo
from bot.store.models import ActionItemRow, FeedbackRow

#: How far back "the model, prompt and provider at the time" looks for the last change.
VERSIONS_LOOKBACK = timedelta(days=30)


async def draft(ctx: ServiceContext, incident_id: int) -> str:
    async with ctx.db.reader() as s:
        incident = await repo.incident(s, incident_id)
        if incident is None:
            raise IncidentNotFound(incident_id)
        alerts = await repo.alerts_of_incident(s, incident_id)
        events = await repo.timeline_of(s, incident_id)
        items = (await s.exec(select(ActionItemRow).where(
            ActionItemRow.incident_id == incident_id).order_by(col(ActionItemRow.id)))).all()
        ai = await _ai_facts(ctx, s, incident, alerts)
    ends = [a.ends_at for a in alerts if a.ends_at]
    hidden = ctx.config.hidden_labels(incident.team)  # the draft may be shared in Slack too
    rationale = visible_rationale(incident.rationale, hidden)
    lead = next((a for a in alerts if a.status == "firing"), alerts[0] if alerts else None)
    title = visible_title(incident.title, lead.labels, lead.annotations, hidden) if lead else (
        incident.title)
    facts = PostmortemFacts(
        id=incident.id, title=title, team=incident.team, severity=incident.severity,
        service=incident.service, status=incident.status, opened_at=incident.opened_at,
        first_paged_at=incident.first_paged_at, acked_at=incident.acked_at,
        resolved_at=incident.resolved_at,
        impact_start=min((a.starts_at for a in alerts), default=incident.started_at),
        impact_end=max(ends) if ends and len(ends) == len(alerts) else incident.resolved_at,
        reasons=rationale.get("reasons", []),
        route_path=rationale.get("route_path", []),
        why=rationale.get("why", []),
        # A Markdown file, not Slack mrkdwn: the text as typed, the bot's mentions as written.
        timeline=[TimelineEntry(at=e.at, kind=e.kind, actor=e.actor,
                                data=_visible_data(e.data, hidden),
                                text=unescape_mrkdwn(e.text) if e.mrkdwn else e.text)
                  for e in events],
        actions=[ActionItemLine(id=i.id, owner=i.owner, text=i.text,
                                due=i.due.isoformat() if i.due else None,
                                done=i.done_at is not None) for i in items],
        action=incident.action, ai=ai)
    return postmortem_markdown(facts)


def _visible_data(data: dict, hidden: frozenset[str]) -> dict:
    """A timeline row's data without hidden labels (rows written before they were stripped)."""
    shown = visible_rationale(data, hidden)
    if isinstance(shown.get("labels"), dict):
        shown["labels"] = visible(shown["labels"], hidden)
    return shown


async def _ai_facts(ctx: ServiceContext, s, incident, alerts) -> AIFacts:
    """Versions, changes, quality signals, context and feedback: the AI sections' facts."""
    started = min((a.starts_at for a in alerts), default=incident.opened_at)
    window = ctx.config.changes.window
    changes = await changes_of(s, incident, started, max(window, VERSIONS_LOOKBACK), None)
    lead = next((a for a in alerts if a.status == "firing"), alerts[0] if alerts else None)
    hidden = ctx.config.hidden_labels(incident.team)
    verdicts = (await s.exec(select(FeedbackRow).where(
        FeedbackRow.incident_id == incident.id).order_by(col(FeedbackRow.at)))).all()
    return AIFacts(
        changes=changes, window=window,
        labels=visible(lead.labels, hidden) if lead else {},
        signals=[SignalLine(alertname=a.labels.get("alertname", "alert"),
                            alert_type=a.labels.get("alert_type", ""),
                            detector=a.labels.get("detector", ""), starts_at=a.starts_at,
                            summary=a.annotations.get("summary", ""))
                 for a in alerts if is_signal(a.labels)],
        feedback=[FeedbackLine(user=f.user_id, verdict=f.verdict, at=f.at) for f in verdicts],
        tier=incident.tier, rules=list((incident.context or {}).get("rules", [])))


async def share(ctx: ServiceContext, incident_id: int, actor: Actor) -> None:
    """Upload the draft to the incident's thread (through the outbox) and say who asked."""
    async with ctx.db.reader() as s:
        incident = await repo.incident(s, incident_id)
    if incident is not None:
        await ensure_visible(ctx, incident, actor, Action.POSTMORTEM)
    markdown = await draft(ctx, incident_id)
    now = ctx.clock.now()
    async with recording_denials(ctx, incident_id, actor, Action.POSTMORTEM), \
            ctx.db.transaction() as s:
        incident = await check_allowed(ctx, s, incident_id, actor, Action.POSTMORTEM)
        audit.record(s, now, actor.user_id, Action.POSTMORTEM, team=incident.team,
                     target=f"incident:{incident_id}", incident_id=incident_id,
                     detail="postmortem draft uploaded to the thread")
        await repo.enqueue(s, kind=FILE_UPLOAD, lane=f"channel:{incident.channel}", at=now,
                           incident_id=incident_id,
                           payload={"filename": f"postmortem-{incident_id}.md",
                                    "title": f"Postmortem draft: #{incident_id}",
                                    "content": markdown})
        repo.timeline(s, incident_id=incident_id, at=now, kind="postmortem_drafted",
                      actor=actor.user_id, text=f"<@{actor.user_id}> drafted the postmortem",
                      mrkdwn=True)
    ctx.wake_delivery()
