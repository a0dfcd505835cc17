"""Declare an incident by hand: anyone may, a few times per window, through the alert pipeline.

The declarer is named in the incident's thread (whom responders ask) and on the timeline.
The declaration becomes a synthetic alert (source `slack`, labels team/severity/service) and
goes through `ingest_alerts` like any webhook, with a route tree of one node: the chosen
team, grouped by the declaration, so it lands in that team's channel and is paged by that
team's policy whatever the configured tree would do with a `team` label. The severity picks
the action as for any alert: sev1/sev2 page, sev3 notifies, sev4 is triage.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from bot.domain.errors import DomainError
from bot.domain.permissions import Action, Facts, Refused
from bot.domain.routing import RouteNode
from bot.domain.stakeholders import (
    DECLARATION_LABEL,
    SEVERITY_WORDS,
    Declaration,
    declared_alert,
)
from bot.domain.text import escape_mrkdwn
from bot.services import audit
from bot.services.actors import Actor
from bot.services.context import ServiceContext
from bot.services.home_refresh import queue_homes_of
from bot.services.ingest import ingest_alerts
from bot.services.notify import queue_thread_note
from bot.store import repo

MAX_SUMMARY = 300


def check(ctx: ServiceContext, team: str, severity: str, summary: str) -> None:
    """Refuse what cannot be declared, naming what can."""
    if team not in ctx.config.teams:
        raise DomainError(f"There is no team {escape_mrkdwn(team)!r}. Teams: "
                          f"{', '.join(sorted(ctx.config.teams))}.")
    if severity not in SEVERITY_WORDS:
        raise DomainError(f"{escape_mrkdwn(severity)!r} is not a severity: use "
                          f"{', '.join(SEVERITY_WORDS)}.")
    if not summary.strip():
        raise DomainError("Say in a few words what is wrong (the summary).")
    if len(summary) > MAX_SUMMARY:
        raise DomainError(f"The summary is {len(summary)} characters; keep it under "
                          f"{MAX_SUMMARY} (add details as notes afterwards).")


async def declare(ctx: ServiceContext, actor: Actor, declaration: Declaration) -> int:
    """Open (and page for) the incident; returns its number. Refusals are recorded."""
    check(ctx, declaration.team, declaration.severity, declaration.summary)
    redact = ctx.config.redact.redactor.text  # the timeline row and thread note see no secret
    declaration = dataclasses.replace(declaration, summary=redact(declaration.summary),
                                      service=redact(declaration.service))
    now = ctx.clock.now()
    await audit.authorize(ctx, Action.DECLARE, actor, Facts(target=declaration.team),
                          team=declaration.team, target=f"team:{declaration.team}")
    await _within_rate(ctx, actor, declaration.team, now)
    alert = declared_alert(declaration, actor.user_id, now)
    result = await ingest_alerts(_routed_to(ctx, declaration.team), [alert])
    if not result.opened and result.redeliveries:  # the same form submitted twice at once
        raise DomainError("You declared exactly this a moment ago; it is open already.")
    if not result.opened:
        raise DomainError(f"Nothing was opened: an active silence or maintenance of "
                          f"{escape_mrkdwn(declaration.team)} holds it (`/oncall silences`).")
    incident_id = result.opened[0]
    async with ctx.db.transaction() as s:
        incident = await repo.incident(s, incident_id)
        text = (f"declared by <@{actor.user_id}> ({declaration.severity}): "
                f"{escape_mrkdwn(declaration.summary)}")
        repo.timeline(s, incident_id=incident_id, at=now, kind="declared", actor=actor.user_id,
                      text=text, data={"severity": declaration.severity,
                                       "service": declaration.service}, mrkdwn=True)
        await queue_thread_note(s, incident, f":rotating_light: Incident {text}", now)
        audit.record(s, now, actor.user_id, Action.DECLARE, team=declaration.team,
                     target=f"incident:{incident_id}", incident_id=incident_id,
                     after={"severity": declaration.severity,
                            "service": declaration.service}, detail=declaration.summary)
        await queue_homes_of(s, incident, now)
    ctx.wake_delivery()
    return incident_id


async def _within_rate(ctx: ServiceContext, actor: Actor, team: str, now: datetime) -> None:
    """At most `declare.max_per_person` declarations per `declare.per`, per person."""
    limits = ctx.config.declare
    recent = await audit.count_done(ctx, actor, Action.DECLARE, now - limits.per)
    if recent < limits.max_per_person:
        return
    minutes = int(limits.per.total_seconds() // 60)
    reason = (f"You declared {recent} incidents in the last {minutes} minutes, the most one "
              f"person may (declare.max_per_person).")
    await audit.record_refusal(ctx, Refused(Action.DECLARE, reason, "fewer"), actor, team=team,
                               target=f"team:{team}", incident_id=None)
    raise DomainError(f":no_entry: {reason} If it is urgent, page whoever is on call: "
                      f"`/oncall who {escape_mrkdwn(team)}`.")


def _routed_to(ctx: ServiceContext, team: str) -> ServiceContext:
    """The context with a one-node route tree: this team, one incident per declaration."""
    node = RouteNode(receiver=team, group_by=[DECLARATION_LABEL])
    return dataclasses.replace(ctx, config=ctx.config.model_copy(update={"route": node}))
