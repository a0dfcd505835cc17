"""Paging and escalation: who is notified at each step, recorded, queued, and when next.

Due times live on the incident (`next_step_at`, `next_step_kind`), so a restart neither
loses nor repeats a step: the scheduler tick claims a due incident with a conditional update
inside the transaction that acts on it, and an ack in between makes that update miss.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import IncidentStatus
from bot.domain.escalation import (
    EscalationPolicy,
    Level,
    ResolvedTargets,
    Step,
    plan_step,
    policy_for,
    resolve_targets,
)
from bot.domain.schedules import OnCall, Override, who_is_on_call
from bot.domain.text import escape_mrkdwn
from bot.services import silences
from bot.services.context import ServiceContext
from bot.services.notify import (
    queue_dm_sync,
    queue_pager_event,
    queue_thread_note,
    queue_usergroup_page,
)
from bot.services.outbox import queue_sync
from bot.store import repo
from bot.store.models import IncidentRow, OverrideRow, PageRow

#: The least time the last level of a policy gets before the incident is declared UNOWNED,
#: unless the policy sets `unowned_after`.
UNOWNED_GRACE = timedelta(minutes=5)
PAGE, ESCALATE, ACK_TIMEOUT, UNOWNED = "page", "escalate", "ack_timeout", "unowned"
SENT, SKIPPED, FAILED = "sent", "skipped", "failed"  # PageRow.outcome


def policy_of(ctx: ServiceContext, incident: IncidentRow):
    team = ctx.config.teams.get(incident.team)
    name = policy_for(incident.severity, team.escalation_policy if team else None,
                      ctx.config.severity_policies)
    return name, ctx.config.escalation_policies.get(name) if name else None


async def begin(ctx: ServiceContext, s: AsyncSession, incident: IncidentRow,
                page_after: timedelta | None, now: datetime) -> None:
    """A new paging incident: page level 1 now, or hold it for the route's `page_after`."""
    name, policy = policy_of(ctx, incident)
    incident.policy = name
    if policy is None:
        repo.timeline(s, incident_id=incident.id, at=now, kind="not_paged", actor="bot",
                      text=f"no escalation policy for team {incident.team}: nobody paged")
        return
    due = (incident.started_at or now) + page_after if page_after else now
    window = await silences.maintenance_for(s, incident.team, now)
    if window is not None:  # a notification without mentions now; a page if still open after
        _schedule(incident, max(due, window.ends_at), PAGE)
        repo.timeline(s, incident_id=incident.id, at=now, kind="maintenance", actor="bot",
                      text=f"{incident.team} is in maintenance until "
                           f"{window.ends_at:%H:%M} UTC: not paged",
                      data={"until": window.ends_at.isoformat()})
        return
    if due > now:
        _schedule(incident, due, PAGE)
        repo.timeline(s, incident_id=incident.id, at=now, kind="page_held", actor="bot",
                      text=f"page held until {due:%H:%M:%S} UTC (page_after)",
                      data={"until": due.isoformat()})
        return
    await notify_step(ctx, s, incident, now)


async def notify_step(ctx: ServiceContext, s: AsyncSession, incident: IncidentRow,
                      now: datetime) -> None:
    """Notify the next step of the policy, skipping levels that resolve to nobody."""
    _, policy = policy_of(ctx, incident)
    on_call = await on_call_now(ctx, s, incident.team, now)
    while (step := plan_step(policy, incident.escalation_step)) is not None:
        incident.escalation_step += 1
        targets = resolve_targets(Level(notify=step.notify), on_call, {})
        _record_skipped(s, incident, step.level, targets, now)
        if targets.empty:
            repo.timeline(s, incident_id=incident.id, at=now, kind="level_skipped", actor="bot",
                          text=f"level {step.level} resolves to nobody (schedule gap): skipped")
            continue
        await _page(s, incident, step.level, targets, now)
        following = plan_step(policy, incident.escalation_step)
        if following is None:
            _schedule(incident, now + unowned_after(policy, step), UNOWNED)
        else:
            _schedule(incident, now + following.delay, ESCALATE)
        return
    await declare_unowned(s, incident, now)


