"""A delivery that failed for good is final and visible: timeline, page row, incident message.

The delivery worker calls `record` once it gives up on an intent: the one door through which
every outbox failure is recorded (senders raise, they do not record). One transaction marks the
intent failed, writes the timeline row naming the real target (a PagerDuty key missing is not
"Slack refused"), marks the page row failed (`outcome`, `error`) when the failure was a page,
and queues a re-render of the incident message, which shows a warning line for it. A page that
fails without an intent failing (a user group Slack does not know, Do Not Disturb with no pager)
goes through `mark_page_failed` too, so each failed page reads the same. `retry` is the way back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import FailureLine
from bot.domain.text import escape_mrkdwn
from bot.services import notify, outbox
from bot.services.context import ServiceContext
from bot.services.digests import DIGEST_POST
from bot.services.paging import FAILED, SENT, SKIPPED
from bot.services.runbook_effects import REMEDIATION_HOOK
from bot.services.runbooks import RUNBOOK_CLOSE, RUNBOOK_POST
from bot.services.statuspage_queue import STATUSPAGE_SYNC
from bot.store import repo
from bot.store.models import OutboxIntent, PageRow

#: Their senders record their own failure (handoff_failed, remediation_failed) and say so.
SELF_REPORTING = frozenset({notify.HANDOFF_WEBHOOK, REMEDIATION_HOOK})
#: No warning line on the incident message: the message itself, a closed modal (best effort by
#: design), an ephemeral answer to one person's click (the channel cannot act on it).
NOT_ON_MESSAGE = frozenset({outbox.SYNC_MESSAGE, notify.VIEW_UPDATE, notify.EPHEMERAL,
                            *SELF_REPORTING})

CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
DM_MESSAGE = "dm"  # SlackMessage.kind of a page DM (written by the Slack sender)
_WHAT = {outbox.SYNC_MESSAGE: "incident message", notify.SYNC_DM: "page DM",
         notify.THREAD_NOTE: "thread note", notify.PAGER_EVENT: "pager event",
         notify.HANDOFF_WEBHOOK: "handoff webhook", notify.EPHEMERAL: "ephemeral message",
         notify.VIEW_UPDATE: "modal update", notify.CHANNEL_POST: "channel post",
         notify.TEST_DM: "test page DM", notify.FILE_UPLOAD: "file upload",
         RUNBOOK_POST: "runbook step", RUNBOOK_CLOSE: "runbook step update",
         DIGEST_POST: "digest", REMEDIATION_HOOK: "remediation hook",
         notify.PAGE_USERGROUP: "user group page", STATUSPAGE_SYNC: "status page update"}


@dataclass(frozen=True)
class Target:
    """Where an intent was going: what the timeline, the CLI and the message name."""

    what: str
    kind: str  # user|channel|pager|webhook|"" (the incident's own thread)
    value: str
    page: bool  # a failure here means someone was not paged

    def describe(self) -> str:
        value = escape_mrkdwn(self.value)  # config names; Slack ids become mentions
        channel = f"<#{self.value}>" if CHANNEL_ID.match(self.value) else value
        who = {"user": f"<@{value}>", "usergroup": f"<!subteam^{value}>", "channel": channel,
               "pager": f"pager {value}", "webhook": f"webhook {value}"}
        where = who.get(self.kind, "")
        if self.page and self.kind == "pager":
            return where
        if self.page:
            return f"page to {where}"
        return f"{self.what} to {where}" if where else self.what


def target_of(intent: OutboxIntent) -> Target:
    """Name the far side of an intent from its kind, payload and lane."""
    payload, kind = intent.payload or {}, intent.kind
    what = _WHAT.get(kind, kind)
    if kind == notify.SYNC_DM:  # a re-render (page=False) is no page; older intents lack the key
        return Target(what, "user", payload.get("user", ""), page=payload.get("page") is not False)
    if kind in (notify.TEST_DM, notify.EPHEMERAL):
        return Target(what, "user", payload.get("user", ""), page=False)
    if kind == notify.PAGE_USERGROUP:
        return Target(what, "usergroup", payload.get("usergroup", ""), page=True)
    if kind == notify.PAGER_EVENT:
        page = payload.get("action") == "trigger" and intent.incident_id is not None
        return Target(f"{payload.get('action', 'pager')} event", "pager",
                      payload.get("pager", ""), page=page)
    if kind == notify.HANDOFF_WEBHOOK:
        return Target(what, "webhook", f"handoff {payload.get('service', '')}", page=False)
    if kind == REMEDIATION_HOOK:
        return Target(what, "webhook", f"hook {payload.get('hook', '')}", page=False)
    if kind == notify.THREAD_NOTE and payload.get("channel"):
        return Target("channel page", "channel", payload["channel"], page=True)
    if kind in (outbox.SYNC_MESSAGE, notify.CHANNEL_POST, DIGEST_POST):
        channel = payload.get("channel") or intent.lane.removeprefix("channel:")
        return Target(what, "channel", channel, page=False)
    return Target(what, "", "", page=False)


async def record(ctx: ServiceContext, intent_id: int, error: str) -> Target:
    """Give up on the intent, and show it everywhere a human looks (one transaction)."""
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        intent = await outbox.mark_failed(s, intent_id, now, error)
        target = target_of(intent)
        if intent.incident_id is not None and intent.kind not in SELF_REPORTING:
            await _show(s, intent, target, error, now)
    ctx.wake_delivery()
    return target


async def _show(s: AsyncSession, intent: OutboxIntent, target: Target, error: str,
                now: datetime) -> None:
    page = await _page_row(s, intent, target) if target.page else None
    data = {"intent_id": intent.id, "intent_kind": intent.kind}
    if page is not None:
        mark_page_failed(s, page, error, now, **data)
    else:
        # e.g. the update of a page DM already delivered: nobody went unpaged
        target = replace(target, page=False)
        repo.timeline(s, incident_id=intent.incident_id, at=now, kind="delivery_failed",
                      actor="bot", text=f"{target.describe()} failed: {escape_mrkdwn(error)}",
                      data={**data, "target_kind": target.kind, "target": target.value,
                            "error": error}, mrkdwn=True)
    if intent.kind != outbox.SYNC_MESSAGE:
        incident = await repo.incident(s, intent.incident_id)
        await outbox.queue_sync(s, incident, now)


def mark_page_failed(s: AsyncSession, page: PageRow, error: str, now: datetime,
                     **data: object) -> None:
    """The page did not reach its target: the row says failed and why, and the timeline has
    one `page_failed` row (the caller re-renders the incident message)."""
    page.outcome, page.error = FAILED, error[:512]
    s.add(page)
    target = Target("page", page.target_kind, page.target, page=True)
    repo.timeline(s, incident_id=page.incident_id, at=now, kind="page_failed", actor="bot",
                  text=f"{target.describe()} failed: {escape_mrkdwn(error)}",
                  data={**data, "target_kind": page.target_kind, "target": page.target,
                        "level": page.level, "error": error}, mrkdwn=True)


async def _page_row(s: AsyncSession, intent: OutboxIntent, target: Target) -> PageRow | None:
    """The page this intent delivered, if its failure means the person was never reached.

    A DM this intent already posted, whose update failed, did reach them: no failed page. A
    re-page (a fresh DM posted because a new level pages the person again) that fails is one.
    """
    if intent.kind == notify.SYNC_DM:
        posted = await repo.slack_message(s, intent.incident_id, DM_MESSAGE,
                                          recipient=target.value)
        if posted is not None and (posted.intent_id == intent.id
                                   or "page" not in (intent.payload or {})):
            return None
    query = (select(PageRow).where(PageRow.incident_id == intent.incident_id,
                                   PageRow.target_kind == target.kind,
                                   PageRow.target == target.value)
             .order_by(col(PageRow.id).desc()))
    return (await s.exec(query)).first()


async def failures_of(s: AsyncSession, incident_id: int) -> list[FailureLine]:
    """Failed deliveries the incident message warns about. Pages show through their page row;
    a failed re-render of a page DM stays on the timeline (the page itself went out, or its
    own failure is already shown)."""
    query = (select(OutboxIntent).where(OutboxIntent.incident_id == incident_id,
                                        OutboxIntent.state == "failed",
                                        col(OutboxIntent.kind).not_in(NOT_ON_MESSAGE))
             .order_by(col(OutboxIntent.id)))
    lines = []
    for intent in (await s.exec(query)).all():
        target = target_of(intent)
        if not target.page and intent.kind != notify.SYNC_DM:
            lines.append(FailureLine(what=target.what, target_kind=target.kind,
                                     target=target.value, error=intent.last_error or ""))
    return lines


async def retry(ctx: ServiceContext, intent_id: int) -> OutboxIntent | None:
    """Queue a failed intent again (`oncall-bot outbox retry ID`), with a fresh budget."""
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        intent = await outbox.requeue(s, intent_id, now)
        if intent is None:
            return None
        target = target_of(intent)
        if intent.incident_id is not None:
            if target.page:  # the page is no longer failed: it is being sent again
                await repo.set_where(s, PageRow, [
                    PageRow.incident_id == intent.incident_id, PageRow.target_kind == target.kind,
                    PageRow.target == target.value, PageRow.outcome != SKIPPED],
                    {"error": None, "outcome": SENT})
            repo.timeline(s, incident_id=intent.incident_id, at=now, kind="delivery_retried",
                          actor="cli", text=f"{target.describe()}: retry requested",
                          data={"intent_id": intent.id}, mrkdwn=True)
            if intent.kind != outbox.SYNC_MESSAGE:
                await outbox.queue_sync(s, await repo.incident(s, intent.incident_id), now)
    ctx.wake_delivery()
    return intent

