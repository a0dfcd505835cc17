"""The /slack/events door: size and signature are checked on the raw bytes before anything parses.

Bolt parses a request body (JSON, form, `payload=`) before its own signature middleware runs,
so a forged body that does not parse reached a traceback, and Bolt's debug log of a failed
check wrote the whole body out. Here a request is read up to a cap, its signature checked with
slack_sdk's verifier, and only then handed to Bolt; a refusal logs the reason, never the body.
"""

from __future__ import annotations

import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)

# Slack publishes no request size limit. The largest thing it sends us is a view submission
# (a view is at most 250 kB) or a block_actions payload carrying its message; form encoding
# can triple that. 1 MiB holds any of them and stops a forged flood early.
MAX_SLACK_BODY_BYTES = 1024 * 1024


class SlackDoor:
    """An aiohttp handler that lets only signed, reasonably sized requests reach Bolt."""

    def __init__(self, bolt: AsyncApp, signing_secret: str,
                 max_bytes: int = MAX_SLACK_BODY_BYTES):
        self.bolt, self.max_bytes = bolt, max_bytes
        self.verifier = SignatureVerifier(signing_secret) if signing_secret.strip() else None

    async def handle(self, request: web.Request) -> web.Response:
        body = await self._read_capped(request)
        if body is None:
            return _refuse(413, "request body too large", request)
        text = _utf8(body)
        if text is None or not self._signed(request, text):
            return _refuse(401, "invalid request", request)
        try:
            bolt_request = AsyncBoltRequest(body=text,
                                            query=request.query_string,
                                            headers=request.headers)  # type: ignore[arg-type]
        except (ValueError, TypeError, AttributeError, KeyError):  # signed, yet not a payload
            return _refuse(400, "malformed request", request)
        return await to_aiohttp_response(await self.bolt.async_dispatch(bolt_request))

    async def _read_capped(self, request: web.Request) -> bytes | None:
        """The body, or None when it is over the cap (read no further than the cap)."""
        if request.content_length is not None and request.content_length > self.max_bytes:
            return None
        body = bytearray()
        while chunk := await request.content.read(self.max_bytes + 1 - len(body)):
            body += chunk  # read() returns what has arrived so far: loop until EOF or the cap
            if len(body) > self.max_bytes:
                return None
        return bytes(body)

    def _signed(self, request: web.Request, body: str) -> bool:
        if self.verifier is None:  # no signing secret (Socket Mode): nothing arrives by HTTP
            return False
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not timestamp.isdigit() or not signature:
            return False
        return self.verifier.is_valid(body, timestamp, signature)


def _utf8(body: bytes) -> str | None:
    """Slack sends UTF-8; anything else is not from Slack (and the verifier would raise)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _refuse(status: int, reason: str, request: web.Request) -> web.Response:
    """Answer plainly; the log names the reason and the size, never the body."""
    log.warning("refused /slack/events request from %s: %s (%s bytes)", request.remote, reason,
                request.content_length)
    return web.json_response({"error": reason}, status=status)
