"""Shared journals: responders make signed, expiring, revocable read-only links; readers open them.

Only the token's hash is stored. Every share and revoke is audited (and, for an incident, on
its timeline as an internal row); every page served is counted on the link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain import share
from bot.domain.errors import DomainError, IncidentNotFound
from bot.domain.permissions import Action
from bot.domain.privacy import visible_title
from bot.domain.share import PublicEntry, PublicIncident, PublicJournal
from bot.domain.text import user_mention
from bot.services import audit
from bot.services.actors import Actor, as_actor
from bot.services.context import ServiceContext
from bot.services.context_facts import recent_changes
from bot.store import repo
from bot.store.models import IncidentRow, ShareLink

SERVICE_INCIDENTS = 50  # newest first on a service journal
SERVICE_CHANGES = 50
SERVICE_CHANGES_SINCE = timedelta(days=30)


@dataclass(frozen=True)
class Shared:
    url: str
    expires_at: datetime
    what: str  # "#42" or "service voice-gateway"


async def share_incident(ctx: ServiceContext, incident_id: int, actor: Actor | str,
                         duration: timedelta | None = None) -> Shared:
    actor, duration = as_actor(actor), _duration(ctx, duration)
    async with ctx.db.reader() as s:
        incident = await repo.incident(s, incident_id)
    if incident is None:
        raise IncidentNotFound(incident_id)
    await audit.authorize(ctx, Action.SHARE, actor,
                          audit.team_facts(ctx, actor, [incident.team]), team=incident.team,
                          target=f"incident:{incident_id}", incident_id=incident_id)
    return await _create(ctx, actor, duration, kind="incident", incident=incident,
                         teams=[incident.team], what=f"#{incident_id}")


async def share_service(ctx: ServiceContext, service: str, actor: Actor | str,
                        duration: timedelta | None = None) -> Shared:
    """A service's journal, bounded to the teams the sharer responds for (all for an admin)."""
    actor, duration = as_actor(actor), _duration(ctx, duration)
    async with ctx.db.reader() as s:
        teams = sorted(set((await s.exec(select(IncidentRow.team).where(
            IncidentRow.service == service))).all()))
    if not teams:
        raise DomainError(f"No incidents of a service named {service!r} yet: nothing to share.")
    mine = [t for t in teams if audit.is_admin(ctx, actor) or audit.is_responder(ctx, actor, t)]
    await audit.authorize(ctx, Action.SHARE, actor, audit.team_facts(ctx, actor, mine or teams),
                          team=teams[0], target=f"service:{service}")
    return await _create(ctx, actor, duration, kind="service", service=service, teams=mine,
                         what=f"service {service}")


async def _create(ctx: ServiceContext, actor: Actor, duration: timedelta, *, kind: str,
                  teams: list[str], what: str, incident: IncidentRow | None = None,
                  service: str | None = None) -> Shared:
    if not ctx.public_url:
        raise DomainError("Sharing needs the bot's public address: set PUBLIC_URL (e.g. "
                          "https://oncall.example.com) where the bot runs.")
    token, now = share.new_token(), ctx.clock.now()
    expires = now + duration
    async with ctx.db.transaction() as s:
        row = ShareLink(token_hash=share.token_hash(token), kind=kind, service=service,
                        incident_id=incident.id if incident else None, teams=teams,
                        created_by=actor.user_id, created_at=now, expires_at=expires)
        s.add(row)
        await s.flush()
        _record(s, now, actor, Action.SHARE, row, f"read-only link until {expires.isoformat()}")
    return Shared(url=f"{ctx.public_url}/journal/{token}", expires_at=expires, what=what)


def _duration(ctx: ServiceContext, duration: timedelta | None) -> timedelta:
    duration = duration or ctx.config.share.default_for
    if duration > ctx.config.share.max_for:
        days = ctx.config.share.max_for.total_seconds() / 86400
        raise DomainError(f"A shared link lives at most {days:g} days (`share.max_for`).")
    return duration


def _record(s: AsyncSession, now: datetime, actor: Actor, action: Action, row: ShareLink,
            detail: str) -> None:
    target = f"incident:{row.incident_id}" if row.incident_id else f"service:{row.service}"
    audit.record(s, now, actor.user_id, action, team=row.teams[0] if row.teams else None,
                 target=target, incident_id=row.incident_id,
                 after={"share_id": row.id, "expires_at": row.expires_at}, detail=detail)
    if row.incident_id is not None:
        verb = "shared a read-only link" if action is Action.SHARE else "revoked a shared link"
        repo.timeline(s, incident_id=row.incident_id, at=now, kind=f"{action.value}d_link",
                      actor=actor.user_id, text=f"{user_mention(actor.user_id)} {verb}",
                      data={"share_id": row.id}, mrkdwn=True)


