"""What a responder can say about how an incident was handled, and what each verdict means."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class Verdict(StrEnum):
    """One click on the feedback row (or triage's Confirm / Dismiss)."""

    REAL = "real"
    NOISE = "noise"
    WRONG_TEAM = "wrong_team"
    SHOULD_HAVE_PAGED = "should_have_paged"
    SHOULD_NOT_HAVE_PAGED = "should_not_have_paged"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def real(self) -> bool | None:
        """Whether the incident was a real problem, as far as this verdict says."""
        return _REAL[self]


_LABELS = {Verdict.REAL: "Real", Verdict.NOISE: "Noise", Verdict.WRONG_TEAM: "Wrong team",
           Verdict.SHOULD_HAVE_PAGED: "Should have paged",
           Verdict.SHOULD_NOT_HAVE_PAGED: "Should not have paged"}
_REAL = {Verdict.REAL: True, Verdict.NOISE: False, Verdict.WRONG_TEAM: True,
         Verdict.SHOULD_HAVE_PAGED: True, Verdict.SHOULD_NOT_HAVE_PAGED: False}


def tally(verdicts: Iterable[str]) -> dict[Verdict, int]:
    """Counts per verdict, in the row's order, leaving out verdicts nobody gave."""
    given = [Verdict(v) for v in verdicts if v in _VALUES]
    return {v: given.count(v) for v in Verdict if v in given}


def counts_text(counts: Mapping[Verdict, int]) -> str:
    """`Real 2 · Noise 1`: what the feedback row says under its buttons."""
    return " · ".join(f"{v.label} {n}" for v, n in counts.items() if n)


_VALUES = frozenset(v.value for v in Verdict)
