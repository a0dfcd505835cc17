"""The status-page providers, as an outbox sender: Atlassian Statuspage, or a signed webhook.

A provider implements `StatusProvider.send(state) -> provider incident id`; a second one is a
class more and a `provider:` value. Statuspage: `POST /pages/{page_id}/incidents` the first
time, `PATCH /pages/{page_id}/incidents/{id}` after, `Authorization: OAuth <key>`, components
set from the incident's service. The webhook POSTs the same facts as JSON, signed like every
outgoing webhook of the bot (bot/domain/signing.py).
"""

from __future__ import annotations

import json
import os
from typing import Protocol

from bot.config_statuspage import StatusPageConfig
from bot.delivery.outcome import Outcome, Undelivered
from bot.domain.pagers import json_body
from bot.domain.signing import idempotency_key
from bot.outbound import OutboundSender
from bot.services import statuspage
from bot.services.statuspage import PageState
from bot.store.models import OutboxIntent


class StatusProvider(Protocol):
    async def send(self, state: PageState, intent: OutboxIntent) -> str | None: ...


class AtlassianStatuspage:
    def __init__(self, config: StatusPageConfig, http: OutboundSender):
        self.config, self.http = config, http

    async def send(self, state: PageState, intent: OutboxIntent) -> str | None:
        key = os.environ.get(self.config.api_key_env or "", "")
        if not key:
            raise Undelivered(Outcome(f"{self.config.api_key_env} is not set", fatal=True))
        base = f"{str(self.config.api_url).rstrip('/')}/pages/{self.config.page_id}/incidents"
        url = f"{base}/{state.provider_id}" if state.provider_id else base
        body = json.dumps({"incident": self._incident(state)}).encode()
        headers = {"Authorization": f"OAuth {key}", "Content-Type": "application/json"}
        status, answer = await self.http._post(url, body, headers, "statuspage",
                                               method="PATCH" if state.provider_id else "POST")
        if not 200 <= status < 300:
            detail = (answer or {}).get("error") or (answer or {}).get("message") or ""
            raise Undelivered(Outcome(f"statuspage HTTP {status}" + (f": {detail}" if detail
                                                                       else ""),
                                      fatal=400 <= status < 500 and status not in (408, 429)))
        return str((answer or {}).get("id") or state.provider_id or "") or None

    def _incident(self, state: PageState) -> dict:
        incident = {"status": state.state, "body": state.body}
        component = self.config.components.get(state.service)
        if component:
            incident["component_ids"] = [component]
            incident["components"] = {component: self.config.component_impact(
                state.severity, state.resolved)}
        if not state.provider_id:
            incident["name"] = state.name
        return incident


class StatusWebhookProvider:
    def __init__(self, config: StatusPageConfig, http: OutboundSender):
        self.config, self.http = config, http

    async def send(self, state: PageState, intent: OutboxIntent) -> str | None:
        spec = self.config.webhook
        body = json_body({"event": "status_page", "incident": state.incident_id,
                          "name": state.name, "state": state.state, "body": state.body,
                          "service": state.service, "severity": state.severity,
                          "component": self.config.components.get(state.service),
                          "component_status": self.config.component_impact(
                              state.severity, state.resolved)})
        await self.http._signed_post(str(spec.url), body, spec.secret_env,
                                    idempotency_key("statuspage", intent.id), {}, "statuspage")
        return f"webhook:{state.incident_id}"


class StatusPageSender:
    """The outbox sender of `statuspage_sync` intents."""

    def __init__(self, http: OutboundSender):
        self.http, self.ctx = http, http.ctx

    def provider(self) -> StatusProvider:
        config = self.ctx.config.statuspage
        if config is None:
            raise Undelivered(Outcome("no status page is configured", fatal=True))
        cls = AtlassianStatuspage if config.provider == "atlassian" else StatusWebhookProvider
        return cls(config, self.http)

    async def sync(self, intent: OutboxIntent) -> None:
        state = await statuspage.page_state(self.ctx, intent.incident_id)
        if state is None:
            raise Undelivered(Outcome("the incident is not published", fatal=True))
        provider_id = state.provider_id
        if state.news:  # a re-sync with nothing new (e.g. an ack after the state was sent)
            provider_id = await self.provider().send(state, intent)
        await statuspage.synced(self.ctx, intent.id, state, provider_id)
