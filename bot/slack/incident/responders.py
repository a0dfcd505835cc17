"""The responder part of an incident message: who was paged, DND, hand-off to humans."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.domain.alerts import FailureLine, IncidentView, PageLine
from bot.slack.text import escape_mrkdwn, slack_date, truncate_mrkdwn, user_mention

CONTEXT_TEXT_MAX = 3000
SECTION_TEXT_MAX = 3000


def responder_blocks(view: IncidentView) -> list[Block]:
    """At most three blocks: the hand-off state, what failed to go out, the pages sent."""
    blocks: list[Block] = []
    for text in (handoff_text(view), failures_text(view)):
        if text:
            blocks.append(SectionBlock(text=_mrkdwn(truncate_mrkdwn(text, SECTION_TEXT_MAX))))
    paged = paged_text(view)
    if paged:
        blocks.append(ContextBlock(elements=[_mrkdwn(truncate_mrkdwn(paged, CONTEXT_TEXT_MAX))]))
    return blocks


def handoff_text(view: IncidentView) -> str:
    if view.humans_mode:
        return (f":busts_in_silhouette: AI workflow routed to humans by "
                f"{user_mention(view.humans_by or '')} at {slack_date(view.humans_at, '{time}')}"
                if view.humans_at else ":busts_in_silhouette: AI workflow routed to humans")
    if view.handoff_error:
        return (f":warning: Route to humans failed: {escape_mrkdwn(view.handoff_error)}. "
                "The AI workflow is still running.")
    return ""


def failures_text(view: IncidentView) -> str:
    """One warning line per target that was not reached: a page that failed for good (a DM Slack
    refused, a pager's error, Do Not Disturb with no pager), a target of a level that reaches
    nobody (skipped), and any other delivery that failed: nobody should believe a page went out
    when it did not."""
    lines = [_missed(p) for p in view.pages if p.error]
    lines += [f":warning: {_failure(f)} failed: {escape_mrkdwn(f.error)}"
              for f in view.delivery_failures]
    return "\n".join(lines)


def paged_text(view: IncidentView) -> str:
    """Who was paged: the pages that went out (those not reached have their own lines)."""
    pages = [p for p in view.pages if not p.error and p.outcome != "skipped"]
    if not pages:
        return ""
    return "Paged: " + " · ".join(_page(p) for p in pages)


def _missed(page: PageLine) -> str:
    error = escape_mrkdwn(page.error or "")
    if page.outcome == "skipped":
        where = f"level {page.level}" if page.level else "by hand"
        return f":warning: {where}: {_who(page.target_kind, page.target)} not paged: {error}"
    return f":warning: {_page_failure(page)} failed: {error}"


def _who(kind: str, target: str) -> str:
    who = {"user": user_mention(target), "usergroup": f"<!subteam^{target}>",
           "channel": f"<#{target}>" if target.startswith("C") else escape_mrkdwn(target),
           "pager": f"pager {escape_mrkdwn(target)}", "webhook": escape_mrkdwn(target)}
    return who.get(kind, escape_mrkdwn(target))


def _page_failure(page: PageLine) -> str:
    who = _who(page.target_kind, page.target)
    return who if page.target_kind == "pager" else f"page to {who}"


def _failure(failure: FailureLine) -> str:
    what = escape_mrkdwn(failure.what)
    return f"{what} to {_who(failure.target_kind, failure.target)}" if failure.target else what


def _page(page: PageLine) -> str:
    text = _who(page.target_kind, page.target)
    text += f" (level {page.level})" if page.level else " (by hand)"
    if page.dnd_until:
        text += f", in Do Not Disturb until {slack_date(page.dnd_until, '{time}')}"
    return text


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)