async def unshare(ctx: ServiceContext, actor: Actor | str, *, token: str | None = None,
                  incident_id: int | None = None) -> int:
    """Revoke one link (by its token) or every live link of an incident; how many went."""
    actor, now = as_actor(actor), ctx.clock.now()
    async with ctx.db.reader() as s:
        rows = await _live(s, now, token=token, incident_id=incident_id)
    if not rows:
        raise DomainError("No live shared link " + (f"of #{incident_id}." if incident_id
                                                     else "with that token."))
    for row in rows:
        await audit.authorize(ctx, Action.UNSHARE, actor, audit.team_facts(ctx, actor, row.teams),
                              team=row.teams[0] if row.teams else None,
                              target=f"incident:{row.incident_id}" if row.incident_id
                              else f"service:{row.service}", incident_id=row.incident_id)
    async with ctx.db.transaction() as s:
        for row in rows:
            changed = await repo.set_where(s, ShareLink, [ShareLink.id == row.id,
                                                          col(ShareLink.revoked_at).is_(None)],
                                           {"revoked_at": now, "revoked_by": actor.user_id})
            if changed:
                _record(s, now, actor, Action.UNSHARE, row, "revoked")
    return len(rows)


async def _live(s: AsyncSession, now: datetime, *, token: str | None,
                incident_id: int | None) -> list[ShareLink]:
    query = select(ShareLink).where(col(ShareLink.revoked_at).is_(None),
                                    col(ShareLink.expires_at) > now)
    if token is not None:
        query = query.where(ShareLink.token_hash == share.token_hash(token))
    else:
        query = query.where(ShareLink.incident_id == incident_id)
    return list((await s.exec(query)).all())


async def read_journal(ctx: ServiceContext, token: str) -> PublicJournal | None:
    """The page behind a token, counted as one view; None for unknown, expired or revoked."""
    if not share.plausible_token(token):
        return None
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        row = (await s.exec(select(ShareLink).where(
            ShareLink.token_hash == share.token_hash(token)))).first()
        if (row is None or not share.same_hash(row.token_hash, token)
                or row.revoked_at is not None or row.expires_at <= now):
            return None
        await repo.set_where(s, ShareLink, [ShareLink.id == row.id],
                             {"views": ShareLink.views + 1, "last_viewed_at": now})
        incidents = await _incidents_of(s, row)
        public = [await _public_incident(ctx, s, i) for i in incidents]
        changes = (await _public_changes(ctx, s, row.service, now) if row.kind == "service"
                   else [])
    heading = (public[0].title if row.kind == "incident" and public
               else f"Service journal: {row.service}")
    return PublicJournal(kind=row.kind, heading=heading, generated_at=now,
                         expires_at=row.expires_at, incidents=public, changes=changes)


async def _public_changes(ctx: ServiceContext, s: AsyncSession, service: str,
                          now: datetime) -> list[share.PublicEntry]:
    """The service's changes of the last SERVICE_CHANGES_SINCE, newest first: what changed
    and which version, never who or where (authors and links are internal)."""
    lines = await recent_changes(s, [service], now - SERVICE_CHANGES_SINCE, now,
                                 limit=SERVICE_CHANGES)
    return [share.PublicEntry(at=c.at, kind="change", text=share.scrub(
        ctx.config.redact.redactor.text(" ".join(
            part for part in (c.kind, c.version, f"— {c.summary}" if c.summary else "")
            if part)), allowed_hosts=ctx.config.share.allowed_hosts))
            for c in reversed(lines)]


async def _incidents_of(s: AsyncSession, row: ShareLink) -> list[IncidentRow]:
    if row.kind == "incident":
        incident = await repo.incident(s, row.incident_id)
        return [incident] if incident else []
    return list((await s.exec(
        select(IncidentRow).where(IncidentRow.service == row.service,
                                  col(IncidentRow.team).in_(row.teams))
        .order_by(col(IncidentRow.id).desc()).limit(SERVICE_INCIDENTS))).all())


async def _public_incident(ctx: ServiceContext, s: AsyncSession,
                           incident: IncidentRow) -> PublicIncident:
    """Hidden labels out of the title, their values out of every text; redaction applied."""
    alerts = await repo.alerts_of_incident(s, incident.id)
    hidden = ctx.config.hidden_labels(incident.team)
    secret_values = {v for a in alerts for k, v in (*a.labels.items(), *a.annotations.items())
                     if k in hidden}
    lead = alerts[0] if alerts else None

    def clean(text: str) -> str:
        return share.scrub(ctx.config.redact.redactor.text(text),
                           allowed_hosts=ctx.config.share.allowed_hosts,
                           hidden_values=secret_values)

    title = visible_title(incident.title, lead.labels, lead.annotations, hidden) if lead \
        else incident.title
    entries = []
    for event in await repo.timeline_of(s, incident.id):
        shown = share.public_text(event.kind, event.text, event.data or {})
        if shown is not None:
            entries.append(PublicEntry(at=event.at, kind=shown[0], text=clean(shown[1])))
    ends = [a.ends_at for a in alerts if a.status == "resolved" and a.ends_at]
    resolved = incident.status == "resolved"
    return PublicIncident(
        number=incident.id, title=clean(title), status=share.public_status(incident.status),
        severity=incident.severity or "unknown", service=clean(incident.service),
        impact_start=min((a.starts_at for a in alerts), default=incident.opened_at),
        impact_end=(max(ends) if ends else incident.resolved_at) if resolved else None,
        updates=[e for e in entries if e.kind == "update"], entries=entries)
