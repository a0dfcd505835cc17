"""Replay: run past alerts through the current and a candidate config, read-only.

Reads in bulk through a reader session (a handful of queries whatever the window: no query per
alert) and never writes: no outbox intent, no page, no incident row. Routing is cached by label
set, so 100,000 alerts from a few hundred distinct label sets route a few hundred times.

`path_for` is the one place a routed alert's path is decided (route tree, then the score,
thresholds, tier and time-based context rules through bot.domain.alert_path.decide).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import String, type_coerce
from sqlmodel import col, select

from bot.config import OncallConfig
from bot.domain.alert_path import PathDecision, decide
from bot.domain.alerts import Action, Alert
from bot.domain.changes import ChangeLine
from bot.domain.confidence import read_score
from bot.domain.context_rules import ContextFacts, holding
from bot.domain.feedback import Verdict
from bot.domain.matchers import parse_matcher
from bot.domain.quiet_scope import silences
from bot.domain.replay import Case, Path, at_night, truth_of
from bot.domain.routing import RouteDecision, route
from bot.services.context import ServiceContext
from bot.services.context_facts import recent_changes
from bot.services.context_snapshot import Snapshot, tier_of, where_of
from bot.services.decisions import thresholds_in
from bot.store.models import (
    AlertRow,
    FeedbackRow,
    IncidentAlert,
    IncidentRow,
    MaintenanceRow,
    SilenceRow,
)

_RANK = {Action.PAGE.value: 3, Action.TRIAGE.value: 2, Action.NOTIFY.value: 1,
         Action.DIGEST.value: 0}


@dataclass
class History:
    """What context rules asked the database about, as it was over the replayed window:
    changes, noise verdicts and maintenance windows, each kept with its time so a rule is
    weighed at each alert's own time (the rules compare those times with it)."""

    changes: list[ChangeLine] = field(default_factory=list)
    noise: dict[str, list[datetime]] = field(default_factory=dict)
    maintenance: list[tuple[str, datetime, datetime]] = field(default_factory=list)

    def facts(self, config: OncallConfig, labels: Mapping[str, str], team: str,
              at: datetime) -> ContextFacts:
        if self._snapshot is None:  # one snapshot: it indexes the changes by service once
            self._snapshot = Snapshot(now=at, changes=self.changes, noise=self.noise)
        found = self._snapshot.facts(config, labels, team)
        held = any(t == team and a <= at < b for t, a, b in self.maintenance)
        return replace(found, maintenance=held)

    _snapshot: Snapshot | None = field(default=None, repr=False)


def path_for(config: OncallConfig, labels: Mapping[str, str], annotations: Mapping[str, str],
             at: datetime, *, decision: RouteDecision | None = None,
             history: History | None = None) -> PathDecision:
    """What happens to an alert after the route tree (for `decision`, else the first match):
    its score against the thresholds, then the tier and the context rules that hold at `at`.

    As ingest decides it (bot/services/decisions.py), with the changes, noise verdicts and
    maintenance windows of `history`; not replayed: which other alerts were firing then
    (a `while_firing` rule never holds in a replay) and the learned reliability.
    """
    if decision is None:
        decision = route(config.route, labels, config.tool_owners)[0]
    spec, set_by = thresholds_in(config, decision)
    reading = read_score(labels, annotations, config.confidence.key, config.sources)
    adjustments = []
    if config.context:
        facts = (history or History()).facts(config, labels, decision.team, at)
        adjustments += holding(config.context, labels, at, where_of(config, decision.team), facts)
    tier = tier_of(config, labels, decision.team, at)
    if tier is not None and tier.adjustment is not None:
        adjustments.append(tier.adjustment)
    return decide(decision.action, reading.score, spec.thresholds(set_by) if spec else None,
                  adjustments)


def own_score(config: OncallConfig, labels: Mapping[str, str],
              annotations: Mapping[str, str]) -> float | None:
    """The alert's own confidence (no prior): what calibration weighs against the truth."""
    reading = read_score(labels, annotations, config.confidence.key, {})
    return reading.score.value if reading.score else None


