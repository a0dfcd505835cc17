"""The hourly cost-spike digest: read a spike ratio off an alert, batch an hour of them.

Cost alerts land on a `digest: hourly` route; one message an hour lists them per
service and model, worst spike first. A spike pages at once only when its ratio reaches
the route's `page_if_ratio_at_least`. Alert rules spell their figures in many ways
(`{{ $value | humanize }}`, `$1,234.50`, `12.5 USD/h`, `3.2x`), so the reader is lenient
about decoration and strict about the number itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from bot.domain.digests import DigestItem

__all__ = [
    "AmountError",
    "CostDigest",
    "CostLine",
    "RatioReading",
    "build_cost_digest",
    "digest_item",
    "parse_amount",
    "ratio_text",
    "should_page",
    "spike_ratio",
]

NO_FIGURES = "no value/baseline or ratio labels"
#: How an infinite or not-a-number ratio is shown: a spend on a zero baseline. It pages.
BASELINE_ZERO = "baseline 0"
_SI = {"k": 1e3, "M": 1e6, "G": 1e9}
_AMOUNT = re.compile(
    r"""\s*(?P<sign>[-+]?)\s*[$€£]?\s*
    (?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d*)?|\.\d+)
    (?P<exponent>[eE][-+]?\d+)?
    (?P<si>[kMG](?![A-Za-z]))?
    \s*(?P<unit>\D*)""",
    re.VERBOSE | re.ASCII,
)


class AmountError(ValueError):
    """A figure on an alert that is not a plain non-negative number."""


class RatioReading(BaseModel):
    """How far a cost is above its baseline, and how we know (or why we do not)."""

    model_config = ConfigDict(frozen=True)

    ratio: float | None
    value: float | None
    baseline: float | None
    reason: str

    @property
    def known(self) -> bool:
        return self.ratio is not None


# -- reading figures off an alert ---------------------------------------------------------


def parse_amount(text: str) -> float:
    """Read `3.2x`, `$1,234.50`, `12.5 USD/h`, `1.2k`, `250%` (= 2.5) as a plain number."""
    found = _AMOUNT.fullmatch(text)
    if found is None:
        raise AmountError(f"{text!r} is not a number")
    number = float(found["digits"].replace(",", "") + (found["exponent"] or ""))
    number *= _SI.get(found["si"] or "", 1.0)
    if found["unit"].strip().startswith("%"):
        number /= 100
    if not math.isfinite(number):
        raise AmountError(f"{text!r} is too large")
    if found["sign"] == "-" and number:
        raise AmountError(f"{text!r} is negative")
    return number


def spike_ratio(labels: Mapping[str, str], annotations: Mapping[str, str]) -> RatioReading:
    """Take `ratio` as given, else compute `value / baseline`; say why when neither works.

    Each figure is read from the annotations first, then the labels: a redelivered alert
    updates its annotations, so they hold the latest reading.
    """
    value, value_problem = _figure(labels, annotations, "value")
    baseline, baseline_problem = _figure(labels, annotations, "baseline")
    ratio, ratio_problem = _figure(labels, annotations, "ratio")
    if ratio is not None:
        return RatioReading(ratio=ratio, value=value, baseline=baseline, reason="ratio as given")
    if _non_finite(annotations.get("ratio", labels.get("ratio"))):
        return RatioReading(ratio=math.inf, value=value, baseline=baseline,
                            reason=f"{BASELINE_ZERO} (ratio given as not a finite number)")
    computed, reason = _divide(value, baseline, value_problem or baseline_problem)
    return RatioReading(
        ratio=computed,
        value=value,
        baseline=baseline,
        reason=_with_ratio_problem(reason, ratio_problem, known=computed is not None),
    )


def should_page(reading: RatioReading, threshold: float) -> bool:
    """Page at once for a spike at or above the route's ratio; an unknown ratio never pages."""
    return reading.ratio is not None and reading.ratio >= threshold


def _figure(
    labels: Mapping[str, str], annotations: Mapping[str, str], key: str
) -> tuple[float | None, str]:
    """One figure and, when it is present but unreadable, the problem with it."""
    where = "annotation" if key in annotations else "label"
    text = annotations.get(key, labels.get(key))
    if text is None or not text.strip():
        return None, ""
    try:
        return parse_amount(text), ""
    except AmountError as error:
        return None, f"{key} {where} {error}"


def _with_ratio_problem(reason: str, ratio_problem: str, *, known: bool) -> str:
    """Mention an unreadable `ratio`: after a computed ratio, before a missing one."""
    if not ratio_problem:
        return reason
    if known:
        return f"{reason} ({ratio_problem})"
    if reason == NO_FIGURES:
        return f"{ratio_problem}; no value/baseline"
    return f"{ratio_problem}; {reason}"


