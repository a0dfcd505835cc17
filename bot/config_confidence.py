"""The `confidence:` and `sources:` sections of oncall.yaml: which label carries a score, and
each source's typical reliability (the prior when an alert carries none).

Thresholds live on route nodes and teams (bot.domain.confidence.ConfidenceSpec); this section
says how to read a score and what to assume without one.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from bot.domain.confidence import DEFAULT_KEY, DEFAULT_MIN_VERDICTS, check_prior_key

PriorKey = Annotated[str, AfterValidator(check_prior_key)]
#: The top-level `sources:` map: a source's typical reliability, the prior without a score.
Priors = dict[PriorKey, Annotated[float, Field(ge=0.0, le=1.0)]]


class ConfidenceConfig(BaseModel):
    """How an alert's confidence is read, and the typical reliability of each source."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(DEFAULT_KEY, min_length=1,
                     description="the label (or annotation) that carries the score")
    source_keys: dict[str, str] = Field(default_factory=dict, description=(
        "per webhook source, a different key (e.g. generic: score)"))
    learned_min_verdicts: int = Field(DEFAULT_MIN_VERDICTS, ge=1, description=(
        "feedback verdicts an alert rule needs before its learned reliability is shown"))

    def key_for(self, source: str) -> str:
        return self.source_keys.get(source, self.key)