@dataclass(frozen=True)
class Quiet:
    """A silence as it was: its window, matchers and team scope."""

    starts_at: datetime
    ends_at: datetime
    matchers: tuple
    team: str | None


@dataclass(frozen=True)
class _Routed:
    """What depends on the label set only: the matched routes and the silences that match."""

    decisions: list[RouteDecision]
    quiet: list[Quiet]


class Replayer:
    """One config, with its routing (and which silences match) cached by label set."""

    def __init__(self, config: OncallConfig, quiet: Sequence[Quiet] = (),
                 history: History | None = None):
        self.config = config
        self.quiet = quiet
        self.history = history or History()
        self._routes: dict[tuple, _Routed] = {}
        self._zones: dict[str, str] = {}

    def routed(self, labels: Mapping[str, str]) -> _Routed:
        key = tuple(sorted(labels.items()))
        found = self._routes.get(key)
        if found is None:
            decisions = route(self.config.route, labels, self.config.tool_owners)
            teams = {d.team for d in decisions}
            found = self._routes[key] = _Routed(decisions, [
                q for q in self.quiet if silences(q.matchers, q.team, labels, teams)])
        return found

    def path(self, case: Case) -> Path:
        routed = self.routed(case.labels)
        if not routed.decisions:
            return Path(team="", path="unrouted")
        for q in routed.quiet:
            if q.starts_at <= case.at < q.ends_at:
                return Path(team=routed.decisions[0].team, path="silenced",
                            why=(f"silenced then ({', '.join(map(str, q.matchers))})",))
        best: tuple[RouteDecision, PathDecision] | None = None
        for decision in routed.decisions:
            made = path_for(self.config, case.labels, case.annotations, case.at,
                            decision=decision, history=self.history)
            if best is None or _RANK[made.action.value] > _RANK[best[1].action.value]:
                best = (decision, made)
        decision, made = best
        night = made.action is Action.PAGE and at_night(case.at, self._zone(decision.team))
        return Path(team=decision.team, path=made.action.value, night=night,
                    why=(" > ".join(decision.route_path), *decision.reasons, *made.why))

    def _zone(self, team: str) -> str:
        zone = self._zones.get(team)
        if zone is None:
            zone = self._zones[team] = self.config.time_zone_of(team)
        return zone


async def silences_between(ctx: ServiceContext, start: datetime | None,
                           end: datetime) -> list[Quiet]:
    """Every silence that overlapped the window, as it was (ended ones included)."""
    query = select(SilenceRow.starts_at, SilenceRow.ends_at, SilenceRow.matchers,
                      SilenceRow.team).where(col(SilenceRow.starts_at) <= end)
    if start is not None:
        query = query.where(col(SilenceRow.ends_at) > start)
    async with ctx.db.reader() as s:
        rows = (await s.exec(query)).all()
    return [Quiet(_utc(a), _utc(b), tuple(parse_matcher(m) for m in matchers), team)
            for a, b, matchers, team in rows]


async def history_between(ctx: ServiceContext, start: datetime | None, end: datetime,
                          lookback: timedelta = timedelta(days=7)) -> History:
    """The changes, noise verdicts and maintenance windows context rules may ask about, from
    `lookback` before the window on (a rule looks back at most that far: `within`)."""
    since = (start or end - timedelta(days=30)) - lookback
    async with ctx.db.reader() as s:
        changes = await recent_changes(s, None, since, end, limit=100_000)
        noise = (await s.exec(select(FeedbackRow.rule, FeedbackRow.at).where(
            FeedbackRow.verdict == Verdict.NOISE.value, col(FeedbackRow.at) >= since,
            col(FeedbackRow.at) <= end))).all()
        windows = (await s.exec(select(MaintenanceRow.team, MaintenanceRow.starts_at,
                                       MaintenanceRow.ends_at).where(
            col(MaintenanceRow.starts_at) <= end, col(MaintenanceRow.ends_at) > since))).all()
    history = History(changes=changes,
                      maintenance=[(t, _utc(a), _utc(b)) for t, a, b in windows])
    for rule, at in noise:
        history.noise.setdefault(rule, []).append(_utc(at))
    return history


