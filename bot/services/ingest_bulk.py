"""One chunk of a webhook in one transaction, set-based: a few statements for many alerts.

Per chunk: one query finds every alert of the chunk's fingerprints (identities, and the active
alert whose startsAt moved), one finds their incidents, one multi-row INSERT stores the new
alerts, silences are matched in memory, routing is cached by label set, the open incidents of
all group keys come in one query, links, timeline rows and outbox intents go in multi-row
INSERTs, and settling counts what still fires for every touched incident in one query. Rare
paths (heartbeats, cost digests, reopening, paging, a resolve by hand still firing) keep their
own per-alert services.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import Action, Alert, AlertStatus
from bot.domain.matchers import parse_matcher
from bot.domain.privacy import visible, visible_rationale
from bot.domain.quiet_scope import silences as silence_matches
from bot.domain.routing import RouteDecision
from bot.domain.text import escape_mrkdwn
from bot.services import cost_spikes, heartbeat
from bot.services.context import ServiceContext
from bot.services.context_facts import AlertContext, context_adjustments
from bot.services.decisions import AlertPath, decide_path
from bot.services.ingest_items import Incoming, IngestResult, known_alerts, same_identity
from bot.services.ingest_routing import (
    begin,
    decisions,
    new_incident,
    rationale,
    reopen,
    reopenable,
    teams,
)
from bot.services.ingest_settle import settle
from bot.services.notify import queue_thread_note
from bot.store import repo
from bot.store.models import (
    AlertRow,
    IncidentAlert,
    IncidentRow,
    SilenceRow,
    TimelineEvent,
)

NAMES_SHOWN = 5  # alertnames a "N alerts joined" timeline row names


async def ingest_grouped(ctx: ServiceContext,
                         chunks: list[tuple[list[Incoming], int]]) -> list[IngestResult]:
    """Commit these chunks (of one webhook, or of several at once) in one short write
    transaction, as one set: the lookups, inserts and the settling of every touched incident
    are shared, so eight one-alert webhooks cost about what one eight-alert webhook does.
    One result per chunk: each alert counts for the webhook it came with."""
    results = [IngestResult() for _ in chunks]
    items = [replace(item, result=result) for (group, _), result in zip(chunks, results,
                                                                          strict=True)
             for item in group]
    async with ctx.db.transaction() as s:
        now = ctx.clock.now()
        chunk = Chunk(ctx, s, now, results[0])
        for step in _steps(items):
            await chunk.step(step)
        truncated = {incident_id: count  # a later webhook's count wins
                     for (_, count), result in zip(chunks, results, strict=True)
                     for incident_id in result.touched}
        await settle(ctx, s, truncated, now, chunk.incidents)
    return results


async def ingest_chunks(ctx: ServiceContext,
                        chunks: list[tuple[list[Incoming], int]]) -> IngestResult:
    """`ingest_grouped` of one webhook's chunk: its result."""
    [result] = await ingest_grouped(ctx, chunks)
    return result


def _steps(items: list[Incoming]) -> Iterator[list[Incoming]]:
    """Runs in which no (source, fingerprint) repeats: a repeat inside one body is a
    redelivery of the alert before it, so it must see that one stored first."""
    run: list[Incoming] = []
    seen: set[tuple[str, str]] = set()
    for item in items:
        key = (item.alert.source, item.fingerprint)
        if key in seen:
            yield run
            run, seen = [], set()
        run.append(item)
        seen.add(key)
    if run:
        yield run


@dataclass
class Routed:
    """A routed alert waiting to join, reopen or open its group's incident in this chunk."""

    alert: Alert
    alert_id: int
    decision: RouteDecision
    path: AlertPath | None = None  # None: a cost spike paging past its route's ratio
    context: AlertContext | None = None
    result: IngestResult | None = None  # of the webhook it came with


