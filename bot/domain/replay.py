"""Replay's arithmetic: what a config did to past alerts, measured against how they went.

Every past alert is one *case*: the first alert of each stored incident (later alerts of the
same incident joined the page that alert opened), every stored alert that opened no incident
(silenced, digested), or one line of an export. Each case has a *truth*:

- explicit: the people's verdicts on its incident (`Verdict.real`; a tie counts as real);
- weak, where nobody gave one: acked or resolved by a person ("worked on") -> real;
  resolved at the source with nobody acking or resolving it -> noise;
- unknown otherwise (still open and untouched, or an export line): left out of precision and
  recall, counted in every other figure.

Precision: of the paged cases with a truth, the share that were real. Recall: of the real
cases, the share that paged (triage does not count as a page). A page at night is one between
22:00 and 07:00 in the team's time zone (`teams.X.time_zone`, else the noise review's).
A misroute is a case someone marked "wrong team" that still goes to the team it went to then.
Pure: the service gathers cases and paths; this only counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from bot.domain.feedback import Verdict

NIGHT_STARTS, NIGHT_ENDS = time(22, 0), time(7, 0)
PATHS = ("page", "triage", "notify", "digest", "silenced", "unrouted")
_VERDICTS = frozenset(v.value for v in Verdict)


@dataclass(frozen=True)
class Truth:
    real: bool | None
    weak: bool = False
    wrong_team: bool = False


def truth_of(verdicts: Iterable[str], *, worked_on: bool, auto_resolved: bool) -> Truth:
    """The explicit verdicts' majority, else the weak label from how it was handled."""
    given = [Verdict(v) for v in verdicts if v in _VERDICTS]
    wrong = Verdict.WRONG_TEAM in given
    said = [v.real for v in given if v.real is not None]
    if said:
        return Truth(real=said.count(True) >= said.count(False), wrong_team=wrong)
    if worked_on:
        return Truth(real=True, weak=True, wrong_team=wrong)
    if auto_resolved:
        return Truth(real=False, weak=True, wrong_team=wrong)
    return Truth(real=None, wrong_team=wrong)


@dataclass(frozen=True)
class Case:
    key: str  # "alert 17", "line 3": how the report names it
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    at: datetime
    truth: Truth = Truth(real=None)
    team_then: str = ""  # the team its incident went to, for "wrong team"


@dataclass(frozen=True)
class Path:
    """Where one config sends one case."""

    team: str
    path: str  # one of PATHS
    night: bool = False
    why: tuple[str, ...] = ()


def at_night(at: datetime, zone: str) -> bool:
    local = at.astimezone(ZoneInfo(zone)).time()
    return local >= NIGHT_STARTS or local < NIGHT_ENDS


@dataclass
class Figures:
    cases: int = 0
    paths: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PATHS, 0))
    night_pages: int = 0
    misroutes: int = 0
    paged_with_truth: int = 0
    paged_real: int = 0
    real: int = 0
    real_paged: int = 0

    def add(self, case: Case, path: Path) -> None:
        self.cases += 1
        self.paths[path.path] += 1
        paged = path.path == "page"
        self.night_pages += paged and path.night
        self.misroutes += case.truth.wrong_team and path.team == case.team_then
        if case.truth.real is None:
            return
        self.paged_with_truth += paged
        self.paged_real += paged and case.truth.real
        self.real += case.truth.real
        self.real_paged += paged and case.truth.real

    @property
    def precision(self) -> float | None:
        return self.paged_real / self.paged_with_truth if self.paged_with_truth else None

    @property
    def recall(self) -> float | None:
        return self.real_paged / self.real if self.real else None

    def to_json(self) -> dict[str, object]:
        return {"cases": self.cases, "pages": self.paths["page"],
                "triage": self.paths["triage"], "notifications": self.paths["notify"],
                "digests": self.paths["digest"], "silenced": self.paths["silenced"],
                "unrouted": self.paths["unrouted"], "night_pages": self.night_pages,
                "misroutes": self.misroutes, "precision": _round(self.precision),
                "recall": _round(self.recall), "real": self.real,
                "paged_real": self.paged_real, "paged_with_truth": self.paged_with_truth}


@dataclass
class Measured:
    overall: Figures = field(default_factory=Figures)
    teams: dict[str, Figures] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"overall": self.overall.to_json(),
                "teams": {t: f.to_json() for t, f in sorted(self.teams.items())}}


def measure(cases: Sequence[Case], paths: Sequence[Path]) -> Measured:
    """Figures overall and per team (the team this config sends each case to)."""
    out = Measured()
    for case, path in zip(cases, paths, strict=True):
        out.overall.add(case, path)
        out.teams.setdefault(path.team or "(none)", Figures()).add(case, path)
    return out


@dataclass(frozen=True)
class Change:
    case: Case
    before: Path
    after: Path

    def to_json(self) -> dict[str, object]:
        return {"case": self.case.key, "alertname": self.case.labels.get("alertname", ""),
                "at": self.case.at.isoformat(), "real": self.case.truth.real,
                "current": {"team": self.before.team, "path": self.before.path},
                "candidate": {"team": self.after.team, "path": self.after.path},
                "why": list(self.after.why)}


def changes(cases: Sequence[Case], current: Sequence[Path],
            candidate: Sequence[Path]) -> list[Change]:
    """The cases whose team or path differs between the two configs."""
    return [Change(c, a, b) for c, a, b in zip(cases, current, candidate, strict=True)
            if (a.team, a.path) != (b.team, b.path)]


@dataclass(frozen=True)
class LabelCounts:
    explicit: int
    weak: int
    unknown: int

    @classmethod
    def of(cls, cases: Sequence[Case]) -> LabelCounts:
        known = [c for c in cases if c.truth.real is not None]
        weak = sum(c.truth.weak for c in known)
        return cls(explicit=len(known) - weak, weak=weak, unknown=len(cases) - len(known))


# -- calibration -----------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    low: float
    high: float
    cases: int
    real: int

    @property
    def fraction_real(self) -> float | None:
        return self.real / self.cases if self.cases else None


def calibration(scored: Sequence[tuple[float, bool]], width: float = 0.1) -> list[Bucket]:
    """Score buckets [low, high) (the last one closed) against the fraction that were real."""
    steps = round(1 / width)
    counts = [[0, 0] for _ in range(steps)]
    for score, real in scored:
        index = min(int(score / width + 1e-9), steps - 1)
        counts[index][0] += 1
        counts[index][1] += real
    return [Bucket(round(i * width, 6), round((i + 1) * width, 6), n, r)
            for i, (n, r) in enumerate(counts) if n]


@dataclass(frozen=True)
class Suggestion:
    page_at: float
    triage_at: float
    precision: float
    recall: float


def suggest(scored: Sequence[tuple[float, bool]], recall_at_least: float) -> Suggestion | None:
    """`page_at`: of the thresholds whose pages keep recall >= the target, the one with the
    best precision (the higher one on a tie). `triage_at`: the lowest real score, so nothing
    real falls below triage into the digest. None without a real scored case."""
    reals = sorted(s for s, real in scored if real)
    if not reals:
        return None
    best: Suggestion | None = None
    for threshold in sorted({s for s, _ in scored}, reverse=True):
        paged = [real for s, real in scored if s >= threshold]
        recall = sum(1 for s in reals if s >= threshold) / len(reals)
        if recall < recall_at_least:
            continue
        precision = sum(paged) / len(paged)
        if best is None or precision > best.precision:
            best = Suggestion(threshold, min(reals[0], threshold), precision, recall)
    return best


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
