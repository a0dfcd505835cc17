"""Data minimization: secrets in alert labels and annotations never leave the bot.

    redact:
      builtin: [bearer, api_key, aws_key, jwt, credit_card]   # the default; add `email`
      patterns: {ticket_token: 'tkt_[A-Za-z0-9]{20}'}         # name -> RE2 pattern
      store_original: false

Patterns are Go's RE2 dialect compiled through the one door for user regexes,
`bot.domain.matchers.compile_regex` (unanchored; linear time: an alert cannot stall the bot
with a pathological pattern); credit-card matches are kept unless they pass the Luhn check.
A match becomes `[redacted:NAME]`. Applied once where alerts enter, so routing, the database,
Slack, pagers, webhooks and postmortems all see the redacted values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.domain.alerts import Alert, labels_fingerprint
from bot.domain.matchers import MatcherError, Regex, compile_regex

BUILTIN_PATTERNS: dict[str, str] = {
    "bearer": r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*",
    "api_key": r"\b(?:sk-[A-Za-z0-9_\-]{16,}|xox[abposre]-[A-Za-z0-9\-]{8,})",
    "aws_key": r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b|(?i)aws_secret_access_key\s*[=:]\s*\S+",
    "jwt": r"\beyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*",
    "credit_card": r"\b\d(?:[ \-]?\d){12,18}\b",
    "email": r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
}
DEFAULT_BUILTINS = ["bearer", "api_key", "aws_key", "jwt", "credit_card"]
_NAME = re.compile(r"[A-Za-z0-9_\-]{1,40}")


class RedactConfig(BaseModel):
    """The `redact:` section of oncall.yaml; safe defaults when it is absent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    builtin: list[str] = Field(default_factory=lambda: list(DEFAULT_BUILTINS))
    patterns: dict[str, str] = Field(default_factory=dict)
    store_original: bool = False

    @field_validator("builtin")
    @classmethod
    def _known_builtins(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in BUILTIN_PATTERNS]
        if unknown:
            raise ValueError(f"unknown built-in pattern(s) {', '.join(unknown)} (known: "
                             f"{', '.join(BUILTIN_PATTERNS)})")
        return names

    @field_validator("patterns")
    @classmethod
    def _re2_patterns(cls, patterns: dict[str, str]) -> dict[str, str]:
        for name, pattern in patterns.items():
            if not _NAME.fullmatch(name):
                raise ValueError(f"{name!r}: a pattern name is letters, digits, _ and -")
            try:
                compile_regex(pattern, anchored=False)
            except MatcherError as exc:
                raise ValueError(f"{name}: not a valid RE2 pattern: {exc}") from None
        return patterns

    @cached_property
    def redactor(self) -> Redactor:
        chosen = {n: BUILTIN_PATTERNS[n] for n in self.builtin} | self.patterns
        return Redactor(chosen)


class Redactor:
    """Replaces every match of every named pattern with `[redacted:NAME]`."""

    def __init__(self, patterns: Mapping[str, str]):
        self._compiled = [(name, compile_regex(p, anchored=False)) for name, p in patterns.items()]
        self._any = _either(patterns.values())

    def text(self, value: str) -> str:
        if not value or (self._any is not None and not self._any.matches(value)):
            return value  # most values hold no secret: one search instead of a sub each
        for name, pattern in self._compiled:
            value = pattern.sub(_replacement(name), value)
        return value

    def values(self, mapping: Mapping[str, str]) -> dict[str, str]:
        return {key: self.text(value) for key, value in mapping.items()}

    def alert(self, alert: Alert) -> Alert:
        """The alert as the rest of the bot may see it; its identity stays the sender's."""
        fingerprint = alert.fingerprint or labels_fingerprint(alert.labels)
        return alert.model_copy(update={
            "labels": self.values(alert.labels), "annotations": self.values(alert.annotations),
            "generator_url": self.text(alert.generator_url), "fingerprint": fingerprint})


def _either(patterns) -> Regex | None:
    """One pattern matching wherever any of them does (None if they cannot be combined, as
    when two name the same group)."""
    if not patterns:
        return None
    try:
        return compile_regex("|".join(f"(?:{p})" for p in patterns), anchored=False)
    except MatcherError:
        return None


def _replacement(name: str) -> Callable:
    marker = f"[redacted:{name}]"
    if name != "credit_card":
        return lambda _match: marker
    return lambda match: marker if _luhn(match.group(0)) else match.group(0)


def _luhn(candidate: str) -> bool:
    """Card numbers pass the Luhn check; most other long numbers (timestamps, ids) do not."""
    digits = [int(c) for c in candidate if c.isdigit()]
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0

