"""Responder actions on an incident: acknowledge, resolve, escalate. One transaction each."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import IncidentStatus
from bot.domain.errors import DomainError, IncidentNotFound, NotAllowed, NothingToDo
from bot.domain.escalation import ack_deadline
from bot.domain.permissions import Action, Facts, decide, is_member
from bot.domain.text import escape_mrkdwn
from bot.services import audit, paging
from bot.services.actors import Actor, as_actor
from bot.services.context import ServiceContext
from bot.services.notify import (
    paged_pagers,
    paged_people,
    queue_dm_sync,
    queue_pager_event,
    queue_thread_note,
    queue_usergroup_page,
    sync_everywhere,
)
from bot.store import repo
from bot.store.cas import transition, unchanged
from bot.store.models import IncidentRow, PageRow


@dataclass(frozen=True)
class IncidentInfo:
    """What a modal shows before anyone commits to anything."""

    title: str
    service: str
    team: str
    firing: int


async def describe(ctx: ServiceContext, incident_id: int, *, actor: Actor | None = None,
                   action: Action | None = None) -> IncidentInfo:
    """What a modal shows; with `actor` and `action`, refuse at once (recorded) someone who
    may not do it, before they fill in a form."""
    if actor is not None and action is not None:
        await ensure_may_act(ctx, incident_id, actor, action)
    async with ctx.db.reader() as s:
        incident = await repo.incident(s, incident_id)
        if incident is None:
            raise IncidentNotFound(incident_id)
        return IncidentInfo(title=incident.title, service=incident.service, team=incident.team,
                            firing=await repo.firing_count(s, incident_id))


async def acknowledge(ctx: ServiceContext, incident_id: int, actor: Actor | str) -> IncidentRow:
    """Triggered -> acknowledged; the conditional UPDATE makes a double click a no-op."""
    actor = as_actor(actor)
    async with recording_denials(ctx, incident_id, actor, Action.ACK):
        return await _acknowledge(ctx, incident_id, actor)


async def _acknowledge(ctx: ServiceContext, incident_id: int, actor: Actor) -> IncidentRow:
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        incident = await check_allowed(ctx, s, incident_id, actor, Action.ACK)
        _, policy = paging.policy_of(ctx, incident)
        deadline = ack_deadline(policy, now) if policy else None
        changed = await transition(
            s, incident, [IncidentRow.status == IncidentStatus.TRIGGERED.value],
            {"status": IncidentStatus.ACKNOWLEDGED.value, "acked_by": actor.user_id,
             "acked_at": now, "next_step_at": deadline,
             "next_step_kind": paging.ACK_TIMEOUT if deadline else None, "unowned": False})
        if not changed:
            raise NothingToDo(_already(incident))
        repo.timeline(s, incident_id=incident_id, at=now, kind="acked", actor=actor.user_id,
                      text=f"acknowledged by <@{actor.user_id}>" + _time_to_ack(incident),
                      mrkdwn=True)
        _audit(s, now, actor, Action.ACK, incident, IncidentStatus.TRIGGERED.value)
        await _tell_pagers(s, incident, "acknowledge", now)
        await sync_everywhere(s, incident, now)
    ctx.wake_delivery()
    return incident


async def resolve(ctx: ServiceContext, incident_id: int, actor: Actor | str,
                  note: str = "") -> IncidentRow:
    """Any open state -> resolved; frees the group so the next alert opens a new incident."""
    actor = as_actor(actor)
    async with recording_denials(ctx, incident_id, actor, Action.RESOLVE):
        return await _resolve(ctx, incident_id, actor, note)


async def _resolve(ctx: ServiceContext, incident_id: int, actor: Actor, note: str) -> IncidentRow:
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        incident = await check_allowed(ctx, s, incident_id, actor, Action.RESOLVE)
        before = incident.status
        changed = await transition(
            s, incident, [IncidentRow.status != IncidentStatus.RESOLVED.value],
            {"status": IncidentStatus.RESOLVED.value, "resolved_by": actor.user_id,
             "resolved_at": now, "open_key": None, "next_step_at": None,
             "next_step_kind": None})
        if not changed:
            raise NothingToDo(_already(incident))
        firing = await repo.firing_count(s, incident_id)
        text = f"resolved by <@{actor.user_id}>" + (f": {escape_mrkdwn(note)}" if note else "")
        repo.timeline(s, incident_id=incident_id, at=now, kind="resolved", actor=actor.user_id,
                      text=text, data={"note": note, "still_firing_at_source": firing},
                      mrkdwn=True)
        _audit(s, now, actor, Action.RESOLVE, incident, before, note)
        await _tell_pagers(s, incident, "resolve", now)
        await sync_everywhere(s, incident, now)
    ctx.wake_delivery()
    return incident


async def escalate(ctx: ServiceContext, incident_id: int, actor: Actor | str, *,
                   reason: str = "", to_user: str | None = None,
                   to_usergroup: str | None = None) -> IncidentRow:
    """Page the next level now, or a chosen person or group; an acked incident is handed on."""
    actor = as_actor(actor)
    async with recording_denials(ctx, incident_id, actor, Action.ESCALATE):
        return await _escalate(ctx, incident_id, actor, reason, to_user, to_usergroup)


async def _escalate(ctx: ServiceContext, incident_id: int, actor: Actor, reason: str,
                    to_user: str | None, to_usergroup: str | None) -> IncidentRow:
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        incident = await check_allowed(ctx, s, incident_id, actor, Action.ESCALATE)
        if incident.status == IncidentStatus.RESOLVED.value:
            raise NothingToDo(_already(incident))
        target, before = _target_text(to_user, to_usergroup), incident.status
        if not await transition(s, incident, unchanged(incident),
                                {"status": IncidentStatus.TRIGGERED.value, "unowned": False}):
            raise NothingToDo(_changed_meanwhile(incident))
        repo.timeline(s, incident_id=incident_id, at=now, kind="escalated", actor=actor.user_id,
                      text=f"<@{actor.user_id}> escalated to {target}"
                           + (f": {escape_mrkdwn(reason)}" if reason else ""),
                      data={"reason": reason, "to_user": to_user, "to_usergroup": to_usergroup},
                      mrkdwn=True)
        if to_user or to_usergroup:
            await _page_chosen(s, incident, to_user, to_usergroup, now)
        elif paging.policy_of(ctx, incident)[1] is None:
            raise DomainError(f"#{incident_id} has no escalation policy: pick a person or a "
                              "user group to escalate to.")
        else:
            await paging.notify_step(ctx, s, incident, now)
        s.add(incident)
        _audit(s, now, actor, Action.ESCALATE, incident, before, f"to {target}: {reason}")
        await sync_everywhere(s, incident, now)
    ctx.wake_delivery()
    return incident


def _audit(s: AsyncSession, now: datetime, actor: Actor, action: Action,
           incident: IncidentRow, before: str, detail: str = "") -> None:
    audit.record(s, now, actor.user_id, action, team=incident.team,
                 target=f"incident:{incident.id}", incident_id=incident.id,
                 before={"status": before}, after={"status": incident.status}, detail=detail)


async def _page_chosen(s: AsyncSession, incident: IncidentRow, user: str | None,
                       usergroup: str | None, now: datetime) -> None:
    incident.first_paged_at = incident.first_paged_at or now
    if user:
        s.add(PageRow(incident_id=incident.id, step=incident.escalation_step, level=0,
                      target_kind="user", target=user, at=now))
        await queue_dm_sync(s, incident, user, now, page=True)
    if usergroup:
        s.add(PageRow(incident_id=incident.id, step=incident.escalation_step, level=0,
                      target_kind="usergroup", target=usergroup, at=now))
        await queue_usergroup_page(s, incident, usergroup, incident.escalation_step, 0, now)
    await queue_thread_note(s, incident, f"Paging {_target_text(user, usergroup)}.", now)


def _target_text(user: str | None, usergroup: str | None) -> str:
    parts = ([f"<@{user}>"] if user else []) + ([f"<!subteam^{usergroup}>"] if usergroup else [])
    return " and ".join(parts) or "the next level"


async def _tell_pagers(s: AsyncSession, incident: IncidentRow, action: str,
                       now: datetime) -> None:
    """External pagers that were triggered hear about the ack and the resolve too."""
    for pager in await paged_pagers(s, incident.id):
        await queue_pager_event(s, incident, pager, action, now)


def _time_to_ack(incident: IncidentRow) -> str:
    if incident.first_paged_at is None or incident.acked_at is None:
        return ""
    seconds = int((incident.acked_at - incident.first_paged_at).total_seconds())
    return f" ({seconds // 60}m {seconds % 60:02d}s after the first page)"


async def check_allowed(ctx: ServiceContext, s: AsyncSession, incident_id: int, actor: Actor,
                        action: Action) -> IncidentRow:
    """The incident, if the actor may do `action` on it; else NotAllowed (recorded by
    `recording_denials` around the transaction, which rolls back)."""
    incident = await repo.incident(s, incident_id)
    if incident is None:
        raise IncidentNotFound(incident_id)
    verdict = decide(action, await incident_facts(ctx, s, incident, actor),
                     [a.value for a in ctx.config.permissions.admin_only])
    if not verdict:
        raise NotAllowed(verdict.message, verdict=verdict)
    return incident


async def incident_facts(ctx: ServiceContext, s: AsyncSession, incident: IncidentRow,
                         actor: Actor, *, own: bool = False) -> Facts:
    team = ctx.config.teams.get(incident.team)
    on_call = await paging.on_call_now(ctx, s, incident.team, ctx.clock.now())
    holders = {p for p in (on_call.primary, on_call.secondary) if p} if on_call else set()
    responders = team.responders if team else []
    return Facts(target=f"#{incident.id} ({incident.team})", admin=audit.is_admin(ctx, actor),
                 responder=is_member(actor.user_id, actor.groups, responders),
                 team_has_responders=bool(responders), on_call=actor.user_id in holders,
                 paged=actor.user_id in set(await paged_people(s, incident.id)), own=own)


async def ensure_may_act(ctx: ServiceContext, incident_id: int, actor: Actor | str,
                         action: Action) -> None:
    """For listeners that check before opening a modal: refuse (recorded) or return."""
    actor = as_actor(actor)
    async with recording_denials(ctx, incident_id, actor, action), ctx.db.reader() as s:
        await check_allowed(ctx, s, incident_id, actor, action)


@contextlib.asynccontextmanager
async def recording_denials(ctx: ServiceContext, incident_id: int, actor: Actor,
                            action: Action):
    """A refused action goes on the audit trail and the timeline, in its own transaction."""
    try:
        yield
    except NotAllowed as exc:
        if exc.verdict is not None:
            async with ctx.db.reader() as s:
                incident = await repo.incident(s, incident_id)
            await audit.record_refusal(ctx, exc.verdict, actor,
                                       team=incident.team if incident else None,
                                       target=f"incident:{incident_id}",
                                       incident_id=incident_id)
        raise


def _changed_meanwhile(incident: IncidentRow) -> str:
    """The answer to a click that lost a race: what the incident is now, nothing done."""
    if incident.status != IncidentStatus.TRIGGERED.value:
        return _already(incident)
    return (f"#{incident.id} changed while you clicked (escalation step "
            f"{incident.escalation_step} was just paged): nothing was done. Look at the "
            "message and escalate again if it is still needed.")


def _already(incident: IncidentRow) -> str:
    if incident.status == IncidentStatus.RESOLVED.value:
        who = f"<@{incident.resolved_by}>" if incident.resolved_by else "the source"
        return f"#{incident.id} is already resolved (by {who})."
    return f"#{incident.id} is already acknowledged by <@{incident.acked_by}>."
