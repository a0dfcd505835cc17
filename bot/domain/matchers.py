"""Alertmanager label matchers (`=`, `!=`, `=~`, `!~`), parsed and matched as Alertmanager does.

Ports of `pkg/labels/parse.go` (ParseMatcher, ParseMatchers) and `pkg/labels/matcher.go`
(Matcher, anchored regexes, sort order, rendering) from Alertmanager 0.25. Regexes are
Go's RE2 syntax, compiled once per matcher by RE2 itself (`bot.domain.go_regex`), so a
pattern matches here exactly what it matches there, in linear time, and is refused where
Go refuses it. Routes, silences and `/oncall` arguments all use this one `Matcher` type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, PrivateAttr, model_validator

from bot.domain.go_regex import MatcherError, Regex, compile_regex

__all__ = [
    "MatchOp",
    "Matcher",
    "MatcherError",
    "Regex",
    "compile_regex",
    "go_quote",
    "is_label_name",
    "matchers_from_route",
    "parse_matcher",
    "parse_matchers",
    "sort_matchers",
]


class MatchOp(StrEnum):
    """The four operators, in Alertmanager's MatchType order (used to sort matchers)."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"

    @property
    def rank(self) -> int:
        return _OP_RANK[self]

    @property
    def is_regex(self) -> bool:
        return self in (MatchOp.REGEX, MatchOp.NOT_REGEX)


_OP_RANK = {op: rank for rank, op in enumerate(MatchOp)}
# Prometheus label names; `model.LabelNameRE` (used for match/match_re keys) has no ':'.
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_MATCHER_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def go_quote(text: str) -> str:
    """Go's %q, as Alertmanager quotes names in its errors."""
    return json.dumps(text, ensure_ascii=False)


def is_label_name(name: str) -> bool:
    """Whether Alertmanager accepts `name` as a label name in match, match_re and group_by."""
    return _LABEL_NAME_RE.fullmatch(name) is not None


class Matcher(BaseModel):
    """One label matcher; a missing label matches as the empty string, as in Alertmanager."""

    model_config = ConfigDict(frozen=True)

    name: str
    op: MatchOp
    value: str

    _regex: Regex | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _compile(self) -> Matcher:
        if _MATCHER_NAME_RE.fullmatch(self.name) is None:
            raise MatcherError(f"invalid label name {self.name!r} in matcher")
        if self.op.is_regex:
            self._regex = compile_regex(self.value)
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Test one label set; Alertmanager treats an absent label as the empty string."""
        actual = labels.get(self.name, "")
        if self.op is MatchOp.EQUAL:
            return actual == self.value
        if self.op is MatchOp.NOT_EQUAL:
            return actual != self.value
        found = self._regex.matches(actual)  # type: ignore[union-attr]
        return found if self.op is MatchOp.REGEX else not found

    def predicate(self) -> Callable[[Mapping[str, str]], bool]:
        """`matches` as a plain function, for compiled route trees (no model lookups per call)."""
        name, value, regex = self.name, self.value, self._regex
        if self.op is MatchOp.EQUAL:
            return lambda labels: labels.get(name, "") == value
        if self.op is MatchOp.NOT_EQUAL:
            return lambda labels: labels.get(name, "") != value
        seen, test = regex.seen, regex.matches  # type: ignore[union-attr]
        wanted = self.op is MatchOp.REGEX

        def regex_test(labels: Mapping[str, str]) -> bool:
            value = labels.get(name, "")
            found = seen.get(value)  # the regex's own memo, read here to save a call
            if found is None:
                found = test(value)
            return found is wanted

        return regex_test

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{openmetrics_escape(self.value)}"'

    @property
    def sort_key(self) -> tuple[str, str, int]:
        """Alertmanager's Matchers.Less: by name, then value, then operator."""
        return (self.name, self.value, self.op.rank)


