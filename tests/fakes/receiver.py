"""A local HTTP receiver for outgoing webhooks and pagers: records requests, answers as told."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """POST anything to it; `answers` queue (status, json) pairs, default 202 {"status": ok}."""

    requests: list[Received] = field(default_factory=list)
    answers: deque = field(default_factory=deque)
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()

    @property
    def url(self) -> str:
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def answer_next(self, status: int, body: dict | None = None, times: int = 1) -> None:
        for _ in range(times):
            self.answers.append((status, body or {}))

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(request.path, dict(request.headers), await request.read()))
        status, body = self.answers.popleft() if self.answers else (202, {"status": "success"})
        return web.json_response(body, status=status)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
