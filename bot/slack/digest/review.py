"""Block Kit builder for the weekly noise review: pure, from the figures to blocks.

The noisiest rules come first, each with the change its figures argue for, then on-call
health against the week before. The pages-per-day chart is uploaded beside the message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block, SectionBlock

from bot.domain.feedback import Verdict, counts_text
from bot.domain.noise import NoiseReview, OnCallHealth, RuleFigures, WeekOverWeek
from bot.domain.stats import Summary
from bot.slack.digest.blocks import context, header, mrkdwn, plural
from bot.slack.text import (
    MAX_BLOCKS,
    SECTION_TEXT_MAX,
    escape_mrkdwn,
    one_line,
    truncate_mrkdwn,
    user_mention,
)

RULES_SHOWN = 10
PEOPLE_SHOWN = 10


def noise_review_message(team: str, review: NoiseReview, *, chart: bool = True,
                         on_demand: bool = False) -> tuple[str, list[Block]]:
    """One team's (or every team's) week: fallback text and blocks, within Slack's limits."""
    week = week_label(review)
    blocks: list[Block] = [header(f":bar_chart: Noise review · {one_line(team)} · {week}"),
                           context(_scope(review, on_demand)), _totals(review)]
    blocks += _rule_blocks(review, budget=MAX_BLOCKS - len(blocks) - 4)
    if review.drift:
        blocks.append(_section(_drift_text(review)))
    blocks.append(_section(_health_text(review.health)))
    blocks.append(context(":chart_with_upwards_trend: Pages per day by team: chart in the thread"
                          if chart and review.pages else "No pages this week: no chart."))
    text = (f"Noise review {one_line(team)} {week}: {review.fired} fired, "
            f"{review.incidents} incidents, {review.pages} pages")
    return text, blocks


def week_label(review: NoiseReview) -> str:
    """Mon 3 Mar – Sun 9 Mar 2025, on the calendar of the review's time zone."""
    tz = ZoneInfo(review.time_zone)
    first = review.week_start.astimezone(tz)
    last = (review.week_end - timedelta(microseconds=1)).astimezone(tz)
    return f"{_day(first)} – {_day(last)} {last:%Y}"


def _day(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b}"


def _scope(review: NoiseReview, on_demand: bool) -> str:
    start, end = review.business_hours
    parts = [f"time zone {review.time_zone}", f"business hours {start}–{end} on weekdays",
             "figures from the bot's database"]
    if on_demand:
        parts.append("on demand")
    return " · ".join(parts)


def _totals(review: NoiseReview) -> SectionBlock:
    pairs = [("Alerts fired", review.fired), ("Incidents", review.incidents),
             ("Pages", review.pages), ("After-hours pages", review.health.after_hours_pages),
             ("Storms", review.storms)]
    return SectionBlock(fields=[mrkdwn(f"*{label}*\n{value}") for label, value in pairs])


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=mrkdwn(truncate_mrkdwn(text, SECTION_TEXT_MAX)))


# -- rules --------------------------------------------------------------------------------


def _rule_blocks(review: NoiseReview, budget: int) -> list[Block]:
    if not review.rules:
        return [_section(":relieved: Quiet week: no alert rule fired.")]
    shown = review.rules[:max(min(RULES_SHOWN, budget - 2), 1)]
    blocks: list[Block] = [_section("*Noisiest rules*")]
    blocks += [_section(_rule_text(n, rule)) for n, rule in enumerate(shown, start=1)]
    if len(review.rules) > len(shown):
        blocks.append(context(f"… and {plural(len(review.rules) - len(shown), 'more rule')}: "
                              "`oncall-bot digest noise --dry-run --json` has them all"))
    return blocks


