"""Alertmanager label matchers (`=`, `!=`, `=~`, `!~`), parsed and matched as Alertmanager does.

Ports of `pkg/labels/parse.go` (ParseMatcher, ParseMatchers) and `pkg/labels/matcher.go`
(Matcher, anchored regexes, sort order, rendering) from Alertmanager 0.25. Regexes are
written in Go's RE2 syntax; `_GoRegex` translates them to Python `re` so that a pattern
matches here exactly what it matches there, and is refused where Go refuses it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import ClassVar, NoReturn

from pydantic import BaseModel, ConfigDict, PrivateAttr, model_validator

__all__ = [
    "MatchOp",
    "Matcher",
    "MatcherError",
    "compile_go_regex",
    "is_label_name",
    "matchers_from_route",
    "parse_matcher",
    "parse_matchers",
    "sort_matchers",
]


class MatcherError(ValueError):
    """A matcher or regex that Alertmanager would refuse; the message names the problem."""


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


def is_label_name(name: str) -> bool:
    """Whether Alertmanager accepts `name` as a label name in match, match_re and group_by."""
    return _LABEL_NAME_RE.fullmatch(name) is not None


class Matcher(BaseModel):
    """One label matcher; a missing label matches as the empty string, as in Alertmanager."""

    model_config = ConfigDict(frozen=True)

    name: str
    op: MatchOp
    value: str

    _regex: re.Pattern[str] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _compile(self) -> Matcher:
        if _MATCHER_NAME_RE.fullmatch(self.name) is None:
            raise MatcherError(f"invalid label name {self.name!r} in matcher")
        if self.op.is_regex:
            self._regex = compile_go_regex(self.value)
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Test one label set; Alertmanager treats an absent label as the empty string."""
        actual = labels.get(self.name, "")
        if self.op is MatchOp.EQUAL:
            return actual == self.value
        if self.op is MatchOp.NOT_EQUAL:
            return actual != self.value
        found = self._regex.search(actual) is not None  # type: ignore[union-attr]
        return found if self.op is MatchOp.REGEX else not found

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


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as `severity=~"crit.*"`, quoted or not, as Alertmanager does."""
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
        compile_go_regex(value)
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
    """A `match`/`match_re` entry: the key must be a plain label name (no ':')."""
    if not is_label_name(name):
        raise MatcherError(f"invalid label name {name!r}")
    return new_matcher(name, op, value)


# -- Go RE2 regexes ----------------------------------------------------------------------


@lru_cache(maxsize=4096)
def compile_go_regex(pattern: str) -> re.Pattern[str]:
    """Compile an Alertmanager regex: Go syntax, wrapped as `^(?:pattern)$` like NewMatcher."""
    translated = _GoRegex("^(?:" + pattern + ")$").translate()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # Go reads `[[` and `&&` literally
            return re.compile(translated)
    except re.error as exc:
        raise MatcherError(f"invalid regex {pattern!r}: {exc.msg}") from None


_MAX_CODE_POINT = 0x10FFFF
_MAX_REPEAT = 1000
_PERL_CLASSES = {
    "d": ((0x30, 0x39),),
    "s": ((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)),
    "w": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
}
_POSIX_CLASSES = {
    "alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "ascii": ((0x00, 0x7F),),
    "blank": ((0x09, 0x09), (0x20, 0x20)),
    "cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "digit": ((0x30, 0x39),),
    "graph": ((0x21, 0x7E),),
    "lower": ((0x61, 0x7A),),
    "print": ((0x20, 0x7E),),
    "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "space": ((0x09, 0x0D), (0x20, 0x20)),
    "upper": ((0x41, 0x5A),),
    "word": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
    "xdigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
}
# Grouped, because Go lets an assertion be repeated (`^*`) and Python does not.
_WORD = "[0-9A-Za-z_]"
_ASSERTIONS = {
    "^": "(?:^)",
    "A": r"(?:\A)",
    "z": r"(?:\Z)",
    # Go's ASCII word boundaries; Python's \B never matches an empty string.
    "b": f"(?-i:(?<!{_WORD})(?={_WORD})|(?<={_WORD})(?!{_WORD}))",
    "B": f"(?-i:(?<!{_WORD})(?!{_WORD})|(?<={_WORD})(?={_WORD}))",
}
_CONTROL_ESCAPES = {"a": 0x07, "f": 0x0C, "t": 0x09, "n": 0x0A, "r": 0x0D, "v": 0x0B}
_REPEAT_RE = re.compile(r"\{([0-9]+)(,([0-9]*))?\}")
_FLAGS_RE = re.compile(r"\(\?([imsU]*)(?:-([imsU]*))?([:)])")
_NAMED_GROUP_RE = re.compile(r"\(\?P<([A-Za-z0-9_]+)>")
_OCTAL_RE = re.compile("[0-7]{0,2}")
_HEX_RE = re.compile(r"\{([0-9A-Fa-f]+)\}|([0-9A-Fa-f]{2})")
_UNICODE_CLASSES_UNSUPPORTED = "Unicode classes (\\p) are not supported by the bot"

Ranges = tuple[tuple[int, int], ...]
ClassPart = tuple[bool, Ranges]  # (negated, ranges): `\\D` is (True, 0-9)


def _class_text(parts: Iterable[ClassPart], negated: bool = False) -> str:
    """Python syntax for a Go class; negated parts stay `[^...]` so that case folding
    happens before negation, as in Go (`(?i)\\W` must not match `k`)."""
    parts = list(parts)
    positive = tuple(span for is_negated, spans in parts if not is_negated for span in spans)
    negatives = [spans for is_negated, spans in parts if is_negated]
    if not negatives:
        return _bracket(positive, negated)
    alternatives = [_bracket(positive)] if positive else []
    union = "(?:" + "|".join(alternatives + [_bracket(spans, True) for spans in negatives]) + ")"
    return f"(?:(?!{union})(?s:.))" if negated else union


def _bracket(ranges: Ranges, negated: bool = False) -> str:
    """A Python character class holding exactly `ranges` (or everything else)."""
    body = "".join(
        _literal_cp(low) if low == high else f"{_literal_cp(low)}-{_literal_cp(high)}"
        for low, high in ranges
    )
    if not body:  # an empty class matches nothing; its negation matches anything
        return "[\\x00-\\U0010ffff]" if negated else "[^\\x00-\\U0010ffff]"
    return f"[{'^' if negated else ''}{body}]"


def _literal_cp(code_point: int) -> str:
    return f"\\U{code_point:08x}"


@dataclass
class _Group:
    """One open group: its flags, and the `(?flags:` wrappers opened by a bare `(?flags)`."""

    flags: frozenset[str]
    start: int = 0
    wrappers: list[str] = field(default_factory=list)


class _GoRegex:
    """Translate Go RE2 syntax (as regexp.Compile reads it) into Python `re` syntax."""

    def __init__(self, pattern: str) -> None:
        self.source = pattern
        self.pos = 0
        self.out: list[str] = []
        self.groups = [_Group(frozenset())]
        self.after_repeat = False  # Go's lastRepeat: refuses `a**`
        self.last_was_repeat = False  # ...but `a*(?i)*` is allowed and needs a group here
        self.atom_start: int | None = None
        self.pending_openers: list[str] = []

    def translate(self) -> str:
        while self.pos < len(self.source):
            self._step(self.source[self.pos])
        if len(self.groups) > 1:
            self._fail("missing closing )")
        self._emit(")" * len(self.groups[0].wrappers))
        return "".join(self.out)

    def _fail(self, message: str) -> NoReturn:
        raise MatcherError(f"invalid regex {self.source[4:-2]!r}: {message}")

    def _step(self, char: str) -> None:
        if char in "*+?" or (char == "{" and _REPEAT_RE.match(self.source, self.pos)):
            self._repeat(char)
        elif char in self._HANDLERS:
            self._HANDLERS[char](self)
        else:
            self._emit_atom(re.escape(char))
            self.pos += 1

    def _emit(self, text: str) -> None:
        """Emit syntax that is not an atom: group openers and closers, `|`."""
        self._flush_openers()
        self.out.append(text)
        self.after_repeat = self.last_was_repeat = False
        self.atom_start = None

    def _emit_atom(self, text: str) -> None:
        """Emit something a following repetition applies to."""
        self._flush_openers()
        self.atom_start = len(self.out)
        self.out.append(text)
        self.after_repeat = self.last_was_repeat = False

    def _emit_repeat(self, text: str) -> None:
        if self.last_was_repeat and self.atom_start is not None:
            self.out.insert(self.atom_start, "(?:")
            self.out.append(")")
        self.out.append(text)
        self.after_repeat = self.last_was_repeat = True

    def _flush_openers(self) -> None:
        """Open the groups of a bare `(?i)` only now: a repetition right after it still
        applies to the atom before it, as in Go."""
        self.out.extend(self.pending_openers)
        self.pending_openers.clear()

    # operators -------------------------------------------------------------------------

    def _repeat(self, char: str) -> None:
        """Emit `*`, `+`, `?` or `{n,m}` (and a lazy `?`); Go refuses stacked repetitions."""
        length = 1
        if char == "{":
            found = _REPEAT_RE.match(self.source, self.pos)
            assert found is not None  # _step only calls this for a well-formed `{n,m}`
            self._check_repeat_counts(found)
            length = len(found.group(0))
        if self.after_repeat:
            self._fail("invalid nested repetition operator: a repetition right after another")
        lazy = self.source.startswith("?", self.pos + length)
        self._emit_repeat(self.source[self.pos : self.pos + length] + ("?" if lazy else ""))
        self.pos += length + lazy

    def _check_repeat_counts(self, found: re.Match[str]) -> None:
        low, has_comma, high = found.group(1), found.group(2), found.group(3)
        counts = [int(low)] + ([int(high)] if has_comma and high else [])
        if max(counts) > _MAX_REPEAT or (len(counts) == 2 and counts[1] < counts[0]):
            self._fail(f"invalid repeat count {found.group(0)!r}")

    def _dollar(self) -> None:
        # Go's `$` is the end of text unless (?m); Python's `$` also matches before a final \n.
        self._emit_atom("(?:$)" if "m" in self.groups[-1].flags else r"(?:\Z)")
        self.pos += 1

    def _alternate(self) -> None:
        wrappers = self.groups[-1].wrappers
        self._emit(")" * len(wrappers) + "|" + "".join(wrappers))
        self.pos += 1

    def _close(self) -> None:
        if len(self.groups) == 1:
            self._fail("unexpected )")
        group = self.groups.pop()
        self._emit(")" * len(group.wrappers) + ")")
        self.atom_start = group.start
        self.pos += 1

    def _open(self) -> None:
        if not self.source.startswith("(?", self.pos):
            self._push(self.groups[-1].flags, "(")
            self.pos += 1
        elif self.source.startswith("(?P<", self.pos):
            self._named_group()
        else:
            self._flag_group()

    def _push(self, flags: frozenset[str], text: str) -> None:
        self._flush_openers()
        self.groups.append(_Group(flags, start=len(self.out)))
        self._emit(text)

    def _named_group(self) -> None:
        found = _NAMED_GROUP_RE.match(self.source, self.pos)
        if found is None:
            self._fail(f"invalid named capture {self.source[self.pos :][:12]!r}")
        self._push(self.groups[-1].flags, "(")
        self.pos = found.end()

    def _flag_group(self) -> None:
        """`(?i)`, `(?i:...)`, `(?-s)`...; Go applies a bare `(?i)` to the rest of its group."""
        found = _FLAGS_RE.match(self.source, self.pos)
        if found is None or (found.group(2) is not None and not found.group(2)):
            self._fail(f"invalid or unsupported Perl syntax {self.source[self.pos :][:3]!r}")
        on, off = set(found.group(1)), set(found.group(2) or "")
        if "U" in on | off:
            self._fail("the U (ungreedy) flag is not supported by the bot")
        flags = (self.groups[-1].flags | on) - off
        opener = _python_flags(on - off, off)
        self.pos = found.end()
        if found.group(3) == ":":
            self._push(flags, opener)
        else:
            self._set_flags(flags, opener)

    def _set_flags(self, flags: frozenset[str], opener: str) -> None:
        """A bare `(?i)`: open a scoped group now, closed where Go's flags would end."""
        self.after_repeat = False
        if opener != "(?:":
            self.groups[-1].flags = flags
            self.groups[-1].wrappers.append(opener)
            self.pending_openers.append(opener)

    # escapes and classes ------------------------------------------------------------

    def _escape(self) -> None:
        """Translate a backslash sequence outside a character class."""
        letter = self.source[self.pos + 1 : self.pos + 2]
        if letter == "Q":
            self._quoted_literal()
        elif letter in ("A", "b", "B", "z"):
            self._emit_atom(_ASSERTIONS[letter])
            self.pos += 2
        elif letter.lower() in _PERL_CLASSES:
            self._emit_atom(_class_text([self._perl_class(letter)]))
            self.pos += 2
        else:
            self._emit_atom(re.escape(chr(self._escaped_code_point())))

    def _quoted_literal(self) -> None:
        end = self.source.find(r"\E", self.pos + 2)
        end = len(self.source) if end < 0 else end
        for char in self.source[self.pos + 2 : end]:  # one atom each, as Go reads them
            self._emit_atom(re.escape(char))
        self.pos = end + 2

    def _perl_class(self, letter: str) -> ClassPart:
        return letter.isupper(), _PERL_CLASSES[letter.lower()]

    def _escaped_code_point(self) -> int:
        """Read one escaped character (Go's parseEscape) and return its code point."""
        letter = self.source[self.pos + 1 : self.pos + 2]
        self.pos += 2
        if not letter:
            self._fail("trailing backslash at end of expression")
        if letter.isascii() and not letter.isalnum():
            return ord(letter)
        if letter in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[letter]
        if letter in "01234567":
            return self._octal(letter)
        if letter == "x":
            return self._hex()
        self._fail(f"invalid escape sequence \\{letter}")

    def _octal(self, first: str) -> int:
        """Read octal `\\0`, `\\012`, `\\12`; a lone `\\1` is a backreference, which Go refuses."""
        found = _OCTAL_RE.match(self.source, self.pos)
        digits = found.group(0) if found else ""
        if first != "0" and not digits:
            self._fail(f"invalid escape sequence \\{first} (backreferences are not supported)")
        self.pos += len(digits)
        return int(first + digits, 8)

    def _hex(self) -> int:
        found = _HEX_RE.match(self.source, self.pos)
        if found is None or int(found.group(1) or found.group(2), 16) > _MAX_CODE_POINT:
            self._fail("invalid escape sequence \\x")
        self.pos = found.end()
        return int(found.group(1) or found.group(2), 16)

    def _char_class(self) -> None:
        """Translate `[...]` into explicit code point ranges (Go's parseClass)."""
        self.pos += 1
        negated = self.source.startswith("^", self.pos)
        self.pos += negated
        parts: list[ClassPart] = []
        while not parts or not self.source.startswith("]", self.pos):  # `[]a]` holds `]`
            if self.pos >= len(self.source):
                self._fail("missing closing ]")
            parts.append(self._class_item())
        self.pos += 1
        self._emit_atom(_class_text(parts, negated))

    def _class_item(self) -> ClassPart:
        """One member of a class: a POSIX or Perl class, a character, or a range."""
        rest = self.source[self.pos :]
        if rest.startswith("[:"):
            posix = self._posix_class(rest)
            if posix is not None:
                return posix
        if rest[:2] in {"\\" + letter for letter in "dDsSwW"}:
            self.pos += 2
            return self._perl_class(rest[1])
        low = self._class_char()
        if self._at_range_dash():
            self.pos += 1
            high = self._class_char()
            if high < low:
                self._fail(f"invalid character class range {chr(low)}-{chr(high)}")
            return False, ((low, high),)
        return False, ((low, low),)

    def _at_range_dash(self) -> bool:
        """`a-z` is a range; `a-]` is `a` and `-` (Go's rule)."""
        following = self.source[self.pos + 1 : self.pos + 2]
        return self.source.startswith("-", self.pos) and following not in ("]", "")

    def _posix_class(self, rest: str) -> ClassPart | None:
        end = rest.find(":]", 2)
        if end < 0:
            return None
        name = rest[2:end]
        ranges = _POSIX_CLASSES.get(name.removeprefix("^"))
        if ranges is None:
            self._fail(f"invalid character class range [:{name}:]")
        self.pos += end + 2
        return name.startswith("^"), ranges

    def _class_char(self) -> int:
        char = self.source[self.pos : self.pos + 1]
        if char == "\\":
            if self.source[self.pos + 1 : self.pos + 2] in ("p", "P"):
                self._fail(_UNICODE_CLASSES_UNSUPPORTED)
            return self._escaped_code_point()
        if not char:
            self._fail("missing closing ]")
        self.pos += 1
        return ord(char)

    def _backslash(self) -> None:
        letter = self.source[self.pos + 1 : self.pos + 2]
        if letter in ("p", "P"):
            self._fail(_UNICODE_CLASSES_UNSUPPORTED)
        if letter == "C":
            self._fail("invalid escape sequence \\C")
        self._escape()

    def _literal(self) -> None:
        self._emit_atom(_ASSERTIONS.get(self.source[self.pos], self.source[self.pos]))
        self.pos += 1

    _HANDLERS: ClassVar[dict[str, Callable[[_GoRegex], None]]] = {
        "\\": _backslash,
        "[": _char_class,
        "(": _open,
        ")": _close,
        "|": _alternate,
        "$": _dollar,
        "^": _literal,
        ".": _literal,
    }


def _python_flags(on: set[str], off: set[str]) -> str:
    """The Python group opener for Go flags: `(?i:`, `(?-s:`, `(?im-s:` or `(?:`."""
    on_text, off_text = "".join(sorted(on)), "".join(sorted(off))
    return f"(?{on_text}{'-' + off_text if off_text else ''}:"
