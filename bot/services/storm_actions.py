"""What the storm summary's buttons do, and how a storm ends.

Ack all / Resolve all act on each open incident of the storm through the ordinary services
(each incident's own timeline row, audit row and re-render), after one permission check for
the storm as a whole. Page the storm pages once, through the team's policy, for the storm's
most severe incident. Silence this storm is a silence of the labels every alert shares, made
through the silence service. A storm ends once nothing joined it for `storm.leave_after`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.errors import DomainError, NotAllowed, NothingToDo
from bot.domain.matchers import parse_matcher
from bot.domain.permissions import Action, decide
from bot.domain.storm import OPEN, StormEntry, severity_rank, shared_labels, silence_matchers
from bot.services import audit, incidents, paging, silences, storms
from bot.services.actors import Actor, as_actor
from bot.services.context import ServiceContext
from bot.services.outbox import queue_sync
from bot.store import repo
from bot.store.models import AlertRow, IncidentAlert, StormMember, StormRow


@dataclass(frozen=True)
class Outcome:
    """What a bulk action did, for the ephemeral answer to the person who clicked."""

    done: int
    skipped: int


async def _members(ctx: ServiceContext, storm_id: int) -> tuple[StormRow, list[StormEntry]]:
    async with ctx.db.reader() as s:
        storm = await s.get(StormRow, storm_id)
        if storm is None:
            raise DomainError(f"Storm {storm_id} does not exist.")
        return storm, await storms.entries(s, storm_id)


def _lead(members: list[StormEntry]) -> StormEntry:
    """The incident that stands for the storm: the most severe open one, newest first."""
    open_ = [m for m in members if m.status in OPEN]
    if not open_:
        raise NothingToDo("Every incident of this storm is already resolved.")
    return max(open_, key=lambda m: (severity_rank(m.severity), m.opened_at, m.incident_id))


async def _authorize(ctx: ServiceContext, storm: StormRow, lead: StormEntry, actor: Actor,
                     action: Action) -> None:
    """One decision for the whole storm, on the facts of its lead incident's team."""
    async with ctx.db.reader() as s:
        incident = await repo.incident(s, lead.incident_id)
        facts = await incidents.incident_facts(ctx, s, incident, actor)
    facts = replace(facts, target=f"storm {storm.id} in {storm.channel} ({lead.team})")
    verdict = decide(action, facts, [a.value for a in ctx.config.permissions.admin_only])
    if not verdict:
        await audit.refuse(ctx, verdict, actor, team=lead.team, target=f"storm:{storm.id}",
                           incident_id=None)


async def ack_all(ctx: ServiceContext, storm_id: int, actor: Actor | str) -> Outcome:
    return await _each(ctx, storm_id, as_actor(actor), Action.STORM_ACK, ("triggered",),
                       incidents.acknowledge)


async def resolve_all(ctx: ServiceContext, storm_id: int, actor: Actor | str) -> Outcome:
    return await _each(ctx, storm_id, as_actor(actor), Action.STORM_RESOLVE, OPEN,
                       incidents.resolve)


async def _each(ctx: ServiceContext, storm_id: int, actor: Actor, action: Action,
                states: tuple[str, ...], act) -> Outcome:
    storm, members = await _members(ctx, storm_id)
    targets = [m for m in members if m.status in states]
    if not targets:
        raise NothingToDo(f"No incident of storm {storm_id} is {' or '.join(states)}.")
    await _authorize(ctx, storm, _lead(members), actor, action)
    done = skipped = 0
    for member in targets:
        try:
            await act(ctx, member.incident_id, actor)
            done += 1
        except (NothingToDo, NotAllowed):  # raced by a click or the source; or another team's
            skipped += 1
    async with ctx.db.transaction() as s:
        audit.record(s, ctx.clock.now(), actor.user_id, action, team=_lead(members).team
                     if any(m.status in OPEN for m in members) else None,
                     target=f"storm:{storm_id}", after={"done": done, "skipped": skipped})
    return Outcome(done, skipped)