def unowned_after(policy: EscalationPolicy, last: Step) -> timedelta:
    """How long the last level has to acknowledge: the policy's `unowned_after`, else the last
    level's own `after`, at least UNOWNED_GRACE."""
    if policy.unowned_after is not None:
        return policy.unowned_after
    return max(last.delay, UNOWNED_GRACE)


def _record_skipped(s: AsyncSession, incident: IncidentRow, level: int,
                    targets: ResolvedTargets, now: datetime) -> None:
    """Targets of the level that reach nobody go on the message and the timeline."""
    for skipped in targets.skipped:
        s.add(PageRow(incident_id=incident.id, step=incident.escalation_step, level=level,
                      target_kind=skipped.kind, target=skipped.target, at=now,
                      outcome=SKIPPED, error=skipped.reason))
        repo.timeline(s, incident_id=incident.id, at=now, kind="page_skipped", actor="bot",
                      text=f"level {level}: {escape_mrkdwn(skipped.target)} not paged: "
                           f"{escape_mrkdwn(skipped.reason)}", mrkdwn=True,
                      data={"target_kind": skipped.kind, "target": skipped.target,
                            "level": level, "reason": skipped.reason})
    if targets.skipped:
        s.add(incident)


async def _page(s: AsyncSession, incident: IncidentRow, level: int, targets: ResolvedTargets,
                now: datetime) -> None:
    incident.first_paged_at = incident.first_paged_at or now
    await queue_sync(s, incident, now)  # the message first: the thread notes reply to it
    for kind, values in (("user", targets.people), ("usergroup", targets.usergroups),
                         ("channel", targets.channels), ("pager", targets.pagers)):
        for value in values:
            s.add(PageRow(incident_id=incident.id, step=incident.escalation_step, level=level,
                          target_kind=kind, target=value, at=now))
    for person in targets.people:
        await queue_dm_sync(s, incident, person, now, page=True)
    for group in targets.usergroups:  # its members are looked up by the Slack adapter
        await queue_usergroup_page(s, incident, group, incident.escalation_step, level, now)
    for pager in targets.pagers:
        await queue_pager_event(s, incident, pager, "trigger", now,
                                person=targets.people[0] if targets.people else None,
                                level=level, people=targets.people)
    mentions = [f"<@{p}>" for p in targets.people] + [
        f"<!subteam^{g}>" for g in targets.usergroups]
    for channel in targets.channels:
        await queue_thread_note(s, incident, f"Paging this channel for #{incident.id}: "
                                f"{escape_mrkdwn(incident.title)}", now, channel=channel)
    await queue_thread_note(s, incident, f"Paging {', '.join(mentions) or 'pagers'} "
                            f"(level {level}).", now)
    who = ", ".join(mentions + [f"pager:{p}" for p in targets.pagers])
    repo.timeline(s, incident_id=incident.id, at=now, kind="paged", actor="bot",
                  text=f"level {level}: paged {who}", mrkdwn=True,
                  data={"level": level, "people": targets.people, "pagers": targets.pagers,
                        "usergroups": targets.usergroups, "channels": targets.channels})
    s.add(incident)


async def page_people(s: AsyncSession, incident: IncidentRow, level: int, people: list[str],
                      now: datetime) -> None:
    """Page these people now as part of `level` (high confidence pages more than level 1)."""
    await _page(s, incident, level, ResolvedTargets(people=people), now)


