"""Read the words of an `/oncall` command: Slack's escaping, quotes, mentions, and arguments.

Slack sends the text with `should_escape: true`: `&`, `<`, `>` typed by the user arrive as
`&amp;`, `&lt;`, `&gt;`; people, channels, user groups and links as Slack's own `<...>`
tokens (`<@U024BE7LH|alice>`, `<#C123|ops>`, `<!subteam^S123|@sre>`, `<https://x.io|x.io>`);
and macOS often turns quotes into smart quotes. Pure: stdlib, pydantic and bot.domain only.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from bot.domain.durations import parse_duration
from bot.domain.matchers import Matcher, is_label_name, parse_matchers

__all__ = [
    "MAX_ID", "Args", "Mention", "MentionKind", "Refusal", "Token", "find_mentions",
    "parse_mention", "read_due_date", "read_duration", "read_incident", "read_labels",
    "read_matchers", "read_number", "read_until_for", "read_user", "shown",
    "strip_bot_mention", "suggest", "tokenize",
]  # fmt: skip

MAX_ID = 2**63 - 1  # a SQL BIGINT


# -- Slack mentions ----------------------------------------------------------------------


class MentionKind(StrEnum):
    USER = "person"
    CHANNEL = "channel"
    USER_GROUP = "user group"


class Mention(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: MentionKind
    id: str
    label: str | None = None  # the name Slack put after `|`, if any


_MENTION_RE = re.compile(
    r"<(?:@(?P<user>[UW][A-Z0-9]+)|#(?P<channel>[CGD][A-Z0-9]+)"
    r"|!subteam\^(?P<user_group>S[A-Z0-9]+))(?:\|(?P<label>[^<>]*))?>"
)


def parse_mention(text: str) -> Mention | None:
    """Read one `<@U..|name>`, `<#C..|name>` or `<!subteam^S..|@handle>` token, or None."""
    found = _MENTION_RE.fullmatch(text.strip())
    return _mention(found) if found else None


def find_mentions(text: str) -> list[Mention]:
    """Every mention token in a message, in order."""
    return [_mention(found) for found in _MENTION_RE.finditer(text)]


def _mention(found: re.Match[str]) -> Mention:
    kind = next(kind for kind in MentionKind if found[kind.name.lower()])
    label = _unescape(found["label"]) if found["label"] is not None else None
    return Mention(kind=kind, id=found[kind.name.lower()], label=label)


def strip_bot_mention(text: str, bot_user_id: str) -> str:
    """The words after the bot's mention (`<@UBOT> ack #42` -> `ack #42`); all text if none."""
    found = re.search(rf"<@{re.escape(bot_user_id)}(?:\|[^<>]*)?>", text)
    return (text[found.end() :] if found else text).strip()


# -- tokens ------------------------------------------------------------------------------

_SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})
# A lone quote or brace (`don't`, `5" screen`) is an ordinary character; a single quote
# opens only at the start of a word or after an operator, so apostrophes stay apostrophes.
_PIECE_RE = re.compile(
    r"""(?P<space>\s+)
    |(?P<slack><[^<>]*>)
    |(?P<dq>"(?:[^"\\]|\\.)*")
    |(?P<sq>(?<![^\s=~,])'[^']*')
    |(?P<brace>\{(?:"(?:[^"\\]|\\.)*"|[^{}"])*\})
    |(?P<plain>[^\s"'{<]+|.)""",
    re.VERBOSE | re.DOTALL,
)
_SLACK_OR_ENTITY_RE = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>|&(amp|lt|gt);")
_ENTITY_RE = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}


@dataclass(frozen=True)
class Token:
    raw: str
    value: str  # quotes removed, entities and links turned back into what was typed
    start: int
    end: int
    quoted: bool  # some of it was in quotes: never a keyword or an incident number
    whole_quote: bool  # exactly one quoted string

    @property
    def typed(self) -> str:
        """The word as the user typed it, quotes and all."""
        return _plain(self.raw)

    def is_word(self, word: str) -> bool:
        return not self.quoted and self.value.lower() == word


def tokenize(text: str) -> list[Token]:
    """Split like a shell, but never fail: unbalanced quotes are read as plain characters."""
    tokens: list[Token] = []
    pieces: list[re.Match[str]] = []
    for found in [*_PIECE_RE.finditer(text), None]:
        if found is not None and found.lastgroup != "space":
            pieces.append(found)
        elif pieces:
            tokens.append(_token(text, pieces))
            pieces = []
    return tokens