def _rule_text(n: int, rule: RuleFigures) -> str:
    """The figures of one rule (alertname on a route) and, when they argue for one, a change."""
    name = escape_mrkdwn(one_line(rule.alertname)) or "(no alertname)"
    route = escape_mrkdwn(one_line(rule.route_key))
    ack_rate = f"{rule.acked}/{rule.paged} acked" if rule.paged else "never paged"
    figures = [f"fired {plural(rule.fired, 'time')}", plural(rule.incidents, "incident"),
               f"{plural(rule.pages, 'page')} ({rule.pages_out_of_hours} out of hours)", ack_rate,
               f"time to ack {_summary(rule.time_to_ack_seconds)}",
               f"duration {_summary(rule.duration_seconds)}"]
    if rule.auto_resolved_before_ack:
        figures.append(f"{rule.auto_resolved_before_ack} auto-resolved before an ack")
    if rule.flaps:
        figures.append(plural(rule.flaps, "flap"))
    if rule.routed_to_humans:
        figures.append(f"{rule.routed_to_humans} routed to humans")
    lines = [f"{n}. *{name}* on `{route}`", " · ".join(figures)]
    if rule.feedback:
        lines.append(f"Feedback: {_feedback_text(rule.feedback)}"
                     + (f" · precision {rule.precision:.0%} of {rule.judged}"
                        if rule.precision is not None else ""))
    if rule.suggestion:
        lines.append(f":bulb: {escape_mrkdwn(rule.suggestion)}")
    return "\n".join(lines)


def _feedback_text(counts: dict[str, int]) -> str:
    return counts_text({v: counts[v.value] for v in Verdict if v.value in counts})


def _drift_text(review: NoiseReview) -> str:
    """Rules whose reliability learned from feedback left the prior `sources:` gives them."""
    lines = ["*Reliability drift* (learned from feedback vs the prior in `sources:`)"]
    lines += [f"• *{escape_mrkdwn(one_line(d.alertname))}*: prior {d.prior:.0%} → learned "
              f"{d.learned:.0%} over {plural(d.verdicts, 'verdict')}"
              for d in review.drift[:RULES_SHOWN]]
    return "\n".join(lines)


# -- on-call health -----------------------------------------------------------------------


def _health_text(health: OnCallHealth) -> str:
    lines = ["*On-call health*",
             f"Pages per person: {_counts(health.pages_per_person, mention=True)}",
             f"Pages per rotation: {_counts(health.pages_per_rotation, mention=False)}",
             f"After-hours pages: {health.after_hours_pages}",
             *([f"Pages per tier: {_counts(health.pages_per_tier, mention=False)} "
                f"(after hours: {_counts(health.after_hours_pages_per_tier, mention=False)})"]
               if health.pages_per_tier else []),
             f"Time to ack: {_compare(health.time_to_ack_seconds)}",
             f"Time to resolve: {_compare(health.time_to_resolve_seconds)}",
             f"Action items: {health.open_action_items} open, "
             f"{len(health.overdue_action_items)} overdue"]
    lines += [f"• overdue: {escape_mrkdwn(one_line(item.title)) or f'item {item.id}'} "
              f"({user_mention(item.owner)}, due {item.due:%d %b})"
              for item in health.overdue_action_items[:PEOPLE_SHOWN] if item.due]
    return "\n".join(lines)


def _counts(counts: dict[str, int], *, mention: bool) -> str:
    if not counts:
        return "none"
    shown = list(counts.items())[:PEOPLE_SHOWN]
    text = ", ".join(f"{user_mention(who) if mention else escape_mrkdwn(one_line(who))} {n}"
                     for who, n in shown)
    return text + (f", … {len(counts) - len(shown)} more" if len(counts) > len(shown) else "")


def _compare(figures: WeekOverWeek) -> str:
    return (f"{_summary(figures.this_week)} this week · "
            f"{_summary(figures.previous_week)} the week before")


def _summary(summary: Summary) -> str:
    """median 25 min, p90 30 min (n=3); a dash with n=0 when there was nothing to measure."""
    if not summary.count or summary.median is None or summary.p90 is None:
        return "– (n=0)"
    return (f"median {duration(summary.median)}, p90 {duration(summary.p90)} "
            f"(n={summary.count})")


def duration(seconds: float) -> str:
    """45 s, 25 min, 2.5 h: the way people say it."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
