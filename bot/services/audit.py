"""The audit trail and the one permission gate: every change and every refusal, on the record.

`record` adds a row in the caller's transaction (the change and its audit row commit together);
`authorize` decides with the domain rule and, on a refusal, records it in its own transaction
before raising, so the refusal survives the rollback of the work it stopped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.errors import NotAllowed
from bot.domain.permissions import Action, Facts, Refused, decide, is_member
from bot.services.actors import CLI, Actor
from bot.services.context import ServiceContext
from bot.store import repo
from bot.store.models import AuditRow

SYSTEM = "system"
CONFIG_LOADED = "config_loaded"


def record(s: AsyncSession, at: datetime, actor: str, action: str, *, team: str | None = None,
           target: str = "", incident_id: int | None = None, before: dict | None = None,
           after: dict | None = None, detail: str = "", outcome: str = "done") -> None:
    s.add(AuditRow(at=at, actor=actor, action=str(action), outcome=outcome, team=team,
                   target=target[:256], incident_id=incident_id, before=_plain(before),
                   after=_plain(after), detail=detail[:2000]))


def is_admin(ctx: ServiceContext, actor: Actor) -> bool:
    return actor.user_id in (CLI, SYSTEM) or is_member(actor.user_id, actor.groups,
                                                       ctx.config.admins)


def is_responder(ctx: ServiceContext, actor: Actor, team: str) -> bool:
    config = ctx.config.teams.get(team)
    return config is not None and is_member(actor.user_id, actor.groups, config.responders)


def teams_of(ctx: ServiceContext, actor: Actor) -> list[str]:
    """The teams the actor is a responder of (every team for an admin)."""
    if is_admin(ctx, actor):
        return sorted(ctx.config.teams)
    return sorted(t for t in ctx.config.teams if is_responder(ctx, actor, t))


def team_facts(ctx: ServiceContext, actor: Actor, teams: Sequence[str], *,
               own: bool = False) -> Facts:
    """Responder of any of `teams` (a test page concerns every team the person is on)."""
    return Facts(target=", ".join(teams) or "every team", admin=is_admin(ctx, actor),
                 responder=bool(teams) and any(is_responder(ctx, actor, t) for t in teams),
                 own=own)


async def authorize(ctx: ServiceContext, action: Action, actor: Actor, facts: Facts, *,
                    team: str | None = None, target: str = "",
                    incident_id: int | None = None) -> None:
    verdict = decide(action, facts, [a.value for a in ctx.config.permissions.admin_only])
    if not verdict:
        await refuse(ctx, verdict, actor, team=team, target=target, incident_id=incident_id)


async def refuse(ctx: ServiceContext, verdict: Refused, actor: Actor, *, team: str | None,
                 target: str, incident_id: int | None) -> None:
    """Record the refusal, then raise it."""
    await record_refusal(ctx, verdict, actor, team=team, target=target, incident_id=incident_id)
    raise NotAllowed(verdict.message, verdict=verdict)


async def record_refusal(ctx: ServiceContext, verdict: Refused, actor: Actor, *,
                         team: str | None, target: str, incident_id: int | None) -> None:
    """The audit row, and the timeline row when it concerns an incident: own transaction."""
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        record(s, now, actor.user_id, verdict.action, team=team, target=target,
               incident_id=incident_id, outcome="refused", detail=verdict.reason)
        if incident_id is not None:
            repo.timeline(s, incident_id=incident_id, at=now, kind="denied", actor=actor.user_id,
                          text=f"<@{actor.user_id}> was not allowed to {verdict.action.value}",
                          data={"action": verdict.action.value}, mrkdwn=True)


async def entries(ctx: ServiceContext, *, since: datetime | None = None,
                  actor: str | None = None, teams: Sequence[str] | None = None,
                  limit: int | None = None) -> list[AuditRow]:
    """Newest last; `teams` limits to rows about those teams."""
    query = select(AuditRow)
    if since is not None:
        query = query.where(col(AuditRow.at) >= since)
    if actor:
        query = query.where(AuditRow.actor == actor)
    if teams is not None:
        query = query.where(col(AuditRow.team).in_(list(teams)))
    async with ctx.db.reader() as s:
        if limit:
            rows = (await s.exec(query.order_by(col(AuditRow.id).desc()).limit(limit))).all()
            return list(reversed(rows))
        return list((await s.exec(query.order_by(col(AuditRow.id)))).all())


async def count_done(ctx: ServiceContext, actor: Actor, action: Action, since: datetime) -> int:
    """How often the actor did `action` since then (a rate limit reads the trail)."""
    async with ctx.db.reader() as s:
        return (await s.exec(select(func.count()).select_from(AuditRow).where(
            AuditRow.actor == actor.user_id, AuditRow.action == action.value,
            AuditRow.outcome == "done", col(AuditRow.at) > since))).one()


async def team_entries(ctx: ServiceContext, actor: Actor, limit: int = 20) -> list[AuditRow]:
    """`/oncall audit`: the recent entries of the caller's teams, for their responders."""
    teams = teams_of(ctx, actor)
    await authorize(ctx, Action.READ_AUDIT, actor, team_facts(ctx, actor, teams),
                    target="audit")
    return await entries(ctx, teams=teams, limit=limit)


async def record_config_load(ctx: ServiceContext) -> bool:
    """A start with a config unlike the last one started with is a config change: audit it
    (its digest before and after), so a changed route or policy shows when it went live."""
    digest = hashlib.sha256(ctx.config.model_dump_json().encode()).hexdigest()
    async with ctx.db.transaction() as s:
        last = (await s.exec(select(AuditRow).where(AuditRow.action == CONFIG_LOADED)
                             .order_by(col(AuditRow.id).desc()).limit(1))).first()
        previous = (last.after or {}).get("sha256") if last else None
        if previous == digest:
            return False
        record(s, ctx.clock.now(), SYSTEM, CONFIG_LOADED, target="config",
               before={"sha256": previous} if previous else None, after={"sha256": digest},
               detail="first start" if last is None else "the config changed since the last start")
    return True


async def prune(ctx: ServiceContext) -> int:
    """The retention job: drop rows older than `audit.retention`; the pruning is audited too."""
    now = ctx.clock.now()
    cutoff = now - ctx.config.audit.retention
    async with ctx.db.transaction() as s:
        result = await s.exec(delete(AuditRow).where(col(AuditRow.at) < cutoff))
        removed = result.rowcount or 0
        if removed:
            record(s, now, SYSTEM, "audit_prune", target="audit",
                   detail=f"removed {removed} row(s) older than {cutoff.isoformat()}")
    return removed


def _plain(value: dict[str, Any] | None) -> dict[str, Any]:
    """JSON-safe: times as ISO strings, durations in seconds."""
    out: dict[str, Any] = {}
    for key, item in (value or {}).items():
        if isinstance(item, datetime):
            item = item.isoformat()
        elif isinstance(item, timedelta):
            item = item.total_seconds()
        elif isinstance(item, (list, tuple)):
            item = [str(x) for x in item]
        out[key] = item
    return out
