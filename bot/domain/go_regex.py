"""Go RE2 regexes, as Alertmanager's regex matchers (`=~`, `!~`) use them, in Python `re`.

`_GoRegex` translates a pattern the way Go's regexp.Compile reads it, so that it matches
here exactly what it matches in Alertmanager and is refused where Go refuses it.
`compile_go_regex` anchors it as NewMatcher does. Used by `bot.domain.matchers`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar, NoReturn

__all__ = ["MatcherError", "compile_go_regex"]


class MatcherError(ValueError):
    """A matcher or regex that Alertmanager would refuse; the message names the problem.

    Defined here because the regex translation raises it; `bot.domain.matchers`, which
    imports this module, re-exports it.
    """


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
