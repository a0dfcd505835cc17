"""Runbook steps in the incident's thread: post the current step, close the answered one."""

from __future__ import annotations

from bot.delivery.outcome import Outcome, Undelivered
from bot.domain.privacy import visible
from bot.domain.templating import make_context
from bot.services import outbox
from bot.services.runbooks import runbook_of
from bot.slack.delivery import SlackSender
from bot.slack.runbook_blocks import StepRef, step_message
from bot.store import repo
from bot.store.models import ALERT_MESSAGE, OutboxIntent, RunbookRun, SlackMessage

STEP_MESSAGE = "runbook_step"


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
        response = await self.sender.call("chat.postMessage", channel=parent.channel_id,
                                          thread_ts=parent.ts, text=text, blocks=blocks)
        await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now(), message=SlackMessage(
            incident_id=intent.incident_id, kind=STEP_MESSAGE,
            recipient=f"{payload['run']}:{payload['seq']}", channel_id=response["channel"],
            ts=response["ts"], thread_ts=parent.ts, intent_id=intent.id,
            posted_at=self.ctx.clock.now()))

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
        async with self.ctx.db.reader() as s:
            run = await s.get(RunbookRun, payload["run"])
            alerts = await repo.alerts_of_incident(s, intent.incident_id)
            incident = await repo.incident(s, intent.incident_id)
            parent = await repo.slack_message(s, intent.incident_id, ALERT_MESSAGE)
            posted = await repo.slack_message(s, intent.incident_id, STEP_MESSAGE,
                                              recipient=f"{payload['run']}:{payload['seq']}")
        lead = alerts[0] if alerts else None
        hidden = self.ctx.config.hidden_labels(incident.team) if incident else frozenset()
        context = make_context(visible(lead.labels, hidden) if lead else {},
                               visible(lead.annotations, hidden) if lead else {})
        return runbook_of(self.ctx, run.runbook_id), context, parent, posted