async def declare_unowned(s: AsyncSession, incident: IncidentRow, now: datetime) -> None:
    """Every level was tried and nobody acknowledged: say so loudly in the team channel."""
    incident.unowned = True
    _schedule(incident, None, None)
    await queue_sync(s, incident, now)
    repo.timeline(s, incident_id=incident.id, at=now, kind="unowned", actor="bot",
                  text="every escalation level was paged and nobody acknowledged")
    await queue_thread_note(s, incident, f"<!here> #{incident.id} is UNOWNED: every escalation "
                            f"level was paged and nobody acknowledged.", now, broadcast=True)
    s.add(incident)


def _schedule(incident: IncidentRow, at: datetime | None, kind: str | None) -> None:
    incident.next_step_at, incident.next_step_kind = at, kind


async def on_call_now(ctx: ServiceContext, s: AsyncSession, team_name: str,
                      now: datetime) -> OnCall | None:
    """Who holds the team's schedule now, overrides included; None without a schedule."""
    team = ctx.config.teams.get(team_name)
    if team is None or not team.schedule:
        return _nobody(now)
    spec = ctx.config.schedules[team.schedule]
    rows = (await s.exec(select(OverrideRow).where(
        OverrideRow.schedule == team.schedule, col(OverrideRow.end) > now))).all()
    overrides = [Override(user=r.user, start=r.start, end=r.end, role=r.role,
                          created_at=r.created_at) for r in rows]
    return who_is_on_call(spec, now, overrides)


def _nobody(now: datetime) -> OnCall:
    return OnCall(primary=None, secondary=None, shift_start=now, shift_end=now,
                  next_handoff=now, overridden=False)


async def due_incidents(ctx: ServiceContext, now: datetime) -> list[int]:
    async with ctx.db.reader() as s:
        query = (select(IncidentRow.id).where(col(IncidentRow.next_step_at) <= now,
                                              IncidentRow.status != "resolved")
                 .order_by(col(IncidentRow.next_step_at)).limit(200))
        return list((await s.exec(query)).all())


async def tick(ctx: ServiceContext) -> int:
    """Act on every incident whose next step is due; each in its own transaction."""
    now = ctx.clock.now()
    acted = 0
    for incident_id in await due_incidents(ctx, now):
        acted += await _advance(ctx, incident_id, now)
    if acted:
        ctx.wake_delivery()
    return acted


async def _advance(ctx: ServiceContext, incident_id: int, now: datetime) -> int:
    async with ctx.db.transaction() as s:
        incident = await repo.incident(s, incident_id)
        if incident is None or incident.next_step_at is None or incident.next_step_at > now:
            return 0
        claimed = await repo.set_where(s, IncidentRow, [
            IncidentRow.id == incident_id, IncidentRow.next_step_at == incident.next_step_at,
            IncidentRow.escalation_step == incident.escalation_step,
            IncidentRow.status == incident.status, IncidentRow.version == incident.version],
            {"next_step_at": None, "version": IncidentRow.version + 1})
        if not claimed:
            return 0  # acked, resolved or advanced by someone else meanwhile
        await s.refresh(incident)
        await _act(ctx, s, incident, incident.next_step_kind, now)
    return 1


async def _act(ctx: ServiceContext, s: AsyncSession, incident: IncidentRow, kind: str | None,
               now: datetime) -> None:
    if kind == ACK_TIMEOUT and incident.status == IncidentStatus.ACKNOWLEDGED.value:
        incident.status = IncidentStatus.TRIGGERED.value
        incident.escalation_step = max(incident.escalation_step - 1, 0)
        repo.timeline(s, incident_id=incident.id, at=now, kind="ack_timeout", actor="bot",
                      text=f"acknowledged by <@{incident.acked_by}> but not resolved in time: "
                           "triggered again", mrkdwn=True)
        await notify_step(ctx, s, incident, now)
    elif incident.status != IncidentStatus.TRIGGERED.value:
        _schedule(incident, None, None)
    elif kind == UNOWNED:
        await declare_unowned(s, incident, now)
    else:
        await notify_step(ctx, s, incident, now)
    s.add(incident)
