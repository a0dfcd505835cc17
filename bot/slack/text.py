"""Slack text for every surface: escaping, truncation within Block Kit limits, links, dates.

Everything that comes from an alert or a person is escaped before it reaches mrkdwn, and every
budget Slack enforces but slack_sdk does not check (50 blocks, 2,000 per field, 3,000 per
context text) is enforced by truncating, never by raising.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from bot.domain.text import escape_mrkdwn, user_mention  # one escaping path, with services

__all__ = ["escape_mrkdwn", "user_mention"]

MAX_BLOCKS = 50
HEADER_TEXT_MAX = HeaderBlock.text_max_length  # 150
SECTION_TEXT_MAX = SectionBlock.text_max_length  # 3,000
SECTION_FIELDS_MAX = SectionBlock.fields_max_length  # 10
FIELD_TEXT_MAX = 2000
CONTEXT_ELEMENTS_MAX = ContextBlock.elements_max_length  # 10
CONTEXT_TEXT_MAX = 3000
LINKS_MAX = CONTEXT_ELEMENTS_MAX
LINK_LABEL_MAX = 75
ELLIPSIS = "…"
DATE_FORMAT = "{date_short_pretty} {time}"

# An escape sequence or a <...> control sequence: a cut must never land inside one.
_ATOM = re.compile(r"<[^<>]*>|&(?:amp|lt|gt);")
_URL_UNSAFE = re.compile(r"[<>|\s\x00-\x1f\x7f]")


# ---------------------------------------------------------------- text helpers


def truncate_mrkdwn(text: str, limit: int) -> str:
    """Cut escaped mrkdwn to `limit` chars with an ellipsis, never inside `&amp;` or `<...>`."""
    if len(text) <= limit:
        return text
    cut = limit - len(ELLIPSIS)
    for atom in _ATOM.finditer(text):
        if atom.start() >= cut:
            break
        if atom.end() > cut:
            cut = atom.start()
            break
    return text[:cut].rstrip() + ELLIPSIS


def truncate_plain(text: str, limit: int) -> str:
    """Cut plain text to `limit` chars with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def one_line(text: str) -> str:
    """Collapse newlines and runs of whitespace so a value fits on one line."""
    return " ".join(text.split())


def safe_url(url: str) -> str | None:
    """Return the URL ready for a `<url|label>` link, or None unless it is http(s)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return _URL_UNSAFE.sub(lambda m: quote(m.group(), safe=""), url).replace("&", "&amp;")


def escape_link_label(label: str) -> str:
    """Escape a link label so it cannot close the link or start a new control sequence."""
    return escape_mrkdwn(one_line(label)).replace("|", "¦")


def mrkdwn_link(url: str, label: str) -> str | None:
    """Render `<url|label>`, or None when the URL is not a safe http(s) URL."""
    href = safe_url(url)
    if href is None:
        return None
    text = escape_link_label(truncate_plain(one_line(label), LINK_LABEL_MAX)) or "link"
    return f"<{href}|{text}>"


def slack_date(dt: datetime, fmt: str = DATE_FORMAT) -> str:
    """Render a date each reader sees in their own time zone, with a UTC fallback."""
    utc = as_utc(dt)
    fallback = utc.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(utc.timestamp())}^{fmt}|{fallback}>"


def as_utc(dt: datetime) -> datetime:
    """Treat naive datetimes as UTC, as the store writes them."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def mrkdwn_text(text: str) -> MarkdownTextObject:
    """Build a verbatim mrkdwn object: Slack adds no links or mentions of its own."""
    return MarkdownTextObject(text=text, verbatim=True)
