"""`oncall-bot replay`: past alerts through the current and a candidate config, as a report.

The cases come from the database (alerts that started in the window, with their incidents'
feedback and handling) or from an export (`--from`: one JSON a line, an Alertmanager webhook
body or generic alerts). Nothing is written anywhere: this only reads and prints.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path as FilePath

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from bot.config import OncallConfig
from bot.domain.alerts import Alert
from bot.domain.replay import (
    Change,
    LabelCounts,
    Measured,
    calibration,
    changes,
    measure,
    suggest,
)
from bot.ingest.parsers import PayloadError, parse_alertmanager, parse_generic
from bot.services import replay
from bot.services.context import ServiceContext
from bot.store.db import Database

CHANGES_SHOWN = 20


class NoHistory(Exception):
    """There is no database to read the history (or the silences) from: says which."""


class ExportError(ValueError):
    """A line of the export that is not an alert body: names the file and line."""


@dataclass
class Report:
    source: str
    start: datetime | None
    end: datetime
    labels: LabelCounts
    current: Measured
    candidate: Measured
    changed: list[Change]
    scored: list[tuple[float, bool]]
    recall_at_least: float

    @property
    def candidate_recall(self) -> float | None:
        return self.candidate.overall.recall

    def to_json(self) -> dict[str, object]:
        suggestion = suggest(self.scored, self.recall_at_least)
        return {
            "source": self.source,
            "window": {"from": self.start.isoformat() if self.start else None,
                       "to": self.end.isoformat()},
            "cases": self.current.overall.cases,
            "labels": {"explicit": self.labels.explicit, "weak": self.labels.weak,
                       "unknown": self.labels.unknown},
            "current": self.current.to_json(), "candidate": self.candidate.to_json(),
            "changed": [c.to_json() for c in self.changed],
            "calibration": {
                "scored": len(self.scored),
                "buckets": [{"low": b.low, "high": b.high, "cases": b.cases, "real": b.real,
                             "fraction_real": round(b.fraction_real or 0, 4)}
                            for b in calibration(self.scored)],
                "recall_at_least": self.recall_at_least,
                "suggested": None if suggestion is None else {
                    "page_at": suggestion.page_at, "triage_at": suggestion.triage_at,
                    "precision": round(suggestion.precision, 4),
                    "recall": round(suggestion.recall, 4)}}}


def read_export(path: str) -> list[Alert]:
    """One JSON object a line: an Alertmanager webhook body (`version: "4"`), a generic
    `{"alerts": [...]}` or a single generic alert. Blank lines are skipped."""
    alerts: list[Alert] = []
    lines = FilePath(path).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            body = json.loads(line)
            parse = parse_alertmanager if isinstance(body, dict) and "version" in body \
                else parse_generic
            alerts.extend(parse(body).alerts)
        except json.JSONDecodeError as exc:
            raise ExportError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        except PayloadError as exc:
            raise ExportError(f"{path}:{number}: {exc}") from exc
    return alerts


async def run(db: Database | None, current: OncallConfig, candidate: OncallConfig, *, end: datetime,
              since: timedelta | None, export: Sequence[Alert] | None,
              recall_at_least: float) -> Report:
    """`db` None: an export replayed without a database (so without its silences)."""
    ctx = ServiceContext(db=db, config=current)
    start = None if export is not None else end - (since or timedelta(days=30))
    cases = (replay.export_cases(export) if export is not None
             else await replay.stored_cases(ctx, start, end))
    quiet = await replay.silences_between(ctx, start, end) if db is not None else []
    history = (await replay.history_between(ctx, start, end) if db is not None
               else replay.History())
    now = replay.Replayer(current, quiet, history)
    then = replay.Replayer(candidate, quiet, history)
    before = [now.path(c) for c in cases]
    after = [then.path(c) for c in cases] if candidate is not current else before
    scores = [replay.own_score(current, c.labels, c.annotations) for c in cases]
    scored = [(score, bool(c.truth.real)) for c, score in zip(cases, scores, strict=True)
              if score is not None and c.truth.real is not None]
    return Report(source="export" if export is not None else "database", start=start, end=end,
                  labels=LabelCounts.of(cases), current=measure(cases, before),
                  candidate=measure(cases, after), changed=changes(cases, before, after),
                  scored=scored, recall_at_least=recall_at_least)


def as_text(report: Report) -> list[str]:
    window = (f"{report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC"
              if report.start else "the export")
    labels = report.labels
    out = [f"Replay of {report.current.overall.cases} case(s) from {window}",
           f"Truth: {labels.explicit} from feedback, {labels.weak} weak (handling), "
           f"{labels.unknown} unknown", ""]
    out += _table(report.current, report.candidate)
    out += ["", f"Paths changed: {len(report.changed)}"]
    for change in report.changed[:CHANGES_SHOWN]:
        out.append(_change_line(change))
    if len(report.changed) > CHANGES_SHOWN:
        out.append(f"  … and {len(report.changed) - CHANGES_SHOWN} more (--json lists all)")
    out += ["", *_calibration_lines(report)]
    return out


_ROWS = (("pages", "pages"), ("triage", "triage"), ("notifications", "notifications"),
         ("digests", "digests"), ("silenced", "silenced"), ("unrouted", "unrouted"),
         ("pages at night", "night_pages"), ("misroutes", "misroutes"),
         ("precision", "precision"), ("recall", "recall"))


def _table(current: Measured, candidate: Measured) -> list[str]:
    out = [f"{'':<18}{'current':>10}{'candidate':>11}"]
    for name, key in _ROWS:
        a, b = current.overall.to_json()[key], candidate.overall.to_json()[key]
        out.append(f"{name:<18}{_cell(a):>10}{_cell(b):>11}")
    teams = sorted(set(current.teams) | set(candidate.teams))
    out += ["", "Per team (pages / triage / notify / digest · precision · recall), "
                "current → candidate:"]
    for team in teams:
        a, b = current.teams.get(team), candidate.teams.get(team)
        out.append(f"  {team:<16}{_team_cell(a)} → {_team_cell(b)}")
    return out


def _team_cell(figures) -> str:
    if figures is None:
        return "-"
    f = figures.to_json()
    return (f"{f['pages']}/{f['triage']}/{f['notifications']}/{f['digests']} · "
            f"{_cell(f['precision'])} · {_cell(f['recall'])}")


def _cell(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.1%}"
    return str(value)


def _change_line(change: Change) -> str:
    name = change.case.labels.get("alertname", "") or change.case.key
    a, b = change.before, change.after
    real = {True: "real", False: "noise", None: "unknown"}[change.case.truth.real]
    why = "; ".join(w for w in b.why if w)[:300]
    return (f"  {change.case.key} {name} ({real}): {a.team or '-'} {a.path} → "
            f"{b.team or '-'} {b.path} · why: {why}")


def _calibration_lines(report: Report) -> list[str]:
    if not report.scored:
        return ["Calibration: no case carries a confidence score, so no score buckets "
                "and no suggested page_at/triage_at."]
    out = ["Calibration (score bucket: cases, fraction real):"]
    for bucket in calibration(report.scored):
        out.append(f"  {bucket.low:.1f}–{bucket.high:.1f}: {bucket.cases:>5}, "
                   f"{bucket.fraction_real:.0%}")
    suggestion = suggest(report.scored, report.recall_at_least)
    if suggestion is not None:
        out.append(f"Suggested at recall ≥ {report.recall_at_least:g}: page_at "
                   f"{suggestion.page_at:g}, triage_at {suggestion.triage_at:g} (precision "
                   f"{suggestion.precision:.0%}, recall {suggestion.recall:.0%})")
    return out


async def report_lines(database_url: str, current: OncallConfig, candidate: OncallConfig, *,
                       end: datetime, since: timedelta | None, export_path: str | None,
                       as_json: bool, recall_at_least: float,
                       fail_under_recall: float | None) -> tuple[list[str], int]:
    """The printed report and the exit code (1 when the candidate's recall is under the gate,
    or unknown while a gate is asked for)."""
    export = read_export(export_path) if export_path is not None else None
    url = make_url(database_url)
    missing = url.get_backend_name() == "sqlite" and not (
        url.database and FilePath(url.database).exists())
    if missing and export is None:
        raise NoHistory(f"no database at {url.database or database_url}: nothing stored to "
                        "replay (DATABASE_URL), or give an export with --from")
    db = None if missing else Database(database_url)  # never create a database to read it
    try:
        report = await run(db, current, candidate, end=end, since=since, export=export,
                           recall_at_least=recall_at_least)
    except (OperationalError, ProgrammingError) as exc:
        raise NoHistory(f"the database (DATABASE_URL) cannot be read: {exc.orig}; is it "
                        "migrated (`oncall-bot migrate`)?") from exc
    finally:
        if db is not None:
            await db.dispose()
    lines = [json.dumps(report.to_json(), sort_keys=True)] if as_json else as_text(report)
    code = 0
    if fail_under_recall is not None:
        recall = report.candidate_recall
        if recall is None or recall < fail_under_recall:
            code = 1
            shown = "unknown (no real case)" if recall is None else f"{recall:.4g}"
            lines.append(f"FAIL: candidate recall {shown} is below {fail_under_recall:g}")
    return lines, code
