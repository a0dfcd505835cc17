"""Narrow Slack call failures into what delivery should do about them."""

from __future__ import annotations

import asyncio

import aiohttp
from slack_sdk.errors import SlackApiError, SlackObjectFormationError

from bot.delivery.outcome import Outcome

#: Errors no retry can fix: fail the intent at once instead of blocking the channel's queue.
FATAL_ERRORS = frozenset({
    "channel_not_found", "is_archived", "invalid_blocks", "invalid_blocks_format",
    "msg_blocks_too_long", "message_not_found", "not_in_channel", "msg_too_long",
    "cant_update_message", "edit_window_closed", "invalid_auth", "not_authed",
    "account_inactive", "token_revoked", "missing_scope", "restricted_action",
    "no_text", "is_inactive", "invalid_metadata_format", "invalid_metadata_schema",
    "user_not_found",
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
    return Outcome(error, fatal=error in FATAL_ERRORS)


def _retry_after(exc: SlackApiError) -> float:
    headers = {k.lower(): v for k, v in (exc.response.headers or {}).items()}
    value = headers.get("retry-after", "1")
    if isinstance(value, list):
        value = value[0]
    try:
        return max(float(value), 0.0)
    except ValueError:
        return 1.0
