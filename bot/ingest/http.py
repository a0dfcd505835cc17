"""aiohttp handlers for the alert webhooks: auth, size cap, parse, commit, then 202."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import hdrs, web

from bot.ingest.body import BodyError, read_json
from bot.ingest.parsers import (
    Parsed,
    PayloadError,
    parse_alertmanager,
    parse_generic,
    parse_grafana,
)
from bot.metrics import Metrics
from bot.services.context import ServiceContext
from bot.services.ingest import DatabaseUnavailable, ingest_alerts

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
PARSERS: dict[str, Callable[[Any], Parsed]] = {
    "alertmanager": parse_alertmanager,
    "grafana": parse_grafana,
    "generic": parse_generic,
}


@dataclass(frozen=True)
class WebhookLimits:
    """How long a sender may take to send its body, how many may be in progress at once, and
    how long one beyond that waits its turn (HTTP_READ_TIMEOUT, WEBHOOK_MAX_CONCURRENT,
    WEBHOOK_QUEUE_WAIT): a flood queues in memory, well inside Alertmanager's 10 s timeout,
    instead of in the database's lock; slow clients cannot hold the door open for long."""

    read_timeout: float = 15.0
    max_concurrent: int = 32
    queue_wait: float = 5.0
    max_waiting: int = 2000  # beyond this many queued, answer 503 at once
    retry_after: int = 5


def error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


class AlertReceiver:
    """One handler per sender format; the sender learns exactly what was kept and why not."""

    def __init__(self, ctx: ServiceContext, metrics: Metrics, token: str,
                 limits: WebhookLimits | None = None):
        self.ctx, self.metrics, self.token = ctx, metrics, token
        self.limits = limits or WebhookLimits()
        self.in_flight = 0
        self._turns: deque[asyncio.Future] = deque()  # webhooks waiting for a slot, in order

    def routes(self) -> list[web.RouteDef]:
        return [web.post(f"/alerts/{source}", self._handler(source)) for source in PARSERS]

    def _handler(self, source: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            response = await self._admitted(source, request)
            self.metrics.ingest_requests.labels(source, str(response.status)).inc()
            return response
        return handle

    async def _admitted(self, source: str, request: web.Request) -> web.Response:
        """At most `max_concurrent` webhooks at once; beyond, each waits its turn (first come,
        first served) up to `queue_wait`, then a 503 with Retry-After."""
        if not await self._slot():
            return self._retry_later(f"more than {self.limits.max_concurrent} webhooks in "
                                     "progress; retry later")
        try:
            return await self._receive(source, request)
        finally:
            self._release()

    @property
    def waiting(self) -> int:
        return sum(1 for turn in self._turns if not turn.done())

    async def _slot(self) -> bool:
        """Take a slot: at once if one is free and nobody waits, else in arrival order. A
        plain queue of futures: a flood puts a thousand webhooks here, and a semaphore with
        `wait_for` costs a task and a timer each."""
        if self.in_flight < self.limits.max_concurrent and not self._turns:
            self.in_flight += 1
            return True
        if self.limits.queue_wait <= 0 or len(self._turns) >= self.limits.max_waiting:
            return False
        turn = asyncio.get_running_loop().create_future()
        self._turns.append(turn)
        try:
            async with asyncio.timeout(self.limits.queue_wait):
                await turn
        except TimeoutError:
            # Handed a slot just as the wait ran out: it is ours. Else out of the queue.
            return turn.done() and not turn.cancelled()
        except BaseException:
            if turn.done() and not turn.cancelled():
                self._release()  # the sender went away holding a slot it was handed
            raise
        finally:
            if not turn.done():
                turn.cancel()
            if turn.cancelled():  # gave up waiting: out of the queue (a handed turn left it)
                with contextlib.suppress(ValueError):
                    self._turns.remove(turn)
        return True

    def _release(self) -> None:
        """Pass the slot to the longest waiting webhook, or free it."""
        while self._turns:
            turn = self._turns.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot passes on: in_flight stays
                return
        self.in_flight -= 1

    async def _receive(self, source: str, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return error(401, "missing or wrong bearer token" if self.token else
                         "ALERT_WEBHOOK_TOKEN is not set: only loopback senders are accepted")
        try:
            async with asyncio.timeout(self.limits.read_timeout):
                body = await read_json(request, MAX_BODY_BYTES)
        except TimeoutError:
            return error(408, f"body not received within {self.limits.read_timeout:g} s",
                         field="body")
        except BodyError as exc:
            return error(exc.status, exc.message, field="body")
        try:
            parsed = PARSERS[source](body)
        except PayloadError as exc:
            self.metrics.ingest_alerts.labels(source, "rejected").inc(max(len(exc.rejected), 1))
            return error(400, exc.error, field=exc.field,
                         rejected=[r.model_dump() for r in exc.rejected])
        return await self._commit(source, parsed)

    async def _commit(self, source: str, parsed: Parsed) -> web.Response:
        try:
            result = await ingest_alerts(self.ctx, parsed.alerts,
                                         truncated_at_source=parsed.truncated)
        except DatabaseUnavailable as exc:
            log.error("database unavailable, asking %s to retry: %s", source, exc)
            return self._retry_later("database unavailable; retry later")
        for position, why in result.refused:
            parsed.refused(position, why)
        self.metrics.ingest_alerts.labels(source, "accepted").inc(result.accepted)
        self.metrics.ingest_alerts.labels(source, "rejected").inc(len(parsed.rejected))
        return web.json_response(
            {"accepted": result.accepted, "rejected": [r.model_dump() for r in parsed.rejected],
             "new": result.new_alerts, "repeated": result.redeliveries,
             "incidents_opened": result.opened, "truncated_at_source": parsed.truncated},
            status=202)

    def _retry_later(self, message: str) -> web.Response:
        response = error(503, message)
        response.headers[hdrs.RETRY_AFTER] = str(self.limits.retry_after)
        return response

    def _authorized(self, request: web.Request) -> bool:
        if not self.token:
            return _from_loopback(request)
        header = request.headers.get(hdrs.AUTHORIZATION, "")
        scheme, _, credentials = header.strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(  # schemes ignore case
            credentials.strip().encode(), self.token.encode())


#: Headers a reverse proxy adds: the request came from elsewhere, whatever the socket says.
PROXY_HEADERS = (hdrs.FORWARDED, hdrs.X_FORWARDED_FOR, hdrs.X_FORWARDED_HOST, "X-Real-IP")


def _from_loopback(request: web.Request) -> bool:
    """A sender on this machine, not proxied: the only one trusted without a token."""
    if any(name in request.headers for name in PROXY_HEADERS):
        return False
    return is_loopback(request.remote)


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
