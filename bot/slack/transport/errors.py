"""Narrow Slack call failures into what delivery should do about them.

Retrying is the exception, not the rule: only errors on an allowlist (rate limits, Slack's own
server trouble, timeouts, lost connections) are tried again. Everything else (`not_in_channel`,
`cannot_dm_bot`, `invalid_arguments`, an error code Slack adds next year...) cannot be fixed by
asking again, so the intent fails at once, visibly, and its channel's queue moves on.
"""

from __future__ import annotations

import asyncio

import aiohttp
from slack_sdk.errors import SlackApiError, SlackObjectFormationError

from bot.delivery.outcome import Outcome

#: `ok: false` error codes worth another try: Slack's side had trouble, not our request.
#: (`fatal_error`: "some aspect of the operation may have succeeded", so look before re-posting.)
RETRYABLE_ERRORS = frozenset({
    "ratelimited", "internal_error", "service_unavailable", "request_timeout", "fatal_error",
})

#: Labels of a Slack-wide outage (as opposed to a refusal of one request): one success after
#: them means Slack is back, and every intent that waited on them may go at once.
OUTAGE_LABELS = frozenset({
    "timeout", "connection_error", "internal_error", "service_unavailable", "request_timeout",
    "fatal_error", *(f"http_{status}" for status in range(500, 600)),
})


class RateLimitedLocally(Exception):
    """Slack's Retry-After for this scope has not run out yet: wait without calling."""

    def __init__(self, seconds: float):
        super().__init__(f"waiting {seconds:.1f}s for Slack's Retry-After")
        self.seconds = seconds


class ChannelNotFound(Exception):
    """A configured channel name that the workspace does not have (or the bot cannot see)."""


def classify(exc: BaseException) -> Outcome:
    if isinstance(exc, SlackApiError):
        return _api_error(exc)
    if isinstance(exc, RateLimitedLocally):
        return Outcome("ratelimited", delay=exc.seconds)
    if isinstance(exc, ChannelNotFound):
        return Outcome("channel_not_found", fatal=True)
    if isinstance(exc, SlackObjectFormationError):
        return Outcome("invalid_blocks", fatal=True)
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return Outcome("timeout", maybe_sent=True)
    if isinstance(exc, aiohttp.ClientError | ConnectionError | OSError):
        return Outcome("connection_error", maybe_sent=True)
    raise exc


def _api_error(exc: SlackApiError) -> Outcome:
    status = exc.response.status_code
    if status == 429:
        return Outcome("ratelimited", delay=_retry_after(exc))
    if status >= 500:
        return Outcome(f"http_{status}", maybe_sent=True)
    error = str(exc.response.get("error", "unknown_error")) if exc.response.data else "unknown"
    if error in RETRYABLE_ERRORS:
        return Outcome(error, maybe_sent=error != "ratelimited")
    return Outcome(error, fatal=True)


def _retry_after(exc: SlackApiError) -> float:
    headers = {k.lower(): v for k, v in (exc.response.headers or {}).items()}
    value = headers.get("retry-after", "1")
    if isinstance(value, list):
        value = value[0]
    try:
        return max(float(value), 0.0)
    except ValueError:
        return 1.0
