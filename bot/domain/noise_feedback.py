"""What the noise review learns from feedback: per-rule precision, and drift from the prior.

Precision of a rule: real over the verdicts that say whether it was real (`Verdict.real` is
not None; "wrong team" counts as real, "should not have paged" as not). Its learned
reliability is that precision; it has drifted when, over at least DRIFT_MIN_VERDICTS verdicts,
it is more than DRIFT_TOLERANCE away from the reliability the config gives its source
(`sources:`). Pure: priors come in as an argument, keyed by alertname.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from pydantic import BaseModel

from bot.domain.feedback import Verdict, tally

DRIFT_MIN_VERDICTS = 5
DRIFT_TOLERANCE = 0.2
_KNOWN = frozenset(v.value for v in Verdict)


class Drift(BaseModel):
    """A rule whose reliability learned from feedback moved away from its configured prior."""

    alertname: str
    prior: float
    learned: float
    verdicts: int


class Judged(Protocol):
    alertname: str
    precision: float | None
    judged: int


def feedback_counts(verdicts: Iterable[str]) -> dict[str, int]:
    """Counts per verdict, in the feedback row's order."""
    return {verdict.value: n for verdict, n in tally(verdicts).items()}


def rule_precision(verdicts: Iterable[str]) -> tuple[float | None, int]:
    """Real over the verdicts that say whether it was real, and how many those were."""
    said = [Verdict(v).real for v in verdicts if v in _KNOWN]
    said = [real for real in said if real is not None]
    return (sum(said) / len(said) if said else None), len(said)


def drifted(rules: Sequence[Judged], priors: Mapping[str, float], *,
            min_verdicts: int = DRIFT_MIN_VERDICTS,
            tolerance: float = DRIFT_TOLERANCE) -> list[Drift]:
    """The rules that drifted, furthest first; a rule on several routes pools its verdicts."""
    pooled: dict[str, tuple[int, int]] = {}
    for rule in rules:
        if rule.precision is None or rule.alertname not in priors:
            continue
        real, judged = pooled.get(rule.alertname, (0, 0))
        pooled[rule.alertname] = (real + round(rule.precision * rule.judged),
                                  judged + rule.judged)
    found = [Drift(alertname=name, prior=priors[name], learned=round(real / judged, 4),
                   verdicts=judged)
             for name, (real, judged) in pooled.items()
             if judged >= min_verdicts and abs(real / judged - priors[name]) > tolerance]
    return sorted(found, key=lambda d: (-abs(d.learned - d.prior), d.alertname))
