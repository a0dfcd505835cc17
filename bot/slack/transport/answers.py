"""One error handler for every listener: a refusal becomes words, anything else an error id.

Listeners ack first and then let exceptions rise; this is where they land (Bolt's `app.error`).
The clicker hears about it in the place they acted: an ephemeral reply through the
`response_url` (buttons, slash commands, message shortcuts), the modal itself (submissions), a
small modal (buttons on the App Home, which have neither), or an ephemeral in the channel
(mentions). The log gets the error id, the listener and the
exception's type and traceback, never the request body or SQL parameters.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import SectionBlock
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.errors import DomainError
from bot.slack.action_ids import BadActionValue
from bot.slack.incident.blocks import MarkdownTextObject, PlainTextObject

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How long a listener may work before its HTTP answer must go out (Slack waits 3 s).
ACK_BUDGET = 2.0
TRIGGER_GONE = frozenset({"expired_trigger_id", "exchanged_trigger_id", "trigger_expired",
                          "trigger_exchanged"})
REFUSALS = (DomainError, BadActionValue)


def register(app) -> None:
    app.error(handle_error)


def answered(listener: Callable[..., Awaitable[None]]) -> Callable[[AsyncArgs], Awaitable[None]]:
    """Register form: `app.action(ActionId.X)(answered(handle_x))`.

    What a listener raises after its ack is answered here by `handle_error`. Bolt's own
    runner would too, but it then resets the ack's response, and an ack not yet seen by its
    10 ms poll is lost: Slack would get a 404 for a click that was acknowledged.
    """
    names = inspect.getfullargspec(listener).args

    async def run(args: AsyncArgs) -> None:
        try:
            await listener(**{name: getattr(args, name) for name in names})
        except Exception as error:
            if args.ack.response is None:  # not acked yet: Bolt's handler answers in the ack
                raise
            await handle_error(error, args.body, args.respond, args.client, None)

    run.__name__ = run.__qualname__ = listener.__name__  # Bolt's logs name the listener
    return run


async def within_budget(work: Awaitable[T], budget: float = ACK_BUDGET) -> asyncio.Future[T]:
    """Start `work` and wait at most `budget` seconds: the caller acks with the result when
    it is done, or acks "working on it" and awaits the same future afterwards."""
    future = asyncio.ensure_future(work)
    await asyncio.wait({future}, timeout=budget)
    return future


def user_text(error: BaseException) -> str:
    """What the person who acted is told about `error`; unexpected errors are logged here."""
    if isinstance(error, REFUSALS):
        return str(error)
    if isinstance(error, SlackApiError) and _slack_error(error) in TRIGGER_GONE:
        return ("Slack closed the form before it could open (it allows 3 seconds). "
                "Nothing was changed: click the button again.")
    error_id = uuid.uuid4().hex[:8]
    log.error("listener failed (error id %s): %s\n%s", error_id, describe(error),
              "".join(traceback.format_tb(error.__traceback__)))
    return f"Something went wrong on our side (error id {error_id}). Nothing was changed."


def describe(error: BaseException) -> str:
    """The exception without what it may carry of a request (SQL parameters, bodies)."""
    orig = getattr(error, "orig", None)  # SQLAlchemy: the driver's message, no parameters
    if isinstance(error, SlackApiError):
        return f"SlackApiError {_slack_error(error)}"
    detail = f"{type(orig).__name__}: {orig}" if orig is not None else ""
    return f"{type(error).__name__}" + (f" ({detail[:200]})" if detail else "")


def error_view(text: str) -> View:
    return View(type="modal", title=PlainTextObject(text="oncall-bot"),
                close=PlainTextObject(text="Close"),
                blocks=[SectionBlock(text=MarkdownTextObject(text=text[:3000]))])


async def handle_error(error: Exception, body: dict, respond, client: AsyncWebClient,
                       response: BoltResponse | None) -> BoltResponse | None:
    """Bolt calls this for any exception a listener raises, before or after its ack."""
    text = user_text(error)
    try:
        answered = await _tell(body, text, respond, client, acked=response is None)
    except Exception as exc:  # telling failed too: the log already has the error id
        log.warning("could not tell the user about a failure: %s", describe(exc))
        answered = None
    if response is None:  # the ack went out already; Bolt ignores what we return
        return None
    return answered or BoltResponse(status=200, body="")


async def _tell(body: dict, text: str, respond, client: AsyncWebClient,
                acked: bool) -> BoltResponse | None:
    if body.get("type") == "view_submission":
        if not acked:
            payload = {"response_action": "update", "view": error_view(text).to_dict()}
            return BoltResponse(status=200, body=json.dumps(payload),
                                headers={"content-type": "application/json"})
        await client.views_update(view_id=body["view"]["id"], view=error_view(text))
        return None
    if _response_url(body):
        await respond(text=text, response_type="ephemeral", replace_original=False)
        return None
    if (body.get("container") or {}).get("type") == "view" and body.get("trigger_id"):
        # a button on the App Home: no channel, no response_url; a small modal says it
        await client.views_open(trigger_id=body["trigger_id"], view=error_view(text))
        return None
    event = body.get("event") or {}
    if event.get("channel") and event.get("user"):
        await client.chat_postEphemeral(channel=event["channel"], user=event["user"], text=text,
                                        thread_ts=event.get("thread_ts"))
    return None


def _response_url(body: dict) -> str | None:
    return body.get("response_url") or next(
        (u.get("response_url") for u in body.get("response_urls") or []), None)


def _slack_error(error: SlackApiError) -> str:
    try:
        return str(error.response.get("error", ""))
    except Exception:  # a response without JSON
        return ""
