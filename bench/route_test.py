"""How fast does `oncall-bot route test --from` answer, and can a regex stall it?

    python bench/route_test.py [N]

Prints label sets per second of CPU time for a generated 50-node route tree (target: 20,000
a second in one process): `answer_lines` alone, then with the repository's runbooks loaded
(as the CLI does), then the `oncall-bot route test --from FILE` command itself, start-up
included (its CPU time, without a database). Then the time to match a 4 KB label value
against pathological regexes (target: under a millisecond; a backtracking engine takes
seconds to years). CPU time, because the machine may be shared: run it a few times.
Measured 2026-12-03 on a shared 2-core machine: 48,000-56,000 a second (answer_lines, with
and without runbooks), 19,000-22,000 for the whole command on 100,000 lines; README
("label sets") carries the figures.
"""

from __future__ import annotations

import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.config import parse_config
from bot.domain.matchers import compile_regex
from bot.domain.runbook_loader import load_runbooks
from bot.routing_report import RouteReporter, answer_lines

ROOT = Path(__file__).resolve().parent.parent

TEAMS = ["platform", "ai-eng", "integrations", "finops"]
KINDS = ["infra", "model", "tool", "cost", "quality", "provider", "other"]
REGEXES = ["(?i)crit.*", "svc-[0-9]+", "Alert(1|2|3)\\d", "\\pL+", ".*-eu|prod", "(a+)+b"]


def tree_text(rng: random.Random, nodes: int = 50) -> str:
    """A route block of `nodes` nodes, nested up to 4 deep, with regexes and continue."""
    lines, count = [], 0

    def node(depth: int, indent: str) -> None:
        nonlocal count
        count += 1
        name = rng.choice(["alert_type", "severity", "service", "alertname", "env"])
        if rng.random() < 0.5:
            matcher = f'{name}=~"{rng.choice(REGEXES)}"'
        else:
            matcher = f'{name}="{rng.choice(KINDS)}"'
        lines.append(f"{indent}- matchers: ['{matcher}']")
        lines.append(f"{indent}  receiver: {rng.choice(TEAMS)}")
        if rng.random() < 0.3:
            lines.append(f"{indent}  continue: true")
        if depth < 4 and count < nodes and rng.random() < 0.5:
            lines.append(f"{indent}  routes:")
            for _ in range(rng.randint(1, 3)):
                if count < nodes:
                    node(depth + 1, indent + "    ")

    while count < nodes - 1:
        node(1, "    ")
    teams = "".join(f'  {t}: {{channel: "#{t}"}}\n' for t in TEAMS)
    return f"teams:\n{teams}route:\n  receiver: platform\n  routes:\n" + "\n".join(lines) + "\n"


def label_sets(rng: random.Random, n: int) -> list[str]:
    return [json.dumps({"alertname": f"Alert{rng.randrange(200)}",
                        "alert_type": rng.choice(KINDS),
                        "severity": rng.choice(["critical", "warning", "info"]),
                        "service": f"svc-{rng.randrange(30)}",
                        "env": rng.choice(["prod", "prod-eu", "staging"])}) for _ in range(n)]


def answers_per_second(n: int, with_runbooks: bool = False) -> tuple[int, float]:
    rng = random.Random(7)
    config = parse_config(tree_text(rng))
    runbooks = load_runbooks(ROOT / "runbooks")[0] if with_runbooks else ()
    reporter = RouteReporter(config, time_now(), None, runbooks)  # no database: no holds
    lines = label_sets(rng, n)
    started = time.process_time()  # CPU time: the machine may be shared with other work
    answered = sum(1 for _ in answer_lines(reporter, io.StringIO("\n".join(lines))))
    return answered, time.process_time() - started


def cli_per_second(n: int) -> tuple[int, float]:
    """`oncall-bot route test --from FILE` as a user runs it: its CPU time, start-up included."""
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as folder:
        config, labels = Path(folder, "oncall.yaml"), Path(folder, "labels.jsonl")
        config.write_text(tree_text(rng) + f"runbooks_dir: {ROOT / 'runbooks'}\n")
        labels.write_text("\n".join(label_sets(rng, n)) + "\n")
        env = {**os.environ, "ONCALL_CONFIG": str(config),
               "DATABASE_URL": f"sqlite:///{folder}/absent.db"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run([Path(sys.executable).with_name("oncall-bot"), "route", "test",
                               "--from", labels], env=env, capture_output=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done.stdout.count(b"\n"), cpu


def time_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)  # wall clock ok: a benchmark


def pathological_match_ms() -> dict[str, float]:
    value = "a" * 4096
    timings = {}
    for pattern in ["(a+)+b", "(a|a)+b", "(a*)*b", "(.*a){12}b", "(x+x+)+y"]:
        regex = compile_regex(pattern)
        started = time.perf_counter()
        regex.matches(value)
        timings[pattern] = (time.perf_counter() - started) * 1000
    return timings


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    for what, (answered, elapsed) in [
            ("answer_lines", answers_per_second(n)),
            ("answer_lines with runbooks", answers_per_second(n, with_runbooks=True)),
            ("oncall-bot route test --from (start-up included)", cli_per_second(n))]:
        print(f"{what}, 50-node tree: {answered} label sets in {elapsed:.2f} s CPU "
              f"= {answered / elapsed:,.0f} per second (target 20,000)")
    for pattern, ms in pathological_match_ms().items():
        print(f"4 KB value against {pattern!r}: {ms:.3f} ms (target < 1 ms)")


if __name__ == "__main__":
    main()
