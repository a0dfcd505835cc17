"""A local stand-in for Atlassian Statuspage's REST API that checks every request it gets.

POST /v1/pages/{page_id}/incidents and PATCH /v1/pages/{page_id}/incidents/{id}: the
`Authorization: OAuth <key>` header, the page id, and the body shape (`{"incident": {...}}`,
a known status, a name on create, component statuses Statuspage knows) are checked; a wrong
request gets the 401/404/422 Statuspage would give. `fail_next` queues 5xx answers.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

STATES = {"investigating", "identified", "monitoring", "resolved"}
COMPONENT_STATES = {"operational", "degraded_performance", "partial_outage", "major_outage",
                    "under_maintenance"}


@dataclass
class StatuspageStandIn:
    page_id: str = "pg0test1"
    api_key: str = "sp-test-key"
    requests: list[tuple[str, str, dict]] = field(default_factory=list)  # method, path, body
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_next: deque = field(default_factory=deque)  # HTTP statuses to answer first
    _ids: Any = field(default_factory=lambda: (f"inc{n:04d}" for n in itertools.count(1)))
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/pages/{page}/incidents", self._create)
        app.router.add_patch("/v1/pages/{page}/incidents/{id}", self._update)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _checked(self, request: web.Request) -> dict | web.Response:
        if request.headers.get("Authorization") != f"OAuth {self.api_key}":
            return web.json_response({"error": "Could not authenticate"}, status=401)
        if request.match_info["page"] != self.page_id:
            return web.json_response({"error": "page not found"}, status=404)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        self.requests.append((request.method, request.path, body))
        if self.fail_next:
            return web.json_response({"error": "upstream"}, status=self.fail_next.popleft())
        incident = body.get("incident") if isinstance(body, dict) else None
        if not isinstance(incident, dict) or set(body) != {"incident"}:
            return web.json_response({"error": "incident is missing"}, status=422)
        if incident.get("status") not in STATES or not isinstance(incident.get("body"), str):
            return web.json_response({"error": "status or body is invalid"}, status=422)
        components = incident.get("components", {})
        if not set(components.values()) <= COMPONENT_STATES or not set(components) <= set(
                incident.get("component_ids", [])):
            return web.json_response({"error": "components are invalid"}, status=422)
        return incident

    async def _create(self, request: web.Request) -> web.Response:
        incident = await self._checked(request)
        if isinstance(incident, web.Response):
            return incident
        if not incident.get("name"):
            return web.json_response({"error": "name can't be blank"}, status=422)
        new_id = next(self._ids)
        self.incidents[new_id] = {**incident, "updates": [incident["body"]]}
        return web.json_response({"id": new_id, **incident}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        incident = await self._checked(request)
        if isinstance(incident, web.Response):
            return incident
        known = self.incidents.get(request.match_info["id"])
        if known is None:
            return web.json_response({"error": "incident not found"}, status=404)
        known.update({k: v for k, v in incident.items() if k != "body"})
        known["updates"].append(incident["body"])
        return web.json_response({"id": request.match_info["id"], **known})
