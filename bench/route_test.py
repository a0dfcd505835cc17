"""How fast does `oncall-bot route test --from` answer? Prints label sets per second.

    python bench/route_test.py [N]
"""

from __future__ import annotations

import io
import json
import random
import sys
import time
from pathlib import Path

from bot.config import load_config
from bot.routing_report import answer_lines

ROOT = Path(__file__).resolve().parents[1]


def label_sets(n: int) -> list[str]:
    rng = random.Random(7)
    kinds = ["infra", "model", "tool", "cost", "quality", "provider", "other"]
    return [json.dumps({"alertname": f"Alert{rng.randrange(200)}", "alert_type": rng.choice(kinds),
                        "tool_name": rng.choice(["stripe", "twilio", "calendar", "unknown"]),
                        "severity": rng.choice(["critical", "warning", "info"]),
                        "service": f"svc-{rng.randrange(30)}"}) for _ in range(n)]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    config = load_config(ROOT / "oncall.example.yaml")
    lines = label_sets(n)
    started = time.perf_counter()
    answers = sum(1 for _ in answer_lines(config, io.StringIO("\n".join(lines))))
    elapsed = time.perf_counter() - started
    print(f"route test --from: {answers} label sets in {elapsed:.2f} s "
          f"= {answers / elapsed:,.0f} per second")


if __name__ == "__main__":
    main()
