"""Triage: a paging alert whose confidence sits between `triage_at` and `page_at`.

The incident is posted with Confirm (page) and Dismiss (noise), the team's on-call is
mentioned in its thread (not paged), and `triage_due_at` holds the deadline. Confirm, Dismiss
and the timeout tick each claim the triage with one conditional UPDATE on
`triage_state = 'pending'`, so a second click, or a click racing the timeout, has one outcome.
Confirm and Dismiss are feedback (verdict real / noise, source "triage").

High confidence (`high:` reached) pages every listed on-call role at once, right after level 1.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import Action, IncidentStatus
from bot.domain.confidence import CANCEL_WINDOW, ConfidenceSpec
from bot.domain.errors import NothingToDo
from bot.domain.feedback import Verdict
from bot.domain.permissions import Action as Do
from bot.services import audit, paging
from bot.services.actors import Actor, as_actor
from bot.services.context import ServiceContext
from bot.services.decisions import AlertPath
from bot.services.incidents import check_allowed, recording_denials
from bot.services.notify import paged_people, queue_thread_note, sync_everywhere
from bot.services.outbox import queue_sync
from bot.store import repo
from bot.store.models import DigestItemRow, FeedbackRow, IncidentRow

PENDING, CONFIRMED, DISMISSED, TIMED_OUT = "pending", "confirmed", "dismissed", "timed_out"
BOT = "bot"


async def begin(ctx: ServiceContext, s: AsyncSession, incident: IncidentRow, path: AlertPath,
                now: datetime) -> None:
    """Wait for Confirm or Dismiss until the route's `triage_timeout`; mention the on-call.

    A context rule may send a paging route without thresholds to triage (`demote_to: triage`):
    then the defaults apply (15 m, then page)."""
    spec = path.spec or ConfidenceSpec(page_at=1.0, triage_at=0.0)
    incident.triage_state, incident.triage_due_at = PENDING, now + spec.triage_timeout
    s.add(incident)
    on_call = await paging.on_call_now(ctx, s, incident.team, now)
    owner = on_call.primary if on_call else None
    then = "page" if spec.on_timeout == "page" else "leave it for the digest"
    repo.timeline(s, incident_id=incident.id, at=now, kind="triage", actor=BOT,
                  text=f"triage: Confirm or Dismiss by {incident.triage_due_at:%H:%M} UTC, "
                       f"else {then}" + (f"; <@{owner}> mentioned" if owner else ""),
                  data={"due": incident.triage_due_at.isoformat(), "owner": owner},
                  mrkdwn=True)
    await queue_sync(s, incident, now)  # the message first: the note replies to it
    who = f"<@{owner}>" if owner else f"{incident.team} (nobody is on call now)"
    await queue_thread_note(s, incident, f"Triage for #{incident.id}, {who}: is this real? "
                            f"*Confirm (page)* or *Dismiss (noise)* by "
                            f"{incident.triage_due_at:%H:%M} UTC, else the bot will {then}. "
                            "Nobody has been paged.", now)


async def confirm(ctx: ServiceContext, incident_id: int, actor: Actor | str) -> IncidentRow:
    """Pending triage -> confirmed: page as the route would have, record verdict `real`."""
    return await _decide(ctx, incident_id, as_actor(actor), CONFIRMED)


async def dismiss(ctx: ServiceContext, incident_id: int, actor: Actor | str) -> IncidentRow:
    """Pending triage -> dismissed: resolved as noise, nobody paged, verdict `noise`."""
    return await _decide(ctx, incident_id, as_actor(actor), DISMISSED)


async def _decide(ctx: ServiceContext, incident_id: int, actor: Actor, outcome: str):
    async with recording_denials(ctx, incident_id, actor, Do.TRIAGE):
        now = ctx.clock.now()
        async with ctx.db.transaction() as s:
            incident = await check_allowed(ctx, s, incident_id, actor, Do.TRIAGE)
            if not await _claim(s, incident, outcome, now):
                raise NothingToDo(_already(incident))
            await s.refresh(incident)
            verdict = Verdict.REAL if outcome == CONFIRMED else Verdict.NOISE
            await record_feedback(s, incident, actor.user_id, verdict, now)
            audit.record(s, now, actor.user_id, Do.TRIAGE, team=incident.team,
                         target=f"incident:{incident.id}", incident_id=incident.id,
                         before={"triage": PENDING}, after={"triage": outcome},
                         detail=verdict.value)
            if outcome == CONFIRMED:
                repo.timeline(s, incident_id=incident.id, at=now, kind="triage_confirmed",
                              actor=actor.user_id, mrkdwn=True,
                              text=f"<@{actor.user_id}> confirmed the triage (real): paging")
                await paging.begin(ctx, s, incident, None, now)
            else:
                repo.timeline(s, incident_id=incident.id, at=now, kind="triage_dismissed",
                              actor=actor.user_id, mrkdwn=True,
                              text=f"<@{actor.user_id}> dismissed the triage as noise: "
                                   "resolved, nobody paged")
                _close(incident, now, actor.user_id)
            s.add(incident)
            await sync_everywhere(s, incident, now)
        ctx.wake_delivery()
        return incident


async def _claim(s: AsyncSession, incident: IncidentRow, outcome: str, now: datetime) -> bool:
    """The one compare-and-set every outcome goes through: first one wins."""
    values = {"triage_state": outcome, "triage_due_at": None}
    if outcome in (CONFIRMED, TIMED_OUT):
        values["action"] = Action.PAGE.value
    where = [IncidentRow.id == incident.id, IncidentRow.triage_state == PENDING,
             IncidentRow.status == IncidentStatus.TRIGGERED.value]
    if outcome == TIMED_OUT:
        where.append(col(IncidentRow.triage_due_at) <= now)
    return bool(await repo.set_where(s, IncidentRow, where, values))


def _close(incident: IncidentRow, now: datetime, by: str | None) -> None:
    incident.status, incident.resolved_at, incident.resolved_by = (
        IncidentStatus.RESOLVED.value, now, by)
    incident.open_key, incident.next_step_at, incident.next_step_kind = None, None, None


def _already(incident: IncidentRow) -> str:
    said = {CONFIRMED: "confirmed", DISMISSED: "dismissed as noise",
            TIMED_OUT: "timed out"}.get(incident.triage_state or "")
    if said:
        return f"#{incident.id}'s triage was already {said}."
    if incident.status == IncidentStatus.RESOLVED.value:
        return f"#{incident.id} is already resolved."
    return f"#{incident.id} is not waiting for triage."


async def record_feedback(s: AsyncSession, incident: IncidentRow, user: str, verdict: Verdict,
                          now: datetime) -> None:
    """One verdict per person and incident (a later one replaces theirs), source "triage"."""
    row = (await s.exec(select(FeedbackRow).where(FeedbackRow.incident_id == incident.id,
                                                  FeedbackRow.user_id == user))).first()
    if row is None:
        row = FeedbackRow(incident_id=incident.id, user_id=user, verdict=verdict.value, at=now,
                          rule=await _rule(s, incident), route_key=incident.route_key,
                          team=incident.team, source="triage")
    row.verdict, row.at, row.source = verdict.value, now, "triage"
    s.add(row)


async def _rule(s: AsyncSession, incident: IncidentRow) -> str:
    """The alert rule feedback counts against: the incident's first alert's alertname."""
    alerts = await repo.alerts_of_incident(s, incident.id)
    name = alerts[0].labels.get("alertname", "") if alerts else ""
    return (name or incident.title.split(":", 1)[0])[:256]


# -- the timeout -------------------------------------------------------------------------------


async def tick(ctx: ServiceContext) -> int:
    """Every pending triage past its deadline pages (or goes to the digest), exactly once."""
    now = ctx.clock.now()
    async with ctx.db.reader() as s:
        due = list((await s.exec(select(IncidentRow.id).where(
            IncidentRow.triage_state == PENDING, col(IncidentRow.triage_due_at) <= now,
            IncidentRow.status == IncidentStatus.TRIGGERED.value).order_by(
            col(IncidentRow.triage_due_at)).limit(200))).all())
    acted = 0
    for incident_id in due:
        acted += await _time_out(ctx, incident_id, now)
    if acted:
        ctx.wake_delivery()
    return acted


async def _time_out(ctx: ServiceContext, incident_id: int, now: datetime) -> int:
    async with ctx.db.transaction() as s:
        incident = await repo.incident(s, incident_id)
        if incident is None or not await _claim(s, incident, TIMED_OUT, now):
            return 0  # decided by a person, resolved, or claimed by another replica
        await s.refresh(incident)
        on_timeout = incident.rationale.get("on_timeout") or "page"
        audit.record(s, now, audit.SYSTEM, Do.TRIAGE, team=incident.team,
                     target=f"incident:{incident.id}", incident_id=incident.id,
                     before={"triage": PENDING}, after={"triage": TIMED_OUT},
                     detail=f"nobody decided in time: {on_timeout}")
        if on_timeout == "page":
            repo.timeline(s, incident_id=incident.id, at=now, kind="triage_timeout", actor=BOT,
                          text="nobody confirmed or dismissed the triage in time: paging")
            await paging.begin(ctx, s, incident, None, now)
        else:
            await _to_digest(s, incident, now)
        s.add(incident)
        await sync_everywhere(s, incident, now)
    return 1


async def _to_digest(s: AsyncSession, incident: IncidentRow, now: datetime) -> None:
    """`on_timeout: digest`: the incident closes quietly; its alerts join the team's digest."""
    incident.action = Action.DIGEST.value
    _close(incident, now, None)
    repo.timeline(s, incident_id=incident.id, at=now, kind="triage_timeout", actor=BOT,
                  text="nobody confirmed or dismissed the triage in time: left for the digest, "
                       "nobody paged")
    for alert in await repo.alerts_of_incident(s, incident.id):
        labels = alert.labels
        s.add(DigestItemRow(alert_id=alert.id, route_key=incident.route_key, team=incident.team,
                            service=labels.get("service", "")[:128],
                            model=labels.get("model", "")[:128],
                            alertname=labels.get("alertname", "")[:256], fired_at=now,
                            last_seen=now, still_firing=alert.status == "firing"))


