"""An alert's confidence: read from the alert, else a configured prior; thresholds per route.

Pure (stdlib + pydantic): ingest, `route test` and replay (wip/feedback) all call the same
functions, so a score means the same thing everywhere.

- `parse_score("0.87" | "87%" | "87")` -> 0.87. A bare number above 1 is a percentage
  (up to 100). Anything else (out of range, not a number, NaN) is a `ScoreProblem`, shown on
  the message, and the alert is treated as carrying no score.
- `score_of(...)` reads the score label (or annotation) an alert carries, else the first
  configured prior that applies to it (`detector=evals`, `host:evals.example.com`,
  `source:generic`), and says where it came from.
- `reliability(verdicts)` is the learned reliability of an alert rule from feedback: the
  fraction of verdicts that say the incident was real, once there are enough of them.
- `ConfidenceSpec` is the `confidence:` block a route node (or a team) carries.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.domain.alert_path import Score, Thresholds
from bot.domain.alerts import Action
from bot.domain.durations import Duration

DEFAULT_KEY = "confidence"
DEFAULT_TRIAGE_TIMEOUT = timedelta(minutes=15)
DEFAULT_MIN_VERDICTS = 5
CANCEL_WINDOW = timedelta(seconds=60)  # high confidence: how long an automatic runbook waits


# -- the config blocks ----------------------------------------------------------------------


class HighSpec(BaseModel):
    """`high:` very confident alerts page every listed on-call role at once, and may start the
    route's runbook (its `auto: true` action steps) after a cancel window. Off unless set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: float = Field(ge=0.0, le=1.0)
    notify: tuple[Literal["primary", "secondary"], ...] = ("primary", "secondary")
    auto_runbook: bool = False


