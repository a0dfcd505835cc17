"""POST /changes (bearer token, like the alert webhooks) and POST /changes/github (signed).

/changes takes one event, a list, or {"changes": [...]}; each bad event is answered by index
and field, the good ones are committed before the 202. GitHub's `deployment_status` webhook
is verified with X-Hub-Signature-256 (HMAC-SHA256 of the raw body with GITHUB_WEBHOOK_SECRET,
compared in constant time) before anything in it is read. Trimmed payload:
    {"action": "created", "deployment_status": {"state": "success", "environment": "prod",
     "target_url": "https://...", "creator": {"login": "alice"}, "created_at": "..."},
     "deployment": {"ref": "v1.4.2", "sha": "8f3c...", "description": "..."},
     "repository": {"name": "voice-agent", "html_url": "https://github.com/acme/voice-agent"}}
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import hdrs, web
from pydantic import ValidationError

from bot.domain.changes import ChangeEvent
from bot.ingest.body import BodyError, parse_json, read_json
from bot.ingest.http import MAX_BODY_BYTES, PROXY_HEADERS, error, is_loopback
from bot.services.changes import record_changes
from bot.services.context import ServiceContext
from bot.services.lookups import UNAVAILABLE

log = logging.getLogger(__name__)
MAX_EVENTS = 1000
SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"


class ChangeReceiver:
    """The change doors: generic JSON and GitHub deployments."""

    def __init__(self, ctx: ServiceContext, token: str, github_secret: str,
                 service_from: str = "repository"):
        self.ctx, self.token, self.github_secret = ctx, token, github_secret
        self.service_from = service_from

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/changes", self.receive), web.post("/changes/github", self.github)]

    async def receive(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return error(401, "missing or wrong bearer token" if self.token else
                         "ALERT_WEBHOOK_TOKEN is not set: only loopback senders are accepted")
        try:
            body = await read_json(request, MAX_BODY_BYTES)
        except BodyError as exc:
            return error(exc.status, exc.message, field="body")
        items, prefix = _items(body)
        if items is None:
            return error(400, "expected a change event, a list of them, or {\"changes\": [...]}",
                         field="body")
        if len(items) > MAX_EVENTS:
            return error(413, f"at most {MAX_EVENTS} changes per request", field=prefix or "body")
        events, rejected, positions = [], [], []
        for index, item in enumerate(items):
            try:
                events.append(ChangeEvent.model_validate(item))
                positions.append(index)
            except ValidationError as exc:
                rejected.append(_rejection(prefix, index, exc))
        return await self._commit(events, positions, rejected, prefix, "api")

    async def github(self, request: web.Request) -> web.Response:
        if not self.github_secret:
            return error(401, "GITHUB_WEBHOOK_SECRET is not set: GitHub deliveries are refused")
        raw = await request.read()
        if not _signed(raw, request.headers.get(SIGNATURE_HEADER, ""), self.github_secret):
            return error(401, f"missing or wrong {SIGNATURE_HEADER}", field=SIGNATURE_HEADER)
        kind = request.headers.get(EVENT_HEADER, "")
        if kind == "ping":
            return web.json_response({"ok": True})
        if kind != "deployment_status":
            return web.json_response({"accepted": 0, "ignored": f"event {kind!r}"}, status=202)
        try:
            body = parse_json(raw)
            event = deployment_change(body, self.service_from)
        except BodyError as exc:
            return error(exc.status, exc.message, field="body")
        except (ValidationError, KeyError, TypeError, AttributeError, ValueError) as exc:
            return error(400, f"not a deployment_status payload: {exc}".splitlines()[0][:300],
                         field="deployment_status")
        if event is None:
            return web.json_response({"accepted": 0, "ignored": "deployment not successful"},
                                     status=202)
        return await self._commit([event], [0], [], "", "github")

    async def _commit(self, events: list[ChangeEvent], positions: list[int],
                      rejected: list[dict], prefix: str, source: str) -> web.Response:
        if not events:
            first = rejected[0] if rejected else {"field": "body", "error": "no change events"}
            return error(400, first["error"], field=first["field"], rejected=rejected)
        try:
            done = await record_changes(self.ctx, events, source)
        except UNAVAILABLE as exc:
            log.error("database unavailable for changes: %s", exc)
            return error(503, "database unavailable; retry later")
        for position, name, why in done.refused:
            rejected.append({"index": positions[position],
                             "field": _field(prefix, positions[position], name), "error": why})
        if not done.ids:
            return error(400, rejected[0]["error"], field=rejected[0]["field"],
                         rejected=rejected)
        return web.json_response({"accepted": len(done.ids), "ids": done.ids,
                                  "rejected": rejected}, status=202)

    def _authorized(self, request: web.Request) -> bool:
        if not self.token:
            return not any(h in request.headers for h in PROXY_HEADERS) and is_loopback(
                request.remote)
        scheme, _, credentials = request.headers.get(hdrs.AUTHORIZATION, "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), self.token.encode())


def _items(body: Any) -> tuple[list | None, str]:
    if isinstance(body, list):
        return body, ""
    if isinstance(body, dict) and isinstance(body.get("changes"), list):
        return body["changes"], "changes"
    if isinstance(body, dict):
        return [body], ""
    return None, ""


def _field(prefix: str, index: int, name: str) -> str:
    head = f"{prefix}[{index}]" if prefix else f"[{index}]"
    return f"{head}.{name}" if name else head


def _rejection(prefix: str, index: int, exc: ValidationError) -> dict:
    first = exc.errors()[0]
    name = ".".join(str(p) for p in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    return {"index": index, "field": _field(prefix, index, name), "error": message}


def _signed(raw: bytes, header: str, secret: str) -> bool:
    """GitHub's X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the body."""
    expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.strip().encode(), expected.encode())


def deployment_change(body: dict, service_from: str = "repository") -> ChangeEvent | None:
    """A successful deployment as a `deploy` change; other states are not changes (yet)."""
    status, deployment = body["deployment_status"], body.get("deployment") or {}
    if status.get("state") != "success":
        return None
    repository = body.get("repository") or {}
    environment = status.get("environment") or deployment.get("environment") or ""
    service = environment if service_from == "environment" else repository.get("name", "")
    creator = (status.get("creator") or deployment.get("creator") or body.get("sender") or {})
    url = (status.get("log_url") or status.get("target_url") or status.get("environment_url")
           or repository.get("html_url") or "")
    version = deployment.get("ref") or (deployment.get("sha") or "")[:12]
    summary = deployment.get("description") or status.get("description") or (
        f"deployed to {environment}" if environment else "deployed")
    at = status.get("updated_at") or status.get("created_at")
    return ChangeEvent(service=service, kind="deploy", version=version[:256],
                       author=(creator.get("login") or "")[:128], url=url[:2048],
                       summary=summary[:1000],
                       at=datetime.fromisoformat(at).astimezone(UTC) if at else None)