def _token(text: str, pieces: list[re.Match[str]]) -> Token:
    kinds = [piece.lastgroup for piece in pieces]
    start, end = pieces[0].start(), pieces[-1].end()
    value = "".join(_piece_value(piece) for piece in pieces)
    quoted = "dq" in kinds or "sq" in kinds
    return Token(text[start:end], value, start, end, quoted, kinds in (["dq"], ["sq"]))


def _piece_value(piece: re.Match[str]) -> str:
    text = piece.group()
    if piece.lastgroup == "dq":
        return _plain(re.sub(r'\\(["\\])', r"\1", text[1:-1]))
    return _plain(text[1:-1] if piece.lastgroup == "sq" else text)


def _plain(text: str) -> str:
    """Undo Slack's escaping: entities to characters, links to the text typed; keep mentions."""
    return _SLACK_OR_ENTITY_RE.sub(_plain_one, text)


def _plain_one(found: re.Match[str]) -> str:
    target, label, entity = found.groups()
    if entity is not None:
        return _ENTITIES[entity]
    if target[:1] in ("@", "#", "!"):
        return found.group()
    return _unescape(target if label is None else label)


def _unescape(text: str) -> str:
    return _ENTITY_RE.sub(lambda found: _ENTITIES[found[1]], text)


class Refusal(Exception):
    def __init__(self, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.message, self.suggestion = message, suggestion


@dataclass
class Args:
    """The words after the subcommand, read left to right."""

    text: str
    tokens: list[Token]
    today: date
    pos: int = 0

    @classmethod
    def read(cls, text: str, today: date) -> Args:
        """Straighten smart quotes, then split into words."""
        normalized = text.translate(_SMART_QUOTES)
        return cls(normalized, tokenize(normalized), today)

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, what: str) -> Token:
        token = self.peek()
        if token is None or token.value == "":
            raise Refusal(f"Missing {what}.")
        self.pos += 1
        return token

    def optional(self) -> Token | None:
        """The next word if there is one (and move past it)."""
        token = self.peek()
        self.pos += token is not None
        return token if token is not None and token.value else None

    def take_word(self, word: str) -> bool:
        token = self.peek()
        found = token is not None and token.is_word(word)
        self.pos += found
        return found

    def find_word(self, word: str) -> int | None:
        return next(
            (at for at in range(self.pos, len(self.tokens)) if self.tokens[at].is_word(word)), None
        )

    def rest(self) -> str | None:
        """Free text: everything left, spacing kept; one quoted string loses its quotes."""
        tokens, self.pos = self.tokens[self.pos :], len(self.tokens)
        if not tokens:
            return None
        if len(tokens) == 1 and tokens[0].whole_quote:
            return tokens[0].value or None
        return _plain(self.text[tokens[0].start : tokens[-1].end])

    def done(self) -> None:
        token = self.peek()
        if token is not None:
            raise Refusal(f"Unexpected {shown(token.typed)}.")


def shown(text: str) -> str:
    """Quote user input in a reply: short, in backticks, safe for mrkdwn."""
    short = text if len(text) <= 40 else text[:39] + "…"
    safe = short.replace("`", "'").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"`{safe}`"


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    close = difflib.get_close_matches(word[:40].lower(), choices, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


# -- arguments ---------------------------------------------------------------------------

_NUMBER_RE = re.compile(r"#?([0-9]{1,19})")
_USER_ID_RE = re.compile(r"[UW][A-Z0-9]{8,}")
_DURATION_PART_RE = re.compile(r"[0-9]+(?:ms|[ywdhms])")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RELATIVE_RE = re.compile(r"\+([0-9]{1,4})([dw])")
_ISO_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SINGLE_QUOTED_MATCHER_RE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*(?:=~|!~|!=|=))'(.*)'", re.DOTALL)


def read_number(token: Token, what: str) -> int:
    found = _NUMBER_RE.fullmatch(token.value)
    if found is None or not 1 <= int(found[1]) <= MAX_ID:
        raise Refusal(f"{shown(token.value)} is not {what} number: write it like 42.")
    return int(found[1])


def read_incident(args: Args, *, bare: bool = False) -> int | None:
    """`#42` when the next word is one; `#abc` is a mistake, anything else is not ours.

    A bare `42` names an incident only with `bare=True`, for commands that take no free text
    (`ack 42`); before free text it is text: in `resolve 13 nodes replaced` 13 is the note's.
    """
    token = args.peek()
    if token is None or token.quoted:
        return None
    if not token.value.startswith("#") and not (bare and _NUMBER_RE.fullmatch(token.value)):
        return None  # "3rd attempt" and "13 nodes" are text
    args.pos += 1
    return read_number(token, "an incident")