def _divide(value: float | None, baseline: float | None, problem: str) -> tuple[float | None, str]:
    if problem:
        return None, problem
    if value is None and baseline is None:
        return None, NO_FIGURES
    if value is None or baseline is None:
        missing = "value" if value is None else "baseline"
        return None, f"no {missing}: cannot compute value / baseline"
    if baseline == 0 or not math.isfinite(value / baseline):
        return math.inf, f"{BASELINE_ZERO}: value / baseline is not a finite number"
    return value / baseline, "value / baseline"


def _non_finite(text: str | None) -> bool:
    """Prometheus renders x/0 as `+Inf` and 0/0 as `NaN` (what `{{ $value }}` prints)."""
    return text is not None and text.strip().lower().lstrip("+") in {"inf", "infinity", "nan"}


def ratio_text(ratio: float | None) -> str:
    """`3.2x`, or `baseline 0` for a ratio that is infinite (or was not a number)."""
    if ratio is None:
        return "no ratio"
    return BASELINE_ZERO if not math.isfinite(ratio) else f"{ratio:.1f}x"


# -- the digest ---------------------------------------------------------------------------


def digest_item(
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    *,
    fired_at: datetime,
    still_firing: bool,
) -> DigestItem:
    """Build an item from an alert's labels: `service`, `model`, `alertname` plus its ratio."""
    reading = spike_ratio(labels, annotations)
    return DigestItem(
        service=labels.get("service", ""),
        model=labels.get("model", ""),
        alertname=labels.get("alertname", ""),
        value=reading.value,
        baseline=reading.baseline,
        ratio=reading.ratio,
        fired_at=fired_at,
        still_firing=still_firing,
        flagged_missing_ratio=not reading.known,
    )


class CostLine(BaseModel):
    """One service/model in a digest: its latest spend rate against baseline, worst ratio."""

    service: str
    model: str
    alertnames: list[str]
    spend_rate: float | None
    baseline: float | None
    ratio: float | None
    times_fired: int
    first_seen: datetime
    last_seen: datetime
    still_firing: bool
    missing_ratio: bool
    baseline_zero: bool = False  # the ratio was infinite: JSON has no infinity, so say it here


class CostDigest(BaseModel):
    """An hour of cost spikes, worst first; lines without a ratio come last, flagged."""

    window_start: datetime
    window_end: datetime
    lines: list[CostLine]
    times_fired: int
    lines_missing_ratio: int

    def to_json(self) -> dict[str, object]:
        """The figures as `digest cost --dry-run --json` prints them."""
        return self.model_dump(mode="json")


def build_cost_digest(
    items: Sequence[DigestItem], window: tuple[datetime, datetime]
) -> CostDigest | None:
    """Group the items fired in [start, end) by service and model; None when nothing fired."""
    start, end = window
    groups: dict[tuple[str, str], list[DigestItem]] = {}
    for item in items:
        if start <= item.fired_at < end:
            groups.setdefault((item.service, item.model), []).append(item)
    if not groups:
        return None
    lines = sorted((_line(group) for group in groups.values()), key=_line_order)
    return CostDigest(
        window_start=start.astimezone(UTC),
        window_end=end.astimezone(UTC),
        lines=lines,
        times_fired=sum(line.times_fired for line in lines),
        lines_missing_ratio=sum(line.missing_ratio for line in lines),
    )


def _line(group: list[DigestItem]) -> CostLine:
    ordered = sorted(group, key=lambda item: item.fired_at)
    ratios = [item.ratio for item in ordered if item.ratio is not None]
    worst = max(ratios, default=None)
    return CostLine(
        service=ordered[0].service,
        model=ordered[0].model,
        alertnames=sorted({item.alertname for item in ordered if item.alertname}),
        spend_rate=_latest(item.value for item in ordered),
        baseline=_latest(item.baseline for item in ordered),
        ratio=worst if worst is None or math.isfinite(worst) else None,
        baseline_zero=worst is not None and not math.isfinite(worst),
        times_fired=len(ordered),
        first_seen=ordered[0].fired_at.astimezone(UTC),
        last_seen=ordered[-1].fired_at.astimezone(UTC),
        still_firing=any(item.still_firing for item in ordered),
        missing_ratio=not ratios,
    )


def _latest(values: Iterable[float | None]) -> float | None:
    """The last figure that was actually reported, in firing order."""
    known = [value for value in values if value is not None]
    return known[-1] if known else None


def _line_order(line: CostLine) -> tuple[bool, float, float, str, str]:
    """Worst ratio first, unknown ratios last; then higher spend; then by name, for ties."""
    return (
        line.ratio is None and not line.baseline_zero,
        -math.inf if line.baseline_zero else -(line.ratio or 0.0),
        -(line.spend_rate or 0.0),
        line.service,
        line.model,
    )
