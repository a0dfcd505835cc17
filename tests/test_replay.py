"""Replay against a hand-made history whose right answers are worked out below, by hand.

Eleven cases (one alert each; a twelfth alert joins case 1's incident and is not a case):

#  alertname    labels           handling                      feedback         truth
1  ModelDown    model critical   acked, resolved by a person   real             real
2  EvalDrift    model warning    resolved at source, untouched -                noise (weak)
3  EvalFlake    model warning    acked                         noise            noise
4  LatencyHigh  model warning    acked, resolved by a person   -                real (weak)
5  DiskFull     infra critical   acked                         real             real
6  StripeDown   tool critical    acked                         wrong team       real
7  CpuWarm      infra warning    resolved at source            -                noise (weak)
8  Flappy       infra critical   resolved at source            should not page  noise
9  BackupFail   infra critical   acked; 22:30 UTC = 23:30 Berlin, night   -     real (weak)
10 QueueSlow    infra warning    still open, untouched         -                unknown
11 Maint        infra critical   held by a silence, no incident -               unknown

Current: model -> ai-eng page; critical -> platform page; the rest platform notify.
Candidate: tool -> integrations page (first); model+warning -> ai-eng notify.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import Session, SQLModel, select
from typer.testing import CliRunner

from bot.cli import app
from bot.config import parse_config
from bot.domain.replay import Case, Truth, calibration, suggest, truth_of
from bot.store.db import migrate, sync_engine
from bot.store.models import (
    AlertRow,
    FeedbackRow,
    IncidentAlert,
    IncidentRow,
    OutboxIntent,
    SilenceRow,
)

DAY = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
AT = "2026-11-23 03:00"

TEAMS = """
teams:
  platform: {channel: "#platform-oncall", time_zone: Europe/Berlin}
  ai-eng: {channel: "#ai-eng-oncall", time_zone: America/New_York}
  integrations: {channel: "#integrations-oncall"}
"""
CURRENT = TEAMS + """
route:
  receiver: platform
  group_by: [alertname]
  action: notify
  routes:
    - {matchers: ['alert_type="model"'], receiver: ai-eng, action: page}
    - {matchers: ['severity="critical"'], receiver: platform, action: page}
"""
CANDIDATE = TEAMS + """
route:
  receiver: platform
  group_by: [alertname]
  action: notify
  routes:
    - {matchers: ['alert_type="tool"'], receiver: integrations, action: page}
    - {matchers: ['alert_type="model"', 'severity="warning"'], receiver: ai-eng, action: notify}
    - {matchers: ['alert_type="model"'], receiver: ai-eng, action: page}
    - {matchers: ['severity="critical"'], receiver: platform, action: page}
