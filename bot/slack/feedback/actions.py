"""The feedback buttons' listener: ack, decode, one service call; the message re-renders."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.domain.feedback import Verdict
from bot.services import feedback
from bot.slack.action_ids import BadActionValue
from bot.slack.feedback.blocks import FEEDBACK_ACTION_PATTERN, FeedbackRef
from bot.slack.transport.answers import answered


def register(app: AsyncApp) -> None:
    app.action(FEEDBACK_ACTION_PATTERN)(answered(handle_feedback))


async def handle_feedback(ack: AsyncAck, action: dict, body: dict, context: dict) -> None:
    await ack()
    ref = FeedbackRef.decode(action.get("value", ""))
    try:
        verdict = Verdict(ref.verdict)
    except ValueError as exc:
        raise BadActionValue(f"not a verdict: {ref.verdict!r}") from exc
    actor = await context["actor_for"](body["user"]["id"])
    await feedback.give(context["services"], ref.incident_id, actor, verdict)