async def page_storm(ctx: ServiceContext, storm_id: int, actor: Actor | str) -> int:
    """One page for the storm: the policy's next level, for the storm's lead incident; every
    member's timeline says so. Returns the lead incident's id."""
    actor = as_actor(actor)
    storm, members = await _members(ctx, storm_id)
    lead = _lead(members)
    await _authorize(ctx, storm, lead, actor, Action.STORM_PAGE)
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        incident = await repo.incident(s, lead.incident_id)
        name, policy = paging.policy_of(ctx, incident)
        if policy is None:
            raise DomainError(f"Team {incident.team} has no escalation policy: nobody to page.")
        incident.policy = name
        await paging.notify_step(ctx, s, incident, now)
        s.add(incident)
        for member in members:
            repo.timeline(s, incident_id=member.incident_id, at=now, kind="storm_paged",
                          actor=actor.user_id, mrkdwn=True,
                          text=f"<@{actor.user_id}> paged the storm (one page, for "
                               f"#{lead.incident_id})", data={"storm_id": storm_id})
        audit.record(s, now, actor.user_id, Action.STORM_PAGE, team=incident.team,
                     target=f"storm:{storm_id}", incident_id=incident.id,
                     after={"paged_for": incident.id, "members": len(members)})
        await storms.queue_storm_sync(s, storm, now)
    ctx.wake_delivery()
    return lead.incident_id


@dataclass(frozen=True)
class SilencePlan:
    """What **Silence this storm** would make, shown in the modal before it is made."""

    matchers: list[str]
    team: str | None
    incidents: int


async def silence_plan(ctx: ServiceContext, storm_id: int) -> SilencePlan:
    _, members = await _members(ctx, storm_id)
    teams = {m.team for m in members}
    async with ctx.db.reader() as s:
        labels = (await s.exec(select(AlertRow.labels).join(
            IncidentAlert, col(IncidentAlert.alert_id) == col(AlertRow.id)).where(
            col(IncidentAlert.incident_id).in_([m.incident_id for m in members])))).all()
    team = next(iter(teams)) if len(teams) == 1 else None
    matchers = silence_matchers(shared_labels(labels), team)
    if len(matchers) <= (1 if team else 0):
        raise DomainError("The alerts of this storm share no label: there is nothing to build a "
                          "silence from. Use `/oncall silence` with your own matchers.")
    return SilencePlan(matchers, team, len(members))


async def silence_storm(ctx: ServiceContext, storm_id: int, actor: Actor | str,
                        duration: timedelta, comment: str) -> int:
    """Make the planned silence (the silence service checks, caps and audits it)."""
    plan = await silence_plan(ctx, storm_id)
    silence = await silences.create_silence(ctx, [parse_matcher(m) for m in plan.matchers],
                                            duration, comment or f"storm {storm_id}", actor)
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        for incident_id in await _member_ids(s, storm_id):
            repo.timeline(s, incident_id=incident_id, at=now, kind="storm_silenced",
                          actor=as_actor(actor).user_id,
                          text=f"storm silenced: {', '.join(plan.matchers)}",
                          data={"storm_id": storm_id, "silence_id": silence.id})
    return silence.id


async def _member_ids(s: AsyncSession, storm_id: int) -> list[int]:
    return list((await s.exec(select(StormMember.incident_id).where(
        StormMember.storm_id == storm_id))).all())


async def tick(ctx: ServiceContext) -> int:
    """End every storm nothing joined for `storm.leave_after`; returns how many ended."""
    cutoff = ctx.clock.now() - ctx.config.storm.leave_after
    async with ctx.db.reader() as s:
        due = (await s.exec(select(StormRow.id).where(
            col(StormRow.active_channel).is_not(None),
            col(StormRow.last_joined_at) <= cutoff))).all()
    ended = [sid for sid in due if await leave(ctx, sid)]
    return len(ended)


async def leave(ctx: ServiceContext, storm_id: int) -> bool:
    """The flood drained: finalize the summary's figures; survivors get their own message
    when `storm.post_survivors` says so. A compare-and-set, so it ends once."""
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        storm = await s.get(StormRow, storm_id)
        members = await storms.entries(s, storm_id)
        resolved = [m for m in members if m.status == "resolved"]
        counts = {"incidents": len(members), "resolved": len(resolved),
                  "resolved_on_their_own": sum(m.resolved_by is None for m in resolved),
                  "still_open": len(members) - len(resolved),
                  "seconds": int((now - storm.started_at).total_seconds())}
        if not await repo.set_where(s, StormRow, [StormRow.id == storm_id,
                                                  col(StormRow.active_channel).is_not(None)],
                                    {"active_channel": None, "ended_at": now, "counts": counts}):
            return False
        survivors = ctx.config.storm.post_survivors
        for member in members:
            still_open = member.status in OPEN
            repo.timeline(s, incident_id=member.incident_id, at=now, kind="storm_left",
                          actor="bot", data={"storm_id": storm_id},
                          text="the storm ended" + (
                              ": it gets a message of its own" if still_open and survivors
                              else ""))
            if still_open and survivors:
                await queue_sync(s, await repo.incident(s, member.incident_id), now)
        storm.ended_at = now
        await storms.queue_storm_sync(s, storm, now)
    ctx.wake_delivery()
    return True

