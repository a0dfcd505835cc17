"""Runbook buttons: start on the alert, answer a step, go back, restart. Ack, one service call;
a refusal or failure is answered by the error handler (bot/slack/transport/answers.py)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.services import runbook_effects, runbooks
from bot.services.context import ServiceContext
from bot.slack.action_ids import ActionId, IncidentRef
from bot.slack.runbook.blocks import BACK, CHOOSE_PATTERN, RESTART, StepRef
from bot.slack.transport.answers import answered


def register(app: AsyncApp) -> None:
    app.action(ActionId.INCIDENT_RUNBOOK_START.value)(answered(handle_runbook_start))
    app.action(CHOOSE_PATTERN)(answered(handle_runbook_choose))
    app.action(BACK)(answered(handle_runbook_back))
    app.action(RESTART)(answered(handle_runbook_restart))


async def handle_runbook_start(ack: AsyncAck, action: dict, body: dict, context: dict) -> None:
    async def start() -> None:
        ref = IncidentRef.decode(action.get("value", ""))
        actor = await context["actor_for"](body["user"]["id"])
        await runbooks.start_run(context["services"], ref.incident_id, actor)
    await _run(ack, start)


async def handle_runbook_choose(ack: AsyncAck, action: dict, body: dict, context: dict) -> None:
    ctx: ServiceContext = context["services"]

    async def choose() -> None:
        ref = StepRef.decode(action.get("value", ""))
        actor = await context["actor_for"](body["user"]["id"])
        done = await runbooks.answer(ctx, ref.run, ref.seq, ref.node, ref.option, actor)
        if done.confirmed is not None:  # the click was the explicit confirmation of an action
            await runbook_effects.perform(ctx, done.run.incident_id, done.run.runbook_id,
                                          ref.node, done.confirmed, actor)
    await _run(ack, choose)


async def handle_runbook_back(ack: AsyncAck, action: dict, body: dict, context: dict) -> None:
    async def back() -> None:
        ref = StepRef.decode(action.get("value", ""))
        actor = await context["actor_for"](body["user"]["id"])
        await runbooks.go_back(context["services"], ref.run, ref.seq, ref.node, actor)
    await _run(ack, back)


async def handle_runbook_restart(ack: AsyncAck, action: dict, body: dict, context: dict) -> None:
    async def restart() -> None:
        ref = StepRef.decode(action.get("value", ""))
        actor = await context["actor_for"](body["user"]["id"])
        await runbooks.start_over(context["services"], ref.run, ref.seq, actor)
    await _run(ack, restart)


async def _run(ack: AsyncAck, work) -> None:
    await ack()
    await work()
