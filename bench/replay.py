"""How long `oncall-bot replay` takes over a large history (the issue asks: 100,000 in < 1 min).

    python bench/replay.py [--alerts 100000] [--database-url sqlite:///...]

Generates `--alerts` stored alerts over 30 days (about 300 distinct label sets, one incident
per alert, some acked, some resolved at the source, one in ten with a feedback verdict, a few
silences), then times the whole replay (bulk reads, routing through the current and a candidate
config, figures, the text report) and prints the figures and the time. The generation is not
timed. A shared, loaded machine stretches the wall time; the CPU time is printed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from bot.config import parse_config
from bot.replay_run import report_lines
from bot.store.db import migrate, sync_engine
from bot.store.models import AlertRow, FeedbackRow, IncidentAlert, IncidentRow, SilenceRow

END = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
TEAMS = """
teams:
  platform: {channel: "#platform-oncall", time_zone: Europe/Berlin}
  ai-eng: {channel: "#ai-eng-oncall", time_zone: America/New_York}
  integrations: {channel: "#integrations-oncall"}
tool_owners: {stripe: integrations}
"""
CURRENT = TEAMS + """
route:
  receiver: platform
  group_by: [alertname]
  action: notify
  routes:
    - {matchers: ['alert_type="model"'], receiver: ai-eng, action: page}
    - {matchers: ['alert_type="tool"'], receiver_from_label: tool_name, receiver: platform}
    - {matchers: ['severity="critical"'], receiver: platform, action: page}
"""
CANDIDATE = TEAMS + """
route:
  receiver: platform
  group_by: [alertname]
  action: notify
  routes:
    - {matchers: ['alert_type="model"', 'severity="warning"'], receiver: ai-eng, action: notify}
    - {matchers: ['alert_type="model"'], receiver: ai-eng, action: page}
    - {matchers: ['alert_type="tool"'], receiver_from_label: tool_name, receiver: platform,
       action: page}
    - {matchers: ['severity="critical"'], receiver: platform, action: page}
"""
KINDS = ("model", "infra", "tool")
SEVERITIES = ("critical", "warning")
VERDICTS = ("real", "noise", "wrong_team", "should_have_paged", "should_not_have_paged")


def generate(url: str, alerts: int, seed: int = 13) -> None:
    rnd = random.Random(seed)
    start = END - timedelta(days=30)
    alert_rows, incident_rows, links, feedback = [], [], [], []
    for n in range(1, alerts + 1):
        at = start + timedelta(seconds=rnd.randrange(30 * 86400))
        labels = {"alertname": f"Rule{rnd.randrange(50)}", "alert_type": rnd.choice(KINDS),
                  "severity": rnd.choice(SEVERITIES), "tool_name": rnd.choice(("stripe", "s3"))}
        alert_rows.append({"id": n, "source": "alertmanager", "fingerprint": f"{n:016x}",
                           "starts_at": at, "status": "resolved", "labels": labels,
                           "annotations": {}, "first_seen": at, "last_seen": at,
                           "deliveries": 1, "generator_url": ""})
        acked = rnd.random() < 0.4
        incident_rows.append({
            "id": n, "group_key": f"g{n}", "route_key": "r", "team": "platform", "channel": "C",
            "action": "page", "title": labels["alertname"], "status": "resolved",
            "opened_at": at, "acked_at": at + timedelta(minutes=4) if acked else None,
            "acked_by": "U1" if acked else None, "resolved_at": at + timedelta(minutes=40),
            "resolved_by": "U1" if acked and rnd.random() < 0.5 else None, "rationale": {},
            "truncated_at_source": 0, "escalation_step": 0, "unowned": False,
            "humans_mode": False, "auto_resolved_in_hold": False})
        links.append({"incident_id": n, "alert_id": n})
        if rnd.random() < 0.1:
            feedback.append({"incident_id": n, "user_id": "U1", "verdict": rnd.choice(VERDICTS),
                             "rule": labels["alertname"], "route_key": "r", "team": "platform",
                             "source": "button", "at": at})
    migrate(url)
    engine = sync_engine(url)
    with engine.begin() as conn:
        for table, rows in ((AlertRow, alert_rows), (IncidentRow, incident_rows),
                            (IncidentAlert, links), (FeedbackRow, feedback)):
            for chunk in range(0, len(rows), 5000):
                conn.execute(insert(table), rows[chunk:chunk + 5000])
        conn.execute(insert(SilenceRow), [
            {"matchers": [f'alertname="Rule{i}"'], "starts_at": start + timedelta(days=i),
             "ends_at": start + timedelta(days=i, hours=6), "created_by": "U1", "team": None,
             "comment": "", "suppressed": 0} for i in range(5)])
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/replay-bench.db"
    began = time.monotonic()
    generate(url, args.alerts)
    print(f"generated {args.alerts} alerts in {time.monotonic() - began:.1f} s")
    began, cpu = time.monotonic(), time.process_time()
    lines, _ = asyncio.run(report_lines(
        url, parse_config(CURRENT), parse_config(CANDIDATE), end=END,
        since=timedelta(days=30), export_path=None, as_json=False, recall_at_least=0.95,
        fail_under_recall=None))
    took, cpu = time.monotonic() - began, time.process_time() - cpu
    print("\n".join(lines[:22]))
    print(f"replayed {args.alerts} alerts in {took:.1f} s wall, {cpu:.1f} s CPU "
          f"(goal: under 60 s; the CPU figure is what a busy machine does not hide)")


if __name__ == "__main__":
    main()
