"""Block Kit builders for the hourly cost digest: pure functions from the figures to blocks.

One section per service and model, worst ratio first (the domain's order), each with an
**Open incident** button that carries the line as a typed value. Slack's budgets (50 blocks,
3,000 characters a section) are kept by cutting the list and saying how many were left out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from pydantic import ConfigDict, Field
from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.domain.cost_digest import CostDigest, CostLine
from bot.slack.action_ids import SlackValue, digest_open_incident_id
from bot.slack.text import (
    CONTEXT_TEXT_MAX,
    HEADER_TEXT_MAX,
    MAX_BLOCKS,
    SECTION_TEXT_MAX,
    escape_mrkdwn,
    one_line,
    slack_date,
    truncate_mrkdwn,
    truncate_plain,
)

TIME = "{time}"
NAME_MAX = 128


class DigestLineRef(SlackValue):
    """Which digest line a button opens an incident for."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")
    what: ClassVar[str] = "a digest line"

    team: str = Field(min_length=1, max_length=NAME_MAX)
    service: str = Field(max_length=NAME_MAX)
    model: str = Field(max_length=NAME_MAX)
    since: int = Field(ge=0, description="window start, unix seconds")
    until: int = Field(ge=0, description="window end, unix seconds")

    @property
    def window(self) -> tuple[datetime, datetime]:
        return (datetime.fromtimestamp(self.since, UTC), datetime.fromtimestamp(self.until, UTC))


def mrkdwn(text: str) -> MarkdownTextObject:
    """Verbatim mrkdwn: Slack adds no links or mentions of its own."""
    return MarkdownTextObject(text=text, verbatim=True)


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[mrkdwn(truncate_mrkdwn(text, CONTEXT_TEXT_MAX))])


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=truncate_plain(one_line(text), HEADER_TEXT_MAX),
                                            emoji=True))


def amount(number: float | None) -> str:
    """Spend as people read it: 412.50, 12,400, 0.0042; a dash when it was not reported."""
    if number is None:
        return "–"
    if number >= 1000:
        return f"{number:,.0f}"
    if number >= 1:
        return f"{number:,.2f}"
    return f"{number:.2g}"


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else many or word + 's'}"


def name(text: str, fallback: str) -> str:
    return escape_mrkdwn(truncate_plain(one_line(text), NAME_MAX)) or fallback


# -- the cost digest ----------------------------------------------------------------------


def cost_digest_message(team: str, digest: CostDigest, *,
                        on_demand: bool = False) -> tuple[str, list[Block]]:
    """The digest of one window for one team: fallback text and blocks, within Slack's limits."""
    span = f"{digest.window_start:%H:%M}–{digest.window_end:%H:%M} UTC"
    title = f"Cost spikes · {one_line(team)} · {span}"
    blocks: list[Block] = [header(f":money_with_wings: {title}"),
                           context(_cost_summary(digest, on_demand))]
    room = MAX_BLOCKS - len(blocks) - 1
    lines = digest.lines[:room]
    blocks += [_cost_line(team, digest, line, n) for n, line in enumerate(lines)]
    if len(digest.lines) > len(lines):
        blocks.append(context(f"… and {len(digest.lines) - len(lines)} more: "
                              "`oncall-bot digest cost --json` lists them all"))
    worst = digest.lines[0]
    worst_ratio = ("at baseline 0" if worst.baseline_zero else
                   f"at {worst.ratio:.1f}x" if worst.ratio is not None else "with no ratio")
    text = (f"{title}: {plural(len(digest.lines), 'line')}, worst "
            f"{name(worst.service, 'unknown')} {worst_ratio}")
    return text, blocks


def _cost_summary(digest: CostDigest, on_demand: bool) -> str:
    parts = [plural(len(digest.lines), "service/model line"),
             f"fired {plural(digest.times_fired, 'time')}", "worst ratio first"]
    if digest.lines_missing_ratio:
        parts.append(f":warning: {digest.lines_missing_ratio} without a ratio")
    if on_demand:
        parts.append("on demand: the last hour up to now")
    return " · ".join(parts)


def _cost_line(team: str, digest: CostDigest, line: CostLine, index: int) -> SectionBlock:
    """One service and model: ratio, spend against baseline, how often, when, still firing."""
    firing = ":fire: still firing" if line.still_firing else ":white_check_mark: resolved"
    head = (f"*{name(line.service, '(no service)')}* · {name(line.model, '(no model)')}"
            f" — {_ratio(line)} · {firing}")
    seen = (f"first {slack_date(line.first_seen, TIME)}, last {slack_date(line.last_seen, TIME)}"
            if line.first_seen != line.last_seen else f"at {slack_date(line.first_seen, TIME)}")
    facts = (f"spend rate {amount(line.spend_rate)} vs baseline {amount(line.baseline)}"
             f" · fired {line.times_fired}× · {seen}")
    rules = ", ".join(escape_mrkdwn(one_line(a)) for a in line.alertnames)
    text = "\n".join([head, facts] + ([rules] if rules else []))
    return SectionBlock(block_id=f"digest-line-{index}",
                        text=mrkdwn(truncate_mrkdwn(text, SECTION_TEXT_MAX)),
                        accessory=_open_button(team, digest, line, index))


def _ratio(line: CostLine) -> str:
    if line.baseline_zero:
        return "*baseline 0* (spend on a zero baseline: the ratio is infinite)"
    if line.ratio is None:
        return (":warning: *no ratio* (add `value` and `baseline`, or `ratio`, "
                "to the alert)")
    return f"*{line.ratio:.1f}×* baseline"


def _open_button(team: str, digest: CostDigest, line: CostLine, index: int) -> ButtonElement:
    ref = DigestLineRef(team=team[:NAME_MAX], service=line.service[:NAME_MAX],
                        model=line.model[:NAME_MAX], since=int(digest.window_start.timestamp()),
                        until=int(digest.window_end.timestamp()))
    return ButtonElement(text=PlainTextObject(text="Open incident"),
                         action_id=digest_open_incident_id(index), value=ref.encode())
