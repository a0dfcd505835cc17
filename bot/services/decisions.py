"""The one call that turns a route decision into the path an alert takes, and why.

Ingest calls `decide_path` where it used the route's action: the score (the alert's own, else
a prior), the thresholds (the route's, else the team's) and the context rules and tier that
hold, go through `bot.domain.alert_path.decide`. Its action replaces the
route's; its why-parts are stored on the incident (rationale["why"]) and shown everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import OncallConfig
from bot.domain.alert_path import Adjustment, PathDecision, Score, decide
from bot.domain.alerts import Action, Alert
from bot.domain.confidence import (
    ConfidenceSpec,
    Learned,
    ScoreProblem,
    is_high,
    read_score,
    reliability,
)
from bot.domain.errors import IncidentNotFound
from bot.domain.feedback import Verdict
from bot.domain.permissions import Action as Do
from bot.domain.privacy import visible_reasons
from bot.domain.routing import RouteDecision
from bot.services import privacy
from bot.services.actors import Actor
from bot.services.context import ServiceContext
from bot.store import repo
from bot.store.models import FeedbackRow


@dataclass(frozen=True)
class AlertPath:
    """`decide`'s PathDecision plus what the confidence step saw, for the message and triage."""

    decision: PathDecision
    route_action: Action = Action.PAGE
    score: Score | None = None
    spec: ConfidenceSpec | None = None
    set_by: str = ""
    problem: ScoreProblem | None = None
    high: bool = False

    @property
    def action(self) -> Action:
        return self.decision.action

    @property
    def triage(self) -> bool:
        """Confidence sent a paging route's alert to triage (not a severity-less default)."""
        return self.route_action is Action.PAGE and self.decision.action is Action.TRIAGE

    def applied(self, route_decision: RouteDecision) -> RouteDecision:
        """The route decision with the path's action in place of the route's."""
        if route_decision.action is self.action:
            return route_decision
        return route_decision.model_copy(update={"action": self.action})

    @property
    def why(self) -> list[str]:
        """Every part the message shows: a score problem first, then decide()'s parts."""
        parts = [str(self.problem)] if self.problem else []
        parts += list(self.decision.why)
        if self.high and self.spec and self.spec.high:
            roles = " and ".join(self.spec.high.notify)
            parts.append(f"high: {self.score.value:g} ≥ {self.spec.high.at:g}: {roles} paged "
                         "at once")
        return parts

    def rationale(self) -> dict:
        """What goes into the incident's rationale (JSON) beside the route's reasons."""
        return {"why": self.why, "score": self.score.value if self.score else None,
                "score_source": self.score.source if self.score else "",
                "high": self.high,
                "on_timeout": self.spec.on_timeout if self.spec else None}


async def decide_path(ctx: ServiceContext, s: AsyncSession, alert: Alert,
                      route_decision: RouteDecision, now: datetime,
                      adjustments: Sequence[Adjustment] = ()) -> AlertPath:
    """The path of one routed alert: page, triage, notify or digest, and why.

    `adjustments` are the context rules and the tier that hold (bot/services/context_facts.py).
    """
    spec, set_by = thresholds_for(ctx, route_decision)
    weighed = spec is not None and route_decision.action is Action.PAGE
    learned = (await learned_reliability(ctx, s, alert.labels.get("alertname", ""))
               if weighed else None)  # one query only where a score can change the path
    config = ctx.config.confidence
    reading = read_score(alert.labels, alert.annotations, config.key_for(alert.source),
                         ctx.config.sources, source=alert.source, generator_url=alert.generator_url,
                         learned=learned)
    thresholds = spec.thresholds(set_by) if spec else None
    decision = decide(route_decision.action, reading.score, thresholds, adjustments)
    high = decision.action is Action.PAGE and is_high(spec, reading.score)
    return AlertPath(decision, route_decision.action, reading.score, spec, set_by,
                     reading.problem, high)


def thresholds_for(ctx: ServiceContext,
                   route_decision: RouteDecision) -> tuple[ConfidenceSpec | None, str]:
    """The route's `confidence:` (inherited down the tree), else its team's default."""
    return thresholds_in(ctx.config, route_decision)


def thresholds_in(config: OncallConfig,
                  route_decision: RouteDecision) -> tuple[ConfidenceSpec | None, str]:
    """`thresholds_for` of any config (replay weighs a candidate config the same way)."""
    if route_decision.confidence is not None:
        return route_decision.confidence, route_decision.confidence_set_by
    team = config.teams.get(route_decision.team)
    if team is not None and team.confidence is not None:
        return team.confidence, f"team {route_decision.team}"
    return None, ""


async def learned_reliability(ctx: ServiceContext, s: AsyncSession, rule: str) -> Learned | None:
    """The rule's reliability from feedback, once it has enough verdicts (None before)."""
    if not rule:
        return None
    rows = (await s.exec(select(FeedbackRow.verdict).where(
        FeedbackRow.rule == rule).order_by(col(FeedbackRow.at).desc()).limit(500))).all()
    verdicts = [Verdict(v).real if v in Verdict._value2member_map_ else None for v in rows]
    return reliability(verdicts, ctx.config.confidence.learned_min_verdicts)


@dataclass(frozen=True)
class Explanation:
    """What the Why? modal shows: the incident, its why-parts, `route test`'s full answer."""

    title: str
    why: list[str]
    report: str


async def explain_incident(ctx: ServiceContext, incident_id: int,
                           actor: Actor) -> Explanation:
    """The full decision for the incident's first alert, as `oncall-bot route test` prints it
    (every matcher, default and rule), labels the team hides left out; a private team's
    incident is refused (and recorded) to an outsider."""
    from bot.routing_report import describe, render_text  # services layer, heavy: on demand

    async with ctx.db.reader() as s:
        incident = await repo.incident(s, incident_id)
        if incident is None:
            raise IncidentNotFound(incident_id)
        alerts = await repo.alerts_of_incident(s, incident_id)
    await privacy.ensure_visible(ctx, incident, actor, Do.ROUTE_TEST)
    hidden = ctx.config.hidden_labels(incident.team)
    labels = {k: v for k, v in (alerts[0].labels if alerts else {}).items() if k not in hidden}
    report = render_text(describe(ctx.config, labels, at=ctx.clock.now(),
                                  runbooks=ctx.runbooks))
    why = visible_reasons(list(incident.rationale.get("why", [])), hidden)
    return Explanation(incident.title, why, "\n".join(visible_reasons(report.splitlines(),
                                                                      hidden)))