def openmetrics_escape(value: str) -> str:
    """Escape a value as Alertmanager renders it: backslash, newline and double quote."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def sort_matchers(matchers: Iterable[Matcher]) -> list[Matcher]:
    """Order matchers as Alertmanager stores them on a route (sort.Sort(Matchers))."""
    return sorted(matchers, key=lambda matcher: matcher.sort_key)


# -- parsing (pkg/labels/parse.go) ---------------------------------------------------

_GO_SPACE = "[\t\n\f\r ]"  # Go's \s
_MATCHER_RE = re.compile(
    rf"{_GO_SPACE}*([a-zA-Z_:][a-zA-Z0-9_:]*){_GO_SPACE}*(=~|=|!=|!~){_GO_SPACE}*(.*?){_GO_SPACE}*",
    re.DOTALL,
)
# unicode.IsSpace, which strings.TrimSpace uses on the last token of ParseMatchers.
_GO_UNICODE_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" + (
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_SYNTAX_HINT = 'expected NAME OP VALUE with OP one of =, !=, =~, !~, e.g. severity="critical"'


@lru_cache(maxsize=4096)
def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as `severity=~"crit.*"`, quoted or not, as Alertmanager does.

    Cached (matchers are immutable): a silence's stored matchers are parsed and their regexes
    compiled once, not once per alert checked against it.
    """
    found = _MATCHER_RE.fullmatch(text)
    if found is None:
        raise MatcherError(f"bad matcher format {text!r}: {_SYNTAX_HINT}")
    name, op, raw_value = found.groups()
    return new_matcher(name, MatchOp(op), _unquote(raw_value))


def _unquote(raw: str) -> str:
    """Undo OpenMetrics escaping; a lone or unknown backslash stays literal, as in Go."""
    _check_utf8(raw)
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    value, escaped, expect_quote = [], False, quoted
    for index, char in enumerate(body):
        last = index == len(body) - 1
        if escaped:
            value.append(_ESCAPES.get(char, "\\" + char))
            escaped = False
        elif char == "\\" and not last:
            escaped = True
        elif char == '"':
            if not expect_quote or not last:
                raise MatcherError(f"matcher value contains unescaped double quote: {raw}")
            expect_quote = False
        else:
            value.append(char)
    if expect_quote:
        raise MatcherError(f"matcher value contains unescaped double quote: {raw}")
    return "".join(value)


def _check_utf8(raw: str) -> None:
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise MatcherError(f"matcher value not valid UTF-8: {raw!r}") from None


_ESCAPES = {"n": "\n", '"': '"', "\\": "\\"}


def parse_matchers(text: str) -> list[Matcher]:
    """Parse `{a="b", c=~"d"}` or `a=b,c=d` into matchers, in the order written."""
    return [parse_matcher(token) for token in _split_matchers(text)]


def _split_matchers(text: str) -> list[str]:
    """Split on commas outside double quotes, as ParseMatchers does (braces optional)."""
    text = text.removeprefix("{").removesuffix("}")
    tokens, current, inside_quotes, escaped = [], [], False, False
    for char in text:
        if char == "," and not inside_quotes:
            tokens.append("".join(current))
            current = []
            continue
        if char == '"':
            inside_quotes = inside_quotes if escaped else not inside_quotes
            escaped = False
        elif char == "\\":
            escaped = not escaped
        elif char != ",":
            escaped = False
        current.append(char)
    last = "".join(current).strip(_GO_UNICODE_SPACE)
    return [*tokens, last] if last else tokens


def new_matcher(name: str, op: MatchOp, value: str) -> Matcher:
    """Build a matcher, raising MatcherError (not a pydantic error) when it is invalid."""
    if op.is_regex:
        compile_regex(value)
    if _MATCHER_NAME_RE.fullmatch(name) is None:
        raise MatcherError(f"invalid label name {name!r} in matcher")
    return Matcher(name=name, op=op, value=value)


def matchers_from_route(
    matchers: Iterable[str], match: Mapping[str, str], match_re: Mapping[str, str]
) -> list[Matcher]:
    """Collect a route node's matchers (`matchers`, legacy `match` and `match_re`), sorted."""
    collected = [found for line in matchers for found in parse_matchers(line)]
    collected += [_legacy(name, MatchOp.EQUAL, value) for name, value in match.items()]
    collected += [_legacy(name, MatchOp.REGEX, value) for name, value in match_re.items()]
    return sort_matchers(collected)


def _legacy(name: str, op: MatchOp, value: str) -> Matcher:
    """A `match`/`match_re` entry: the key must be a plain label name (no ':').

    Alertmanager compiles a `match_re` value as `^(?:value)$` when it reads the config, and
    builds the matcher from that anchored text: `x=~"^(?:010)$"` is how it shows and sorts.
    """
    if not is_label_name(name):
        raise MatcherError(f"invalid label name {go_quote(name)}")
    if op.is_regex:
        compile_regex(value)  # the error names the pattern as written, as Go's does
        value = f"^(?:{value})$"
    return new_matcher(name, op, value)