class ConfidenceSpec(BaseModel):
    """`confidence:` on a route node or a team: where triage starts and what happens around it.

    At or above `page_at` the route's action stands; from `triage_at` up to `page_at` the
    incident goes to triage (Confirm / Dismiss, the on-call mentioned, nobody paged); below
    `triage_at` it goes to `below` (digest or notify). A triage nobody decides within
    `triage_timeout` pages (`on_timeout: page`) or is left for the digest (`on_timeout: digest`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    page_at: float = Field(ge=0.0, le=1.0)
    triage_at: float = Field(ge=0.0, le=1.0)
    below: Literal["digest", "notify"] = "digest"
    triage_timeout: Duration = DEFAULT_TRIAGE_TIMEOUT
    on_timeout: Literal["page", "digest"] = "page"
    high: HighSpec | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ConfidenceSpec:
        if self.triage_at > self.page_at:
            raise ValueError(f"need 0 <= triage_at <= page_at <= 1 (got triage_at "
                             f"{self.triage_at:g} > page_at {self.page_at:g})")
        if self.high is not None and self.high.at < self.page_at:
            raise ValueError(f"high.at ({self.high.at:g}) must be at least page_at "
                             f"({self.page_at:g})")
        return self

    @field_validator("triage_timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return value

    def thresholds(self, set_by: str) -> Thresholds:
        return Thresholds(page_at=self.page_at, triage_at=self.triage_at,
                          below=Action(self.below), set_by=set_by)


# -- reading a score -------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreProblem:
    """A score the alert carried that cannot be used: said on the message, then ignored."""

    key: str
    value: str
    why: str

    def __str__(self) -> str:
        shown = self.value if len(self.value) <= 40 else self.value[:39] + "…"
        return f"{self.key}={shown!r} ignored: {self.why}"


def parse_score(text: str) -> float:
    """`0.87`, `87%` or `87` -> 0.87; raises ValueError saying why otherwise."""
    raw = text.strip()
    percent = raw.endswith("%")
    number = raw[:-1].strip() if percent else raw
    try:
        value = float(number)
    except ValueError:
        raise ValueError("not a number (use 0.87, 87% or 87)") from None
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    if percent or value > 1.0:
        if not 0.0 <= value <= 100.0:
            raise ValueError("out of range (0-1, or 0-100 as a percentage)")
        return round(value / 100.0, 6)
    if value < 0.0:
        raise ValueError("out of range (0-1, or 0-100 as a percentage)")
    return value


@dataclass(frozen=True)
class ScoreReading:
    """What an alert says about its confidence: a score (or none), and a problem if any."""

    score: Score | None
    problem: ScoreProblem | None = None
    prior: float | None = None  # the configured prior that applies, shown beside a score


def read_score(labels: Mapping[str, str], annotations: Mapping[str, str], key: str,
               priors: Mapping[str, float], *, source: str = "", generator_url: str = "",
               learned: Learned | None = None) -> ScoreReading:
    """The alert's own score (label first, then annotation), else the first prior that applies.

    `priors` keys, in the config's order: `LABEL=VALUE`, `host:HOST` (the generatorURL's
    host), `source:NAME` (the webhook source). The learned reliability, when there is one,
    is named beside the prior; it does not replace it (see README, "Scores").
    """
    matched = prior_for(priors, labels, source=source, generator_url=generator_url)
    prior_text = _prior_text(matched, learned)
    raw = labels.get(key, annotations.get(key))
    problem = None
    if raw is not None:
        try:
            value = parse_score(raw)
        except ValueError as exc:
            problem = ScoreProblem(key, raw, str(exc))
        else:
            where = f"{key} label" if key in labels else f"{key} annotation"
            return ScoreReading(Score(value, f"{where}{'; ' + prior_text if prior_text else ''}"),
                                prior=matched[1] if matched else None)
    if matched is None:
        return ScoreReading(None, problem)
    return ScoreReading(Score(matched[1], prior_text), problem, prior=matched[1])


def prior_for(priors: Mapping[str, float], labels: Mapping[str, str], *, source: str = "",
              generator_url: str = "") -> tuple[str, float] | None:
    """The first `sources:` entry that applies to the alert, as (entry, reliability)."""
    seen = {"host": _host(generator_url), "source": source.lower()}
    for entry, value in priors.items():
        kind, _, name = entry.partition(":")
        if "=" in entry and ":" not in entry.split("=", 1)[0]:
            label, _, wanted = entry.partition("=")
            if labels.get(label.strip()) == wanted.strip():
                return entry, value
        elif seen.get(kind) and seen[kind] == name.strip().lower():
            return entry, value
    return None


def check_prior_key(entry: str) -> str:
    """A `sources:` key must be LABEL=VALUE, host:HOST or source:NAME."""
    kind, colon, name = entry.partition(":")
    if "=" in entry and ":" not in entry.split("=", 1)[0]:
        label = entry.split("=", 1)[0].strip()
        if label:
            return entry
    elif colon and kind in ("host", "source") and name.strip():
        return entry
    raise ValueError(f"{entry!r}: use LABEL=VALUE (detector=evals), host:HOST or source:NAME")


def _prior_text(matched: tuple[str, float] | None, learned: Learned | None) -> str:
    if matched is None:
        return ""
    entry = matched[0].removeprefix("source:").removeprefix("host:")
    text = f"{entry}, prior {matched[1]:g}"
    if learned is not None:
        text += f", learned {learned.value:.2g} of {learned.count}"
    return text


def _host(url: str) -> str:
    if not url:
        return ""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


# -- learned reliability ---------------------------------------------------------------------


@dataclass(frozen=True)
class Learned:
    """An alert rule's reliability learned from feedback: real verdicts / verdicts."""

    value: float
    count: int


def reliability(verdicts: Iterable[bool | None],
                min_count: int = DEFAULT_MIN_VERDICTS) -> Learned | None:
    """From each verdict's `Verdict.real` (None: says nothing about realness, not counted);
    None until at least `min_count` verdicts count."""
    said = [v for v in verdicts if v is not None]
    if len(said) < max(min_count, 1):
        return None
    return Learned(sum(said) / len(said), len(said))


def is_high(spec: ConfidenceSpec | None, score: Score | None) -> bool:
    """A paging decision whose score reaches `high.at`."""
    return bool(spec and spec.high and score is not None and score.value >= spec.high.at)
