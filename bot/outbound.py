"""Outgoing HTTP for the outbox: external pagers and the handoff webhook, signed, idempotent."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from bot.delivery.outcome import Outcome, Undelivered
from bot.domain.pagers import (
    PageIncident,
    PagePerson,
    PagerDutySpec,
    WebhookSpec,
    classify_pagerduty_response,
    incident_dedup_key,
    json_body,
    page_details,
    page_links,
    pagerduty_event,
    webhook_page,
)
from bot.domain.signing import idempotency_key, signed_headers
from bot.metrics import Metrics
from bot.services import handoff, lookups, outbox, page_outcomes, runbook_effects
from bot.services.context import ServiceContext
from bot.store.models import OutboxIntent

log = logging.getLogger(__name__)
HANDOFF_ATTEMPTS = 3  # then the handoff is reported as failed for good


class PageLookup(Protocol):
    """What a page should say that only Slack knows; the Slack adapter provides it."""

    async def permalink(self, incident_id: int) -> str: ...

    async def person(self, user_id: str) -> PagePerson: ...


class _NoLookup:
    async def permalink(self, incident_id: int) -> str:
        return ""

    async def person(self, user_id: str) -> PagePerson:
        return PagePerson(id=user_id)


class OutboundSender:
    """POSTs with a timeout; the answer decides done, retry, or failed for good."""

    def __init__(self, ctx: ServiceContext, metrics: Metrics, timeout: float = 10.0,
                 lookup: PageLookup | None = None):
        self.ctx, self.metrics, self.timeout = ctx, metrics, timeout
        self.lookup = lookup or _NoLookup()

    async def pager_event(self, intent: OutboxIntent) -> None:
        """One pager event; a trigger that fails for good is recorded on its page row by the
        worker (delivery_failures.record), like every failed page."""
        payload = intent.payload
        await self._pager_event(intent)
        await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now(),
                              timeline_kind="pager_sent" if intent.incident_id else None,
                              timeline_text=f"{payload['action']} sent to {payload['pager']}")

    async def _pager_event(self, intent: OutboxIntent) -> None:
        payload = intent.payload
        spec = self.ctx.config.pagers.get(payload["pager"])
        if spec is None:
            raise Undelivered(Outcome(f"pager {payload['pager']} is not configured", fatal=True))
        if (payload["action"] == "trigger" and intent.incident_id and intent.attempts == 1
                and await page_outcomes.awaiting_message(self.ctx, intent.incident_id)):
            # Once, and only for one delivery pass: the page links to the incident message.
            raise Undelivered(Outcome("waiting for the incident message to link to", delay=0))
        incident = await self._page_incident(intent)
        page = await self._whom(payload)
        if isinstance(spec, PagerDutySpec) and payload["action"] == "test":
            for action in ("trigger", "resolve"):  # PagerDuty has no test event: open, close
                await self._pagerduty(spec, action, incident, page,
                                      f"oncall-bot-test-{intent.id}")
        elif isinstance(spec, PagerDutySpec):
            await self._pagerduty(spec, payload["action"], incident, page)
        else:
            await self._webhook_pager(spec, payload, incident, page, intent)

    async def _whom(self, payload: dict) -> _Whom:
        """The person to wake and everyone the level pages, named as Slack knows them."""
        people = [await self.lookup.person(user) for user in payload.get("people") or []]
        person = payload.get("person")
        first = next((p for p in people if p.id == person), None)
        if person and first is None:
            first = await self.lookup.person(person)
        return _Whom(person=first, people=people, level=payload.get("level"))

    async def _pagerduty(self, spec: PagerDutySpec, action: str, incident: PageIncident,
                         whom: _Whom, dedup_key: str | None = None) -> None:
        routing_key = os.environ.get(spec.routing_key_env, "")
        if not routing_key:
            raise Undelivered(Outcome(f"{spec.routing_key_env} is not set", fatal=True))
        event = pagerduty_event(action, routing_key=routing_key,
                                dedup_key=dedup_key or incident_dedup_key(incident.id),
                                summary=f"#{incident.id} {incident.title}", source="oncall-bot",
                                severity_label=incident.severity, timestamp=incident.started_at,
                                group=incident.team, links=page_links(incident),
                                client_url=incident.url or None,
                                details=page_details(incident, whom.person, level=whom.level,
                                                     people=whom.people))
        status, body = await self._post(str(spec.url), json_body(event),
                                        {"Content-Type": "application/json"}, "pagerduty")
        verdict = classify_pagerduty_response(status, body)
        if verdict.kind != "ok":
            raise Undelivered(Outcome(f"pagerduty {status}: {verdict.message}",
                                      fatal=verdict.kind == "fatal"))

    async def _webhook_pager(self, spec: WebhookSpec, payload: dict, incident: PageIncident,
                             whom: _Whom, intent: OutboxIntent) -> None:
        body = json_body(webhook_page(payload["action"], incident, whom.person,
                                      level=whom.level, people=whom.people))
        key = idempotency_key("page", intent.id)
        await self._signed_post(str(spec.url), body, spec.secret_env, key, dict(spec.headers),
                                "pager_webhook")

    async def handoff_webhook(self, intent: OutboxIntent) -> None:
        payload = intent.payload
        spec = self.ctx.config.handoff[payload["service"]].webhook
        body = json_body({k: v for k, v in payload.items() if k != "view_id"})
        try:
            await self._signed_post(str(spec.url), body, spec.secret_env,
                                    idempotency_key("handoff", intent.id), {}, "handoff",
                                    timeout=spec.timeout.total_seconds())
        except Undelivered as exc:
            final = exc.outcome.fatal or intent.attempts >= HANDOFF_ATTEMPTS
            await handoff.failed(self.ctx, payload, exc.outcome.label, final=final)
            if final:
                raise Undelivered(Outcome(exc.outcome.label, fatal=True)) from exc
            raise
        await handoff.succeeded(self.ctx, payload, intent.id)

    async def remediation_hook(self, intent: OutboxIntent) -> None:
        """A named hook a responder confirmed in a runbook ("fail over", "restart pod")."""
        payload = intent.payload
        spec = self.ctx.config.hooks.get(payload["hook"])
        if spec is None:
            await runbook_effects.hook_result(self.ctx, payload, "not configured")
            raise Undelivered(Outcome(f"hook {payload['hook']} is not configured", fatal=True))
        try:
            await self._signed_post(str(spec.url), json_body(payload), spec.secret_env,
                                    idempotency_key("remediation", intent.id), {}, "hook",
                                    timeout=spec.timeout.total_seconds())
        except Undelivered as exc:
            if exc.outcome.fatal or intent.attempts >= HANDOFF_ATTEMPTS:
                await runbook_effects.hook_result(self.ctx, payload, exc.outcome.label)
                raise Undelivered(Outcome(exc.outcome.label, fatal=True)) from exc
            raise
        await runbook_effects.hook_result(self.ctx, payload, None, intent.id)

    async def _signed_post(self, url: str, body: bytes, secret_env: str, key: str,
                           headers: dict[str, str], what: str, timeout: float | None = None):
        secret = os.environ.get(secret_env, "")
        if not secret:
            raise Undelivered(Outcome(f"{secret_env} is not set", fatal=True))
        now = int(self.ctx.clock.now().timestamp())
        signed = signed_headers(body, secret, now, key, headers)
        status, answer = await self._post(url, body, signed, what, timeout)
        if 200 <= status < 300:
            return answer
        detail = (answer or {}).get("error") or (answer or {}).get("message") or ""
        label = f"HTTP {status}" + (f": {detail}" if detail else "")
        raise Undelivered(Outcome(label, fatal=400 <= status < 500 and status not in (408, 429)))

    async def _post(self, url: str, body: bytes, headers: dict[str, str], what: str,
                    timeout: float | None = None, method: str = "POST") -> tuple[int, Any]:
        limit = aiohttp.ClientTimeout(total=timeout or self.timeout)
        try:
            async with aiohttp.ClientSession(timeout=limit) as http, \
                    http.request(method, url, data=body, headers=headers) as response:
                text = await response.text()
        except TimeoutError:
            self.metrics.outbound_calls.labels(what, "timeout").inc()
            raise Undelivered(Outcome("timeout", maybe_sent=True)) from None
        except aiohttp.ClientError as exc:
            self.metrics.outbound_calls.labels(what, "connection_error").inc()
            raise Undelivered(Outcome(f"cannot connect: {exc}", maybe_sent=True)) from exc
        self.metrics.outbound_calls.labels(what, str(response.status)).inc()
        try:
            return response.status, json.loads(text) if text else None
        except ValueError:
            return response.status, {"message": text[:200]}

    async def _page_incident(self, intent: OutboxIntent) -> PageIncident:
        if intent.incident_id is None:  # a test page
            person = intent.payload.get("person") or ""
            return PageIncident(id=0, title=f"TEST page for {person}: no action needed",
                                severity="info", team="oncall-bot",
                                started_at=self.ctx.clock.now())
        incident, view = await lookups.incident_and_view(self.ctx, intent.incident_id)
        return PageIncident(id=incident.id, title=view.title, severity=incident.severity,
                            team=incident.team, status=incident.status,
                            started_at=incident.started_at or incident.opened_at,
                            summary=view.summary, links=view.links, why=" · ".join(view.why),
                            url=await self.lookup.permalink(incident.id))


@dataclass(frozen=True)
class _Whom:
    person: PagePerson | None
    people: list[PagePerson]
    level: int | None
