"""What a failed delivery attempt means for the intent: retry when, or give up."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """retry (after `delay` s, or backoff) or fatal; `maybe_sent` when the far side may have
    acted anyway (a timeout, a 5xx), so a post must be looked for before it is repeated."""

    label: str
    fatal: bool = False
    delay: float | None = None
    maybe_sent: bool = False


class Undelivered(Exception):
    """Raised by a sender when an attempt did not succeed; carries what to do next."""

    def __init__(self, outcome: Outcome):
        super().__init__(outcome.label)
        self.outcome = outcome
