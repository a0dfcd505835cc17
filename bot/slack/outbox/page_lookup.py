"""What an external page should say that only Slack knows: the incident message's permalink
and the paged person's name and e-mail. Looked up at send time by the pager sender."""

from __future__ import annotations

import logging

from bot.delivery.outcome import Undelivered
from bot.domain.pagers import PagePerson
from bot.services import lookups
from bot.slack.outbox.sender import SlackSender
from bot.store.models import ALERT_MESSAGE

log = logging.getLogger(__name__)


class SlackPageLookup:
    """Best effort: a page goes out without these rather than wait on Slack."""

    def __init__(self, sender: SlackSender):
        self.sender, self.ctx = sender, sender.ctx
        self._permalinks: dict[int, str] = {}
        self._people: dict[str, PagePerson] = {}

    async def permalink(self, incident_id: int) -> str:
        """chat.getPermalink of the incident's channel message; "" until it is posted."""
        if incident_id in self._permalinks:
            return self._permalinks[incident_id]
        posted = await lookups.posted_message(self.ctx, incident_id, ALERT_MESSAGE)
        if posted is None:
            return ""
        try:
            answer = await self.sender.call("chat.getPermalink", channel=posted.channel_id,
                                            message_ts=posted.ts)
        except Undelivered as exc:
            log.warning("chat.getPermalink for #%s: %s", incident_id, exc.outcome.label)
            return ""
        self._permalinks[incident_id] = answer.get("permalink", "")
        return self._permalinks[incident_id]

    async def person(self, user_id: str) -> PagePerson:
        """users.info: the real name and (with users:read.email) the e-mail address."""
        if user_id in self._people:
            return self._people[user_id]
        try:
            user = (await self.sender.call("users.info", user=user_id)).get("user") or {}
        except Undelivered as exc:
            log.warning("users.info %s: %s", user_id, exc.outcome.label)
            return PagePerson(id=user_id)
        profile = user.get("profile") or {}
        self._people[user_id] = PagePerson(
            id=user_id, name=profile.get("real_name") or user.get("real_name") or "",
            email=profile.get("email") or "")
        return self._people[user_id]
