"""The `home_publish` sender: render one person's App Home from the database, views.publish it."""

from __future__ import annotations

from bot.services import home, outbox
from bot.slack.outbox.sender import SlackSender
from bot.slack.stakeholders.blocks import home_view
from bot.store.models import OutboxIntent


class HomeSender:
    def __init__(self, sender: SlackSender):
        self.sender = sender
        self.ctx = sender.ctx

    async def home_publish(self, intent: OutboxIntent) -> None:
        """Publishing twice is harmless (the latest view wins), so a retry needs no lookup."""
        user = intent.payload["user"]
        facts = await home.facts(self.ctx, user)
        await self.sender.call("views.publish", user_id=user, view=home_view(facts))
        await outbox.complete(self.ctx.db, intent.id, self.ctx.clock.now())