def read_user(token: Token) -> str:
    mention = parse_mention(token.value)
    if mention is not None and mention.kind is MentionKind.USER:
        return mention.id
    if mention is not None:
        raise Refusal(f"{shown(token.value)} is a {mention.kind}, not a person.")
    if _USER_ID_RE.fullmatch(token.value):
        return token.value
    raise Refusal(
        f"{shown(token.value)} is not a person: @-mention them (pick the name from Slack's "
        "list) or give their member ID, like U024BE7LH."
    )


def read_until_for(args: Args, what: str) -> list[Token]:
    """The words before `for DURATION`; the cursor moves past `for`."""
    at = args.find_word("for")
    if at is None:
        raise Refusal("Missing `for DURATION`: say how long, e.g. `for 2h`.")
    before, args.pos = args.tokens[args.pos : at], at + 1
    if not before:
        raise Refusal(f"Missing {what} before `for`.")
    return before


def read_duration(args: Args) -> timedelta:
    """The duration after `for`; `2h 30m` is read as `2h30m`."""
    first = args.take("DURATION after `for`, e.g. `for 2h`")
    text = first.value.lower()
    while (part := args.peek()) is not None and _DURATION_PART_RE.fullmatch(part.value.lower()):
        if _try_duration(text + part.value.lower()) is None:
            break
        text, args.pos = text + part.value.lower(), args.pos + 1
    duration = _try_duration(text)
    if duration is None:
        raise Refusal(
            f"{shown(first.value)} is not a duration: write it like 90m, 2h30m, 1d or 1w, "
            "e.g. `for 2h30m`."
        )
    if not duration:
        raise Refusal("The duration must be longer than zero, e.g. `for 2h`.")
    return duration


def _try_duration(text: str) -> timedelta | None:
    try:
        return parse_duration(text)
    except ValueError:
        return None


def read_matchers(token: Token) -> list[Matcher]:
    text = token.typed
    single = _SINGLE_QUOTED_MATCHER_RE.fullmatch(text)
    if single:  # Alertmanager quotes with "..." only
        escaped = single[2].replace("\\", "\\\\").replace('"', '\\"')
        text = f'{single[1]}"{escaped}"'
    try:
        found = parse_matchers(text)
    except ValueError as error:  # MatcherError, or pydantic's ValidationError
        raise Refusal(f"Bad matcher {shown(token.typed)}: {error}") from None
    except RecursionError:  # Python's regex parser, on thousands of nested groups
        raise Refusal(
            f"Bad matcher {shown(token.typed)}: the regex is nested too deeply."
        ) from None
    if not found:
        raise Refusal(f'Bad matcher {shown(token.typed)}: expected e.g. alertname="FTLHigh".')
    return found


def read_due_date(token: Token, today: date) -> date:
    try:
        due = _read_date(token.value.lower(), today)
    except (ValueError, OverflowError):
        due = None
    if due is None:
        raise Refusal(
            f"{shown(token.value)} is not a due date: use YYYY-MM-DD, today, tomorrow, "
            "a weekday or +3d."
        )
    if due < today:
        raise Refusal(f"The due date {due.isoformat()} is in the past.")
    return due


def _read_date(word: str, today: date) -> date | None:
    """`today`, `tomorrow`, the next `friday` (or `fri`), `+3d`, `+2w`, `2025-07-01`."""
    if word in ("today", "tomorrow"):
        return today + timedelta(days=word == "tomorrow")
    weekday = next((at for at, day in enumerate(_WEEKDAYS) if word in (day, day[:3])), None)
    if weekday is not None:
        return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)
    if found := _RELATIVE_RE.fullmatch(word):
        return today + timedelta(days=int(found[1]) * (7 if found[2] == "w" else 1))
    return date.fromisoformat(word) if _ISO_DATE_RE.fullmatch(word) else None


def read_labels(args: Args) -> dict[str, str]:
    """`LABEL=VALUE...` (values may be quoted), as `route test` takes them."""
    labels: dict[str, str] = {}
    for token in args.tokens[args.pos :]:
        name, equals, value = token.value.partition("=")
        if not equals or not is_label_name(name):
            raise Refusal(f'{shown(token.value)} is not LABEL=VALUE, e.g. alertname="FTLHigh".')
        if name in labels:
            raise Refusal(f"Label {shown(name)} is given twice.")
        labels[name] = value
    args.pos = len(args.tokens)
    return labels