# -- high confidence ---------------------------------------------------------------------------


async def after_page(ctx: ServiceContext, s: AsyncSession, incident: IncidentRow,
                     path: AlertPath | None, now: datetime) -> None:
    """High confidence: page every listed on-call role now, not one level at a time; then
    open the cancel window of the route's runbook when `auto_runbook` is on."""
    if path is None or not path.high or path.spec is None or path.spec.high is None:
        return
    if incident.next_step_kind == paging.PAGE:
        return  # the page itself is held (page_after, maintenance): nobody is paged yet
    high = path.spec.high
    on_call = await paging.on_call_now(ctx, s, incident.team, now)
    wanted = [getattr(on_call, role) for role in high.notify] if on_call else []
    paged = set(await paged_people(s, incident.id))
    rest = [p for p in dict.fromkeys(wanted) if p and p not in paged]
    if rest:
        await paging.page_people(s, incident, 1, rest, now)
        repo.timeline(s, incident_id=incident.id, at=now, kind="high_confidence", actor=BOT,
                      text=f"high confidence: paged {', '.join(f'<@{p}>' for p in rest)} too",
                      mrkdwn=True, data={"people": rest})
    if high.auto_runbook and incident.runbook:
        incident.auto_state, incident.auto_due_at = PENDING, now + CANCEL_WINDOW
        s.add(incident)
        repo.timeline(s, incident_id=incident.id, at=now, kind="auto_runbook_window",
                      actor=BOT, text=f"runbook {incident.runbook} starts automatically at "
                                      f"{incident.auto_due_at:%H:%M:%S} UTC unless cancelled",
                      data={"runbook": incident.runbook, "at": incident.auto_due_at.isoformat()})