"""

#: name, alert_type, severity, team then, acked, resolved_by ("" = at source, None = open),
#: verdicts, hour offset
HISTORY = [
    ("ModelDown", "model", "critical", "ai-eng", True, "U1", ["real"], 0),
    ("EvalDrift", "model", "warning", "ai-eng", False, "", [], 0),
    ("EvalFlake", "model", "warning", "ai-eng", True, None, ["noise"], 0),
    ("LatencyHigh", "model", "warning", "ai-eng", True, "U1", [], 0),
    ("DiskFull", "infra", "critical", "platform", True, None, ["real"], 0),
    ("StripeDown", "tool", "critical", "platform", True, None, ["wrong_team"], 0),
    ("CpuWarm", "infra", "warning", "platform", False, "", [], 0),
    ("Flappy", "infra", "critical", "platform", False, "", ["should_not_have_paged"], 0),
    ("BackupFail", "infra", "critical", "platform", True, None, [], 8.5),
    ("QueueSlow", "infra", "warning", "platform", False, None, [], 0),
]


def alert(name: str, alert_type: str, severity: str, at: datetime) -> AlertRow:
    return AlertRow(source="alertmanager", fingerprint=name, starts_at=at, status="firing",
                    labels={"alertname": name, "alert_type": alert_type, "severity": severity},
                    annotations={}, first_seen=at, last_seen=at)


def build_history(url: str) -> None:
    migrate(url)
    with Session(sync_engine(url)) as s:
        for n, (name, kind, severity, team, acked, resolved_by, verdicts, hours) in enumerate(
                HISTORY, start=1):
            at = DAY + timedelta(hours=hours)
            row = alert(name, kind, severity, at)
            incident = IncidentRow(
                group_key=f"{n}", route_key="r", team=team, channel="C", action="page",
                title=name, status="acknowledged" if acked else "triggered", opened_at=at,
                acked_at=at + timedelta(minutes=3) if acked else None,
                acked_by="U1" if acked else None)
            if resolved_by is not None:
                incident.status = "resolved"
                incident.resolved_at = at + timedelta(minutes=30)
                incident.resolved_by = resolved_by or None
            s.add(row)
            s.add(incident)
            s.flush()
            s.add(IncidentAlert(incident_id=incident.id, alert_id=row.id))
            for i, verdict in enumerate(verdicts):
                s.add(FeedbackRow(incident_id=incident.id, user_id=f"U{i}", verdict=verdict,
                                  rule=name, team=team, at=at))
            if name == "ModelDown":  # a second alert joins the page the first one opened
                later = alert("ModelDown", kind, severity, at + timedelta(minutes=1))
                later.fingerprint = "ModelDown-2"
                s.add(later)
                s.flush()
                s.add(IncidentAlert(incident_id=incident.id, alert_id=later.id))
        s.add(alert("Maint", "infra", "critical", DAY))
        s.add(SilenceRow(matchers=['alertname="Maint"'], starts_at=DAY - timedelta(hours=14),
                         ends_at=DAY + timedelta(hours=10), created_by="U1", team=None))
        s.add(alert("TooOld", "infra", "critical", DAY - timedelta(days=40)))  # out of window
        s.commit()


@pytest.fixture(params=["sqlite", "postgres"])
def cli(request, tmp_path, monkeypatch):
    url = (request.getfixturevalue("postgres_url") if request.param == "postgres"
           else f"sqlite:///{tmp_path}/oncall.db")
    build_history(url)
    (tmp_path / "current.yaml").write_text(CURRENT)
    (tmp_path / "candidate.yaml").write_text(CANDIDATE)
    monkeypatch.setenv("ONCALL_CONFIG", str(tmp_path / "current.yaml"))
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, ["replay", "--at", AT, *args])
    run.url = url
    run.candidate = str(tmp_path / "candidate.yaml")
    return run


def test_figures_match_the_hand_made_history(cli):
    result = cli("--config", cli.candidate, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)

    assert set(report) == {"source", "window", "cases", "labels", "current", "candidate",
                           "changed", "calibration"}
    assert report["window"] == {"from": "2026-10-24T03:00:00+00:00",
                                "to": "2026-11-23T03:00:00+00:00"}
    assert set(report["current"]) == {"overall", "teams"}
    assert set(report["current"]["overall"]) == {
        "cases", "pages", "triage", "notifications", "digests", "silenced", "unrouted",
        "night_pages", "misroutes", "precision", "recall", "real", "paged_real",
        "paged_with_truth"}
    assert set(report["changed"][0]) == {"case", "alertname", "at", "real", "current",
                                         "candidate", "why"}
    assert report["cases"] == 11
    assert report["labels"] == {"explicit": 5, "weak": 4, "unknown": 2}
    current, candidate = report["current"]["overall"], report["candidate"]["overall"]
    assert (current["pages"], current["notifications"], current["silenced"]) == (8, 2, 1)
    assert (candidate["pages"], candidate["notifications"], candidate["silenced"]) == (5, 5, 1)
    assert (current["precision"], current["recall"]) == (0.625, 1.0)  # 5 of 8; 5 of 5
    assert (candidate["precision"], candidate["recall"]) == (0.8, 0.8)  # 4 of 5; 4 of 5
    assert (current["night_pages"], candidate["night_pages"]) == (1, 1)  # BackupFail
    assert (current["misroutes"], candidate["misroutes"]) == (1, 0)  # StripeDown moved
    ai_eng = report["current"]["teams"]["ai-eng"]
    assert (ai_eng["pages"], ai_eng["precision"], ai_eng["recall"]) == (4, 0.5, 1.0)
    assert report["candidate"]["teams"]["integrations"]["pages"] == 1
    changed = {c["alertname"]: (c["current"], c["candidate"]) for c in report["changed"]}
    assert changed == {
        "EvalDrift": ({"team": "ai-eng", "path": "page"}, {"team": "ai-eng", "path": "notify"}),
        "EvalFlake": ({"team": "ai-eng", "path": "page"}, {"team": "ai-eng", "path": "notify"}),
        "LatencyHigh": ({"team": "ai-eng", "path": "page"},
                        {"team": "ai-eng", "path": "notify"}),
        "StripeDown": ({"team": "platform", "path": "page"},
                       {"team": "integrations", "path": "page"}),
    }
    [stripe] = [c for c in report["changed"] if c["alertname"] == "StripeDown"]
    assert any('alert_type="tool"' in why for why in stripe["why"])
    assert report["calibration"] == {"scored": 0, "buckets": [], "recall_at_least": 0.95,
                                     "suggested": None}


def test_the_text_report_says_what_changed_and_how_many_labels_were_weak(cli):
    result = cli("--config", cli.candidate)
    assert result.exit_code == 0, result.output
    assert "Truth: 5 from feedback, 4 weak (handling), 2 unknown" in result.output
    assert "Paths changed: 4" in result.output
    assert "StripeDown (real): platform page → integrations page" in result.output
    rows = {line[:18].strip(): line[18:].split() for line in result.output.splitlines()}
    assert rows["precision"] == ["62.5%", "80.0%"] and rows["recall"] == ["100.0%", "80.0%"]
    assert rows["pages at night"] == ["1", "1"] and rows["misroutes"] == ["1", "0"]


def test_fail_under_recall_is_a_ci_gate(cli):
    assert cli("--config", cli.candidate, "--fail-under-recall", "0.9").exit_code == 1
    assert cli("--config", cli.candidate, "--fail-under-recall", "0.8").exit_code == 0
    assert cli("--fail-under-recall", "0.95").exit_code == 0  # the current config: recall 1


def test_replay_writes_nothing(cli):
    def counts() -> dict[str, int]:
        with Session(sync_engine(cli.url)) as s:
            return {t.name: s.exec(select(func.count()).select_from(t)).one()
                    for t in SQLModel.metadata.sorted_tables}
    before = counts()
    assert cli("--config", cli.candidate, "--json").exit_code == 0
    assert counts() == before
    assert before[OutboxIntent.__tablename__] == 0


def test_an_export_replays_without_history(cli, tmp_path):
    webhook = {"version": "4", "status": "firing", "receiver": "x", "groupLabels": {},
               "commonLabels": {}, "commonAnnotations": {}, "externalURL": "", "groupKey": "g",
               "alerts": [{"status": "firing", "startsAt": "2026-11-20T14:00:00Z",
                           "labels": {"alertname": "ModelDown", "alert_type": "model",
                                      "severity": "critical"}},
                          {"status": "firing", "startsAt": "2026-11-20T14:00:00Z",
                           "labels": {"alertname": "StripeDown", "alert_type": "tool",
                                      "severity": "critical"}}]}
    generic = {"labels": {"alertname": "Maint", "severity": "critical"},
               "startsAt": "2026-11-20T15:00:00Z"}  # in the silence's window: stays silenced
    export = tmp_path / "alerts.jsonl"
    export.write_text(json.dumps(webhook) + "\n\n" + json.dumps(generic) + "\n")

    result = cli("--config", cli.candidate, "--from", str(export), "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["source"] == "export" and report["cases"] == 3
    assert report["labels"] == {"explicit": 0, "weak": 0, "unknown": 3}
    assert report["current"]["overall"]["pages"] == 2
    assert report["current"]["overall"]["silenced"] == 1
    assert report["candidate"]["teams"]["integrations"]["pages"] == 1
    assert report["current"]["overall"]["precision"] is None


def test_a_broken_export_names_its_line(cli, tmp_path):
    export = tmp_path / "bad.jsonl"
    export.write_text('{"labels": {"alertname": "A"}, "startsAt": "2026-11-20T14:00:00Z"}'
                      '\nnot json\n')
    result = cli("--from", str(export))
    assert result.exit_code == 2
    assert "bad.jsonl:2: not JSON" in result.output


def test_since_and_from_together_are_refused(cli, tmp_path):
    assert cli("--since", "7d", "--from", str(tmp_path / "x.jsonl")).exit_code == 2
    assert CliRunner().invoke(app, ["replay", "--at", "yesterday"]).exit_code == 2


def test_without_a_database_an_export_still_replays_and_history_is_refused(tmp_path,
                                                                           monkeypatch):
    (tmp_path / "current.yaml").write_text(CURRENT)
    monkeypatch.setenv("ONCALL_CONFIG", str(tmp_path / "current.yaml"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/none.db")
    export = tmp_path / "alerts.jsonl"
    export.write_text(json.dumps({"labels": {"alertname": "A", "severity": "critical"},
                                  "startsAt": "2026-11-20T15:00:00Z"}) + "\n")
    runner = CliRunner()

    history = runner.invoke(app, ["replay"])
    exported = runner.invoke(app, ["replay", "--from", str(export), "--json"])

    assert history.exit_code == 2 and "no database at" in history.output
    assert exported.exit_code == 0 and json.loads(exported.output)["cases"] == 1
    assert not (tmp_path / "none.db").exists()  # reading never creates one


def test_truth_prefers_feedback_then_weak_labels():
    assert truth_of(["noise", "real"], worked_on=False, auto_resolved=True) == Truth(True)
    assert truth_of(["wrong_team"], worked_on=False, auto_resolved=False) == Truth(
        True, wrong_team=True)
    assert truth_of([], worked_on=True, auto_resolved=False) == Truth(True, weak=True)
    assert truth_of([], worked_on=False, auto_resolved=True) == Truth(False, weak=True)
    assert truth_of([], worked_on=False, auto_resolved=False) == Truth(None)


def test_calibration_buckets_and_suggested_thresholds():
    scored = [(0.95, True), (0.9, True), (0.85, False), (0.7, True), (0.6, False),
              (0.3, False), (0.2, False), (1.0, True)]
    buckets = [(b.low, b.high, b.cases, b.real) for b in calibration(scored)]
    assert buckets == [(0.2, 0.3, 1, 0), (0.3, 0.4, 1, 0), (0.6, 0.7, 1, 0),
                       (0.7, 0.8, 1, 1), (0.8, 0.9, 1, 0), (0.9, 1.0, 3, 3)]
    # recall >= 0.75 keeps 3 of 4 reals: page_at 0.9 pages 3, all real
    at_75 = suggest(scored, 0.75)
    assert (at_75.page_at, at_75.triage_at, at_75.precision, at_75.recall) == (0.9, 0.7, 1, 0.75)
    # recall 1 needs 0.7: pages 0.7, 0.85, 0.9, 0.95, 1.0 -> 4 of 5 real
    at_100 = suggest(scored, 1.0)
    assert (at_100.page_at, at_100.precision) == (0.7, 0.8)
    assert suggest([(0.5, False)], 0.9) is None


def test_routing_is_cached_by_label_set():
    from bot.config import parse_config
    from bot.domain.replay import Case
    from bot.services.replay import Replayer

    replayer = Replayer(parse_config(CURRENT))
    labels = {"alertname": "A", "severity": "critical"}
    for minute in range(50):
        replayer.path(Case(key="x", labels=dict(labels), annotations={},
                           at=DAY + timedelta(minutes=minute)))
    assert len(replayer._routes) == 1  # one label set, routed once




def test_replay_weighs_scores_against_the_candidates_thresholds(tmp_path):
    """A paging route that gains `confidence:` in the candidate sends a middling score to
    triage and a low one to the digest; the calibration table counts the scored cases."""
    from bot.services.replay import Replayer, own_score

    current = parse_config(_SCORED_CONFIG)
    candidate = parse_config(_SCORED_CONFIG.replace(
        "action: page", "action: page\n      confidence: {page_at: 0.8, triage_at: 0.5}"))
    at = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    cases = [Case(key=f"c{i}", labels={"alertname": "EvalDrop", "alert_type": "model",
                                       "severity": "critical", "confidence": score},
                  annotations={}, at=at) for i, score in enumerate(["0.9", "62%", "0.2"])]
    before = [Replayer(current).path(c).path for c in cases]
    after = [Replayer(candidate).path(c) for c in cases]
    assert before == ["page", "page", "page"]
    assert [p.path for p in after] == ["page", "triage", "digest"]
    assert any("triage: 0.5 ≤ 0.62 < page_at 0.8" in why for why in after[1].why)
    assert [own_score(current, c.labels, c.annotations) for c in cases] == [0.9, 0.62, 0.2]


_SCORED_CONFIG = """
teams:
  ai-eng: {channel: "#ai-eng"}