async def stored_cases(ctx: ServiceContext, start: datetime, end: datetime) -> list[Case]:
    """The cases of alerts that started in [start, end), with their incidents' truth.

    Three queries on the reader's connection (core rows, no ORM objects): the alerts, their
    incident links with each incident's handling, and those incidents' feedback.
    """
    window = (col(AlertRow.starts_at) >= start, col(AlertRow.starts_at) < end)
    linked = (select(IncidentAlert.incident_id)
              .join(AlertRow, col(AlertRow.id) == col(IncidentAlert.alert_id)).where(*window))
    async with ctx.db.reader() as s:
        conn = await s.connection()
        alerts = (await conn.execute(select(
            AlertRow.id, type_coerce(AlertRow.labels, String),
            type_coerce(AlertRow.annotations, String), AlertRow.starts_at)
            .where(*window).order_by(col(AlertRow.id)))).all()
        handled = (await conn.execute(select(
            IncidentAlert.alert_id, IncidentRow.id, IncidentRow.team, IncidentRow.acked_at,
            IncidentRow.resolved_by, IncidentRow.resolved_at)
            .join(IncidentRow, col(IncidentRow.id) == col(IncidentAlert.incident_id))
            .where(col(IncidentAlert.incident_id).in_(linked)))).all()
        verdicts = (await conn.execute(select(FeedbackRow.incident_id, FeedbackRow.verdict)
                                       .where(col(FeedbackRow.incident_id).in_(linked)))).all()
    first: dict[int, int] = {}  # incident -> its first alert
    linked_alerts: set[int] = set()
    info = {}
    for alert_id, *incident in handled:
        linked_alerts.add(alert_id)
        info[incident[0]] = incident
        first[incident[0]] = min(first.get(incident[0], alert_id), alert_id)
    opened: dict[int, list[int]] = {}  # alert -> the incidents it opened
    for incident_id, alert_id in first.items():
        opened.setdefault(alert_id, []).append(incident_id)
    said: dict[int, list[str]] = {}
    for incident_id, verdict in verdicts:
        said.setdefault(incident_id, []).append(verdict)
    cases = []
    decoded = _Decoded()
    for alert_id, labels, notes, starts_at in alerts:
        if alert_id in linked_alerts and alert_id not in opened:
            continue  # it joined a page another alert opened
        mine = [info[i] for i in sorted(opened.get(alert_id, []))]
        cases.append(Case(key=f"alert {alert_id}", labels=decoded(labels),
                          annotations=decoded(notes),
                          at=_utc(starts_at), truth=_truth(mine, said),
                          team_then=mine[0][1] if mine else ""))
    return cases


class _Decoded:
    """JSON text to dict, once per distinct text: a history repeats a few hundred label sets.

    SQLite hands the JSON columns back as text; a driver that parses JSON itself (psycopg)
    hands back dicts, which pass through. The dicts are shared: nothing here changes them."""

    def __init__(self) -> None:
        self._seen: dict[str, dict] = {}

    def __call__(self, value: str | dict | None) -> dict:
        if not isinstance(value, str):
            return value or {}
        found = self._seen.get(value)
        if found is None:
            found = self._seen[value] = json.loads(value)
        return found


def export_cases(alerts: Sequence[Alert]) -> list[Case]:
    """An export has no handling to learn from: every truth is unknown."""
    return [Case(key=f"line {i + 1}", labels=a.labels, annotations=a.annotations,
                 at=_utc(a.starts_at)) for i, a in enumerate(alerts)]


def _truth(incidents: list, said: dict[int, list[str]]):
    verdicts = [v for row in incidents for v in said.get(row[0], [])]
    worked_on = any(row[2] is not None or row[3] is not None for row in incidents)
    auto_resolved = bool(incidents) and all(
        row[4] is not None and row[3] is None and row[2] is None for row in incidents)
    return truth_of(verdicts, worked_on=worked_on, auto_resolved=auto_resolved)


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
