"""Slack's Socket Mode side for the stand-in: a WebSocket that sends envelopes, reads acks.

    hello      -> {"type": "hello", "num_connections": 1, ...} right after connecting
    envelope   -> {"envelope_id": "...", "type": "interactive", "payload": {...},
                   "accepts_response_payload": false}
    the app    <- {"envelope_id": "...", "payload": {...}?}
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from aiohttp import WSMsgType, web


class SocketModeStandIn:
    def __init__(self) -> None:
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self.connected = asyncio.Event()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": len(self._sockets),
                            "debug_info": {"host": "fake"}, "connection_info": {"app_id": "A0"}})
        self.connected.set()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._ack(json.loads(message.data))
        finally:
            self._sockets.remove(ws)
            if not self._sockets:
                self.connected.clear()
        return ws

    def _ack(self, body: dict[str, Any]) -> None:
        waiter = self._acks.pop(body.get("envelope_id", ""), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(body)

    async def send(self, kind: str, payload: dict[str, Any], timeout: float = 5.0) -> dict:
        """Deliver one envelope (interactive, events_api, slash_commands); return the app's ack."""
        await asyncio.wait_for(self.connected.wait(), timeout)
        envelope_id = f"env-{next(self._ids)}"
        waiter = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = waiter
        await self._sockets[-1].send_json({"envelope_id": envelope_id, "type": kind,
                                           "payload": payload, "accepts_response_payload": True,
                                           "retry_attempt": 0, "retry_reason": ""})
        return await asyncio.wait_for(waiter, timeout)

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