route:
  receiver: ai-eng
  routes:
    - matchers: ['alert_type="model"']
      receiver: ai-eng
      action: page
"""


def test_replay_weighs_context_rules_with_the_changes_noise_and_maintenance_of_then():
    """A candidate's context rules see the deploy 10 minutes before an alert (not the one an
    hour after), the noise verdicts before it, and the team's maintenance window at that time."""
    from bot.domain.changes import ChangeLine
    from bot.services.replay import History, Replayer

    rules = """
context:
  - name: fresh-deploy
    after_change: {kinds: [deploy], within: 30m}
    demote_to: notify
  - name: dismissed-as-noise
    recent_noise: {dismissed_at_least: 2, within: 7d}
    demote_to: triage
  - name: maintenance
    maintenance: true
    demote_to: digest
"""
    candidate = parse_config(_SCORED_CONFIG + rules)
    at = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    history = History(
        changes=[ChangeLine(service="voice", kind="deploy", version="v2", author="ci", url="",
                            summary="", at=at - timedelta(minutes=10))],
        noise={"Flaky": [at - timedelta(days=1), at - timedelta(days=2), at + timedelta(hours=1)]},
        maintenance=[("ai-eng", at + timedelta(hours=2), at + timedelta(hours=3))])
    replayer = Replayer(candidate, history=history)

    def path(alertname, service, when):
        return replayer.path(Case(key=alertname, annotations={}, at=when, labels={
            "alertname": alertname, "alert_type": "model", "service": service}))

    deployed = path("EvalDrop", "voice", at)
    assert deployed.path == "notify"
    assert any("deploy v2 of voice" in why and "fresh-deploy" in why for why in deployed.why)
    assert path("EvalDrop", "voice", at + timedelta(hours=1)).path == "page"  # deploy too old
    assert path("Flaky", "chat", at).path == "triage"  # two noise verdicts in the week before
    assert path("Flaky", "chat", at - timedelta(days=1, hours=1)).path == "page"  # one before
    assert path("Other", "chat", at + timedelta(hours=2, minutes=30)).path == "digest"
    assert path("Other", "chat", at + timedelta(hours=4)).path == "page"
