"""Runbook steps in the incident's thread: post the current step, close the answered one."""

from __future__ import annotations

from bot.delivery.outcome import Outcome, Undelivered
from bot.domain.privacy import visible
from bot.domain.templating import make_context
from bot.services import lookups, outbox
from bot.services.runbooks import runbook_of
from bot.slack.outbox.sender import SlackSender
from bot.slack.runbook.blocks import StepRef, step_message
from bot.store.models import ALERT_MESSAGE, OutboxIntent, SlackMessage

STEP_MESSAGE = "runbook_step"
STEP_EVENT_TYPE = "oncall_runbook_step"


class RunbookSender:
    def __init__(self, sender: SlackSender):
        self.sender, self.ctx = sender, sender.ctx

    async def post_step(self, intent: OutboxIntent) -> None:
        payload = intent.payload
        runbook, context, parent, _ = await self._load(intent)
        ref = StepRef(run=payload["run"], seq=payload["seq"], node=payload["node"])
        text, blocks = step_message(runbook, payload["node"], context, ref, payload["steps"] + 1)
        if parent is None:
            raise Undelivered(Outcome("the incident message is not posted yet"))
        ts = intent.maybe_sent and await self.sender.find_posted(
            parent.channel_id, {"intent_id": intent.id}, event_type=STEP_EVENT_TYPE,
            thread_ts=parent.ts)  # a timed-out post may have landed: never post a step twice
        if not ts:
            response = await self.sender.call(
                "chat.postMessage", channel=parent.channel_id, thread_ts=parent.ts, text=text,
                blocks=blocks, metadata={"event_type": STEP_EVENT_TYPE, "event_payload": {
                    "incident_id": intent.incident_id, "intent_id": intent.id}})
            ts = response["ts"]
        await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now(), message=SlackMessage(
            incident_id=intent.incident_id, kind=STEP_MESSAGE,
            recipient=f"{payload['run']}:{payload['seq']}", channel_id=parent.channel_id,
            ts=ts, thread_ts=parent.ts, intent_id=intent.id, posted_at=self.ctx.clock.now()))

    async def close_step(self, intent: OutboxIntent) -> None:
        payload = intent.payload
        runbook, context, _, posted = await self._load(intent)
        if posted is None:  # the step was never posted (Slack was down): nothing to close
            await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now())
            return
        ref = StepRef(run=payload["run"], seq=payload["seq"], node=payload["node"])
        text, blocks = step_message(runbook, payload["node"], context, ref, payload["step_no"],
                                    closed=payload["text"])
        await self.sender.call("chat.update", channel=posted.channel_id, ts=posted.ts,
                               text=text, blocks=blocks)
        await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now())

    async def _load(self, intent: OutboxIntent):
        payload = intent.payload
        run, alerts, parent, posted = await lookups.runbook_step(
            self.ctx, payload["run"], intent.incident_id, ALERT_MESSAGE, STEP_MESSAGE,
            f"{payload['run']}:{payload['seq']}")
        incident = await lookups.incident(self.ctx, intent.incident_id)
        lead = alerts[0] if alerts else None
        hidden = self.ctx.config.hidden_labels(incident.team) if incident else frozenset()
        context = make_context(visible(lead.labels, hidden) if lead else {},
                               visible(lead.annotations, hidden) if lead else {},
                               await lookups.changes_text(self.ctx, intent.incident_id))
        return runbook_of(self.ctx, run.runbook_id), context, parent, posted