class Chunk:
    """The set-based work of one transaction; `step` may run several times in it."""

    def __init__(self, ctx: ServiceContext, s: AsyncSession, now: datetime,
                 result: IngestResult):
        self.ctx, self.s, self.now, self.result = ctx, s, now, result
        self.attach: list[Routed] = []
        self.incidents: dict[int, IncidentRow] = {}  # read or made here, by id (for settle)
        self._silences: list[tuple[SilenceRow, list]] | None = None

    def _of(self, item: Incoming | Routed) -> IngestResult:
        """The result this alert counts in: its webhook's, or the chunk's own."""
        return item.result or self.result

    async def step(self, items: list[Incoming]) -> None:
        rest = []
        for item in items:
            self._of(item).accepted += 1
            if heartbeat.is_heartbeat(self.ctx, item.alert):
                await heartbeat.beat(self.ctx, self.s, item.alert, self.now)
            else:
                rest.append(item)
        known = await known_alerts(self.s, rest)
        ids = [row.id for rows in known.values() for row in rows]
        incidents = await repo.incidents_of_alerts(self.s, ids)
        self.incidents.update((i.id, i) for found in incidents.values() for i in found)
        fresh = []
        for item in rest:
            row = self._match(item, known.get((item.alert.source, item.fingerprint), []),
                              incidents)
            if row is None:
                fresh.append(item)
                continue
            self._of(item).redeliveries += 1
            row.original = item.original
            await self._redelivered(row, item.alert, incidents.get(row.id, []),
                                    self._of(item))
        await self._store(fresh)
        await self.attach_all()

    def _match(self, item: Incoming, rows: list[AlertRow],
               incidents: dict[int, list[IncidentRow]]) -> AlertRow | None:
        """The stored alert this one repeats: its identity, or the active alert of its
        fingerprint when the sender moved startsAt (Alertmanager keeps the earlier start; a
        later start fired anew, so the old one must have ended)."""
        alert = item.alert
        if (row := same_identity(rows, alert)) is not None:
            return row
        firing = [r for r in rows if r.status == AlertStatus.FIRING.value]
        active = max(firing, key=lambda r: r.starts_at, default=None)
        if active is None or alert.starts_at <= active.starts_at or alert.status is not (
                AlertStatus.FIRING):
            return active
        active.status, active.ends_at = AlertStatus.RESOLVED.value, alert.starts_at
        active.last_seen = self.now
        self.s.add(active)
        self._of(item).touched.update(i.id for i in incidents.get(active.id, []))
        return None

    async def _redelivered(self, row: AlertRow, alert: Alert, incidents: list[IncidentRow],
                           result: IngestResult) -> None:
        """A repeat updates what may change (annotations, status, end) and re-renders."""
        changed = row.annotations != alert.annotations or row.status != alert.status.value
        became = alert.status.value if row.status != alert.status.value else None
        row.annotations = dict(alert.annotations)
        row.status = alert.status.value
        row.ends_at = alert.ends_at
        row.generator_url = alert.generator_url or row.generator_url
        row.last_seen = self.now
        row.deliveries += 1
        self.s.add(row)
        for incident in incidents:
            if incident.resolved_by and row.status == AlertStatus.FIRING.value:
                await self._note_still_firing(incident, alert)
            if not changed:
                continue
            if became:
                repo.timeline(self.s, incident_id=incident.id, at=self.now,
                              kind=f"alert_{became}", actor="source",
                              text=f"{alert.alertname} {became} at the source",
                              data={"alert_id": row.id})
            result.touched.add(incident.id)
        await self._revisit_digests(row, alert, result)

    async def _note_still_firing(self, incident: IncidentRow, alert: Alert) -> None:
        """Resolved by hand but still firing at the source: say so once, in the thread."""
        if await repo.has_timeline(self.s, incident.id, "still_firing"):
            return
        text = (f"{escape_mrkdwn(alert.alertname)} is still firing at the source after "
                f"#{incident.id} was resolved by <@{incident.resolved_by}>. Not paging again.")
        repo.timeline(self.s, incident_id=incident.id, at=self.now, kind="still_firing",
                      actor="source", text=text, mrkdwn=True)
        await queue_thread_note(self.s, incident, text, self.now)

    async def _revisit_digests(self, row: AlertRow, alert: Alert,
                               result: IngestResult) -> None:
        """A repeat re-reads a cost alert's ratio: a spike grown past the line pages now."""
        digests = [d for d in decisions(self.ctx, row.labels) if d.action is Action.DIGEST]
        if not digests or await self.silence_of(row.labels) is not None:
            return  # not a cost alert, or silenced since: nobody is paged for it
        for decision in digests:
            await self._digest(row, alert, decision, result, repeat=True)

    async def _digest(self, row: AlertRow, alert: Alert, decision: RouteDecision,
                      result: IngestResult, *, repeat: bool = False) -> None:
        """Hold a cost alert for the digest; a spike past the route's ratio pages at once."""
        paging_decision = await cost_spikes.observe(self.s, row, alert, decision, self.now,
                                                    repeat=repeat)
        if paging_decision is not None:
            self.attach.append(Routed(alert, row.id, paging_decision, result=result))

    async def silence_of(self, labels: dict[str, str]) -> SilenceRow | None:
        """The active silence an alert falls under; the chunk reads silences once."""
        if self._silences is None:
            rows = (await self.s.exec(select(SilenceRow).where(
                col(SilenceRow.starts_at) <= self.now, col(SilenceRow.ends_at) > self.now))).all()
            self._silences = [(r, [parse_matcher(m) for m in r.matchers]) for r in rows]
        if not self._silences:
            return None
        routed = teams(self.ctx, labels)
        return next((silence for silence, matchers in self._silences
                     if silence_matches(matchers, silence.team, labels, routed)), None)

    async def _store(self, fresh: list[Incoming]) -> None:
        """New alerts in one INSERT; then each firing one is held, digested or routed."""
        held: list[SilenceRow | None] = []
        values = []
        for item in fresh:
            alert = item.alert
            firing = alert.status is AlertStatus.FIRING
            silence = await self.silence_of(alert.labels) if firing else None
            held.append(silence)
            values.append({
                "source": alert.source, "fingerprint": item.fingerprint,
                "starts_at": alert.starts_at, "status": alert.status.value,
                "labels": alert.labels, "annotations": alert.annotations,
                "ends_at": alert.ends_at, "generator_url": alert.generator_url,
                "first_seen": self.now, "last_seen": self.now, "deliveries": 1,
                "silenced_by": silence.id if silence else None, "original": item.original})
        await self.s.flush()
        stored = await repo.insert_many(self.s, AlertRow, values,
                                        returning=("id", "source", "fingerprint"))
        by_identity = {(source, fingerprint): i for i, source, fingerprint in stored}
        ids = [by_identity[(item.alert.source, item.fingerprint)] for item in fresh]
        quiet: list[tuple[Alert, SilenceRow]] = []
        for item, alert_id, silence in zip(fresh, ids, held, strict=True):
            result = self._of(item)
            result.new_alerts += 1
            if item.alert.status is AlertStatus.RESOLVED:
                continue  # first seen already resolved: nothing to tell anyone
            if silence is not None:
                silence.suppressed += 1
                result.silenced += 1
                self.s.add(silence)
                quiet.append((item.alert, silence))
                continue
            await self.route(item.alert, alert_id, result)
        await self._note_silenced(quiet)

    async def route(self, alert: Alert, alert_id: int,
                    result: IngestResult | None = None) -> None:
        """Route a firing alert seen for the first time (or released from a silence): the
        route tree, then its path (score, thresholds, context rules, tier)."""
        result = result or self.result
        for decision in decisions(self.ctx, alert.labels):
            context = await context_adjustments(self.ctx, self.s, alert, decision, self.now)
            path = await decide_path(self.ctx, self.s, alert, decision, self.now,
                                     context.adjustments)
            decision = context.applied(decision, path.decision)
            if path.action is Action.DIGEST:
                result.digested += 1
                row = AlertRow(id=alert_id, source=alert.source, fingerprint="",
                               starts_at=alert.starts_at, status=alert.status.value,
                               labels=alert.labels, first_seen=self.now, last_seen=self.now)
                await self._digest(row, alert, path.applied(decision), result)
            else:
                self.attach.append(Routed(alert, alert_id, decision, path, context, result))

    async def _note_silenced(self, quiet: list[tuple[Alert, SilenceRow]]) -> None:
        """Alerts that would have joined an open incident are held: one row per incident."""
        if not quiet:
            return
        routed = [(alert, silence, d.group_key) for alert, silence in quiet
                  for d in decisions(self.ctx, alert.labels)]
        open_by_key = await repo.open_incidents(self.s, {key for _, _, key in routed})
        notes: dict[tuple[int, int], list[Alert]] = {}
        for alert, silence, key in routed:
            if (incident := open_by_key.get(key)) is not None:
                notes.setdefault((incident.id, silence.id), []).append(alert)
        hidden = {i.id: self.ctx.config.hidden_labels(i.team) for i in open_by_key.values()}
        rows = []
        for (incident_id, silence_id), alerts in notes.items():
            what = (alerts[0].alertname if len(alerts) == 1
                    else f"{len(alerts)} alerts ({_names(alerts)})")
            rows.append(repo.timeline_values(
                incident_id=incident_id, at=self.now, kind="alert_silenced", actor="bot",
                text=f"{what} held by silence {silence_id}",
                data={"silence": silence_id,
                      "labels": visible(alerts[0].labels, hidden[incident_id]),
                      "count": len(alerts)}))
        await repo.insert_many(self.s, TimelineEvent, rows)

    async def attach_all(self) -> None:
        """Join every routed alert to its group's open incident, reopen one resolved within
        the hour, or open one: the first alert of a group in the body opens it."""
        pending, self.attach = self.attach, []
        if not pending:
            return
        s, now = self.s, self.now
        keys = {item.decision.group_key for item in pending}
        open_by_key = await repo.open_incidents(s, keys)
        recent = await repo.last_resolved_of(s, keys - open_by_key.keys())
        fresh: dict[str, tuple[dict, Routed]] = {}
        joined: dict[str, list[tuple[Alert, int]]] = {}
        links: list[tuple[str, int, IngestResult]] = []
        for item in pending:
            alert, alert_id, decision, key = item.alert, item.alert_id, item.decision, \
                item.decision.group_key
            links.append((key, alert_id, self._of(item)))
            incident = open_by_key.get(key)
            if incident is None and key not in fresh and reopenable(last := recent.get(key), now):
                if await reopen(self.ctx, s, last, alert, decision, now, item.path):
                    open_by_key[key] = last
                    continue
                # Lost the compare-and-set: another replica reopened it; join what it opened.
                incident = await repo.open_incident(s, key)
                if incident is not None:
                    open_by_key[key] = incident
            if incident is None and key not in fresh:
                fresh[key] = (new_incident(self.ctx, alert, decision, now, item.path), item)
                continue
            started = fresh[key][0] if incident is None else incident
            if incident is None and alert.starts_at < started["started_at"]:
                started["started_at"] = alert.starts_at
            elif incident is not None and alert.starts_at < (incident.started_at
                                                             or alert.starts_at):
                incident.started_at = alert.starts_at
            joined.setdefault(key, []).append((alert, alert_id))
        await s.flush()
        await self._open(fresh, open_by_key)
        await s.flush()
        for item in pending:  # the context each new incident was opened with (no rule: no query)
            if item.context is not None:
                await item.context.settle(s, item.decision.group_key, now)
        await repo.insert_many(s, TimelineEvent, [_joined_row(open_by_key[key], alerts, now)
                                                  for key, alerts in joined.items()])
        await repo.insert_many_ignoring(
            s, IncidentAlert, [{"incident_id": open_by_key[k].id, "alert_id": a}
                               for k, a, _ in links], ["incident_id", "alert_id"])
        for key, _, result in links:
            result.touched.add(open_by_key[key].id)
        self.incidents.update((i.id, i) for i in open_by_key.values())

    async def _open(self, fresh: dict[str, tuple[dict, Routed]],
                    open_by_key: dict[str, IncidentRow]) -> None:
        """New incidents in one INSERT, their first timeline rows in another, then paging."""
        if not fresh:
            return
        stored = await repo.insert_many(self.s, IncidentRow, [v for v, *_ in fresh.values()],
                                        returning=("id",))
        rows = await repo.incidents_by_id(self.s, [i for i, in stored])
        open_by_key.update((row.open_key, row) for row in rows.values())
        timeline = []
        for key, (_, item) in fresh.items():
            incident, alert, decision = open_by_key[key], item.alert, item.decision
            hidden = self.ctx.config.hidden_labels(decision.team)  # timeline keeps none
            self._of(item).opened.append(incident.id)
            timeline.append(repo.timeline_values(
                incident_id=incident.id, at=self.now, kind="received", actor="source",
                text=f"{alert.alertname} received from {alert.source}",
                data={"alert_id": item.alert_id, "labels": visible(alert.labels, hidden)}))
            timeline.append(repo.timeline_values(
                incident_id=incident.id, at=self.now, kind="routed", actor="bot",
                text=f"routed to {decision.team} ({decision.action.value})",
                data=visible_rationale(rationale(decision, item.path), hidden)))
        await repo.insert_many(self.s, TimelineEvent, timeline)
        for key, (_, item) in fresh.items():
            await begin(self.ctx, self.s, open_by_key[key], item.decision, item.path, self.now)


def _names(alerts: list[Alert]) -> str:
    names = list(dict.fromkeys(a.alertname for a in alerts))
    return ", ".join(names[:NAMES_SHOWN]) + (", ..." if len(names) > NAMES_SHOWN else "")


def _joined_row(incident: IncidentRow, alerts: list[tuple[Alert, int]],
                now: datetime) -> dict:
    """One timeline row per incident per chunk, however many alerts joined it."""
    if len(alerts) == 1:
        alert, alert_id = alerts[0]
        return repo.timeline_values(incident_id=incident.id, at=now, kind="alert_added",
                                    actor="source", text=f"{alert.alertname} joined the incident",
                                    data={"alert_id": alert_id})
    return repo.timeline_values(
        incident_id=incident.id, at=now, kind="alert_added", actor="source",
        text=f"{len(alerts)} alerts joined the incident ({_names([a for a, _ in alerts])})",
        data={"alert_ids": [i for _, i in alerts[:100]], "count": len(alerts)})
