"""Go regexes (Alertmanager's `=~`, `!~`, `match_re`) run by RE2 itself, in linear time.

Alertmanager compiles every regex with Go's `regexp`, which is RE2's syntax and semantics.
`google-re2` (module `re2`) is the same engine, so a pattern matches here what it matches
there, in time linear in the label value (no backtracking: `(a+)+` cannot stall the event
loop). RE2 in C++ accepts a little more than Go 1.19 (the Go inside Alertmanager 0.25):
`\\C`, `(?<name>...)`, non-ASCII group names, scripts newer than Unicode 13 and groups
nested 1000 deep; those are refused here with Go's message. One deliberate difference: a
regex RE2 cannot compile within 8 MiB (`\\pL{1000}`) is refused ("expression too large"),
which Go would take after seconds of compiling. RE2's error texts are rewritten into Go's,
so `check` says what `amtool check-config` says: ``error parsing regexp: missing closing ):
`...` ``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import re2

__all__ = ["MatcherError", "Regex", "compile_regex"]


class MatcherError(ValueError):
    """A matcher or regex that Alertmanager would refuse; the message says what Go says.

    Defined here because compiling a regex raises it; `bot.domain.matchers` re-exports it.
    """


_SEEN_MAX = 4096  # label values repeat: remember this many answers per regex


@dataclass(frozen=True, slots=True, eq=False)
class Regex:
    """One compiled pattern: `pattern` as written, matched anchored (`^(?:pattern)$`) or not."""

    pattern: str
    anchored: bool
    compiled: Any  # re2's compiled object (the binding has no public type)
    seen: dict[str, bool] = field(default_factory=dict, repr=False)

    def matches(self, value: str) -> bool:
        """Go's MatchString: anchored, the whole value must match; otherwise anywhere in it."""
        found = self.seen.get(value)
        if found is None:
            found = self.compiled.search(_utf8(value)) is not None  # bytes: no offset decoding
            if len(self.seen) >= _SEEN_MAX:
                self.seen.clear()
            self.seen[value] = found
        return found

    def sub(self, replacement: str | Callable[[Any], str], text: str) -> str:
        """Replace every match (for redaction): `replacement` is literal text, or a function
        given each match (its `.group(0)` is the matched text) that returns the text to put
        there (credit-card redaction keeps a number that fails the Luhn check)."""
        replace = replacement if callable(replacement) else lambda _match: replacement
        return self.compiled.sub(replace, _replace_surrogates(text))


def _replace_surrogates(text: str) -> str:
    """Each lone surrogate becomes one U+FFFD, as Go's JSON decoder reads `"\\ud800"`."""
    return _SURROGATE.sub("\ufffd", text)


_SURROGATE = re.compile("[\ud800-\udfff]")  # a fixed pattern: Python's re is fine here


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: Go's JSON decoder makes it U+FFFD
        return _replace_surrogates(text).encode("utf-8")


@lru_cache(maxsize=4096)
def compile_regex(pattern: str, *, anchored: bool = True) -> Regex:
    """Compile a Go regex once; anchored as Alertmanager's NewMatcher does unless told not to.

    Raises MatcherError with Go's message when Go's regexp.Compile would refuse it.
    """
    source = f"^(?:{pattern})$" if anchored else pattern
    _refuse_go_only(source)
    try:
        compiled = re2.compile(source, _OPTIONS)
    except re2.error as exc:
        raise MatcherError(_go_message(exc)) from None
    return Regex(pattern=pattern, anchored=anchored, compiled=compiled)


def _options() -> Any:
    options = re2.Options()
    options.never_capture = True  # we only ask "does it match": no submatch bookkeeping
    options.log_errors = False
    return options


_OPTIONS = _options()

# RE2 (C++) wording -> Go's regexp/syntax ErrorCode text.
_GO_CODES = {
    "missing ]": "missing closing ]",
    "missing )": "missing closing )",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid repetition size": "invalid repeat count",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid named capture group": "invalid named capture",
    "trailing \\": "trailing backslash at end of expression",
    "pattern too large - compile failed": "expression too large",
    "pattern too large - reverse compile failed": "expression too large",
}


def _go_message(exc: re2.error) -> str:
    """`error parsing regexp: CODE: `ARG``, as Go's *syntax.Error renders it."""
    raw = exc.args[0] if exc.args else b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    code, _, arg = text.partition(": ")
    return _go_error(_GO_CODES.get(code, code), arg)


def _go_error(code: str, arg: str) -> str:
    return f"error parsing regexp: {code}: `{arg}`"


# Scripts Unicode added after 13.0 (Go 1.19's tables): RE2 knows them, Go refuses them.
_NEWER_SCRIPTS = frozenset({
    "Cypro_Minoan", "Old_Uyghur", "Tangsa", "Toto", "Vithkuqi", "Kawi", "Nag_Mundari",
    "Garay", "Gurung_Khema", "Kirat_Rai", "Ol_Onal", "Sunuwar", "Todhri", "Tulu_Tigalari",
})


_MAX_NESTING = 1000  # Go's parser refuses a regex whose groups nest this deep


def _refuse_go_only(source: str) -> None:
    """Refuse, with Go's message, the few things RE2 in C++ accepts and Go 1.19 does not."""
    i, in_class, depth = 0, False, 0
    while i < len(source):
        char = source[i]
        if char == "\\":
            i = _check_escape(source, i)
            continue
        if in_class:
            if source.startswith("[:", i) and (end := source.find(":]", i + 2)) != -1:
                i = end + 2
                continue
            in_class = char != "]"
        elif char == "[":
            in_class = True
            i += 1 + source.startswith("^", i + 1)
            i += source.startswith("]", i)  # a leading ] is a literal
            continue
        elif char == "(":
            depth += 1
            if depth >= _MAX_NESTING:
                raise MatcherError(_go_error("expression nests too deeply", source))
            _check_group(source, i)
        elif char == ")":
            depth -= 1
        i += 1


def _check_escape(source: str, i: int) -> int:
    """Check one escape at `i`; return the index after it (all of `\\Q...\\E`)."""
    letter = source[i + 1 : i + 2]
    if letter == "Q":
        end = source.find("\\E", i + 2)
        return len(source) if end == -1 else end + 2
    if letter == "C":
        raise MatcherError(_go_error("invalid escape sequence", "\\C"))
    if letter in ("p", "P") and source.startswith("{", i + 2):
        name = source[i + 3 : source.find("}", i + 3)].removeprefix("^")
        if name in _NEWER_SCRIPTS:
            arg = source[i : source.find("}", i) + 1]
            raise MatcherError(_go_error("invalid character class range", arg))
    return i + 2


def _check_group(source: str, i: int) -> None:
    """Go 1.19 knows only `(?P<name>` with an ASCII word name, not `(?<name>`."""
    if not source.startswith("(?", i):
        return
    if source.startswith("(?<", i):
        raise MatcherError(_go_error("invalid or unsupported Perl syntax", "(?<"))
    if source.startswith("(?P<", i) and (end := source.find(">", i)) != -1:
        name = source[i + 4 : end]
        if not name.isascii():
            raise MatcherError(_go_error("invalid named capture", source[i : end + 1]))
