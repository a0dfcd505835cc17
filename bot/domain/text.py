"""The one escaping path for text that came from an alert or a person on its way to Slack.

Slack mrkdwn has three control characters: `&`, `<` and `>`. Escaped, nothing a person typed
or an alert carried can mention (`<!channel>`, `<@U…>`, `<!subteam^S…>`) or hide a link
(`<https://x|y>`, `<javascript:…>`), whether typed literally or sent by Slack as an entity.
The bot's own mentions are written around the escaped text, from ids it holds as data.
Pure, so services compose Slack text with it as well as the Slack adapter.
"""

from __future__ import annotations

import re

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape_mrkdwn(text: str) -> str:
    """Escape Slack's three control characters so the text can never mention or link."""
    return text.translate(_ESCAPES)


def unescape_mrkdwn(text: str) -> str:
    """Back to what was typed (for documents that are not Slack mrkdwn, e.g. a postmortem)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


def user_mention(user_id: str) -> str:
    """The bot's own mention of a Slack user id; anything that is not one is escaped text."""
    if _USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return escape_mrkdwn(" ".join(user_id.split()))
