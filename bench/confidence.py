"""What does the confidence step cost per routed alert, outside the database?

    python bench/confidence.py [N]

Reads a score (label, percentage, or a prior from `sources:`) and runs `decide` against a
route's thresholds for N alerts, the pure part ingest and replay run for every routed alert,
and prints decisions per second.
"""

from __future__ import annotations

import random
import sys
import time

from bot.domain.alert_path import decide
from bot.domain.alerts import Action
from bot.domain.confidence import ConfidenceSpec, read_score

PRIORS = {"detector=evals": 0.7, "host:anomaly.example.com": 0.6, "source:grafana": 0.5}
SPEC = ConfidenceSpec(page_at=0.8, triage_at=0.5)


def label_sets(n: int) -> list[dict[str, str]]:
    rng = random.Random(13)
    forms = [lambda: f"{rng.random():.2f}", lambda: f"{rng.randint(0, 100)}%",
             lambda: str(rng.randint(2, 100)), lambda: None, lambda: "high"]
    sets = []
    for i in range(n):
        labels = {"alertname": f"Alert{i % 50}", "detector": rng.choice(["evals", "anomaly"])}
        value = rng.choice(forms)()
        if value is not None:
            labels["confidence"] = value
        sets.append(labels)
    return sets


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    sets = label_sets(n)
    thresholds = SPEC.thresholds("route quality")
    started = time.perf_counter()  # wall clock ok: a benchmark
    paths = {}
    for labels in sets:
        reading = read_score(labels, {}, "confidence", PRIORS, source="alertmanager")
        action = decide(Action.PAGE, reading.score, thresholds).action
        paths[action] = paths.get(action, 0) + 1
    took = time.perf_counter() - started  # wall clock ok: a benchmark
    print(f"{n} alerts in {took:.2f} s: {n / took:,.0f} decisions a second")
    print(", ".join(f"{action.value} {count}" for action, count in sorted(paths.items())))


if __name__ == "__main__":
    main()
