"""Business time comes from the injected clock: a wall-clock read makes tests pass today and
fail next month (as `date.today()` in `/oncall action ... due` did on 2026-12-02)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = [ROOT / "bot", ROOT / "commands"]
WALL_CLOCK = {("date", "today"), ("datetime", "now"), ("datetime", "utcnow"),
              ("datetime", "today"), ("time", "time")}
# The clock itself, and the Slack stand-in (it plays a remote server with its own clock).
ALLOWED = {ROOT / "bot/services/context.py"}
ALLOWED_DIRS = {ROOT / "bot/devtools"}
MARK = "# wall clock ok"


def wall_clock_reads(path: Path, root: Path = ROOT) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
        if (name, node.func.attr) in WALL_CLOCK and MARK not in lines[node.lineno - 1]:
            found.append(f"{path.relative_to(root)}:{node.lineno}: {name}.{node.func.attr}()")
    return found


def test_product_code_reads_time_only_from_the_injected_clock():
    files = [p for base in PRODUCT for p in base.rglob("*.py")
             if p not in ALLOWED and not any(d in p.parents for d in ALLOWED_DIRS)]
    offenders = [hit for path in files for hit in wall_clock_reads(path)]
    assert offenders == [], ("use ctx.clock.now(); mark a deliberate wall-clock read "
                             f"(signature freshness) with '{MARK}':\n" + "\n".join(offenders))


def test_the_guard_finds_a_wall_clock_read(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import datetime\nfrom datetime import date\n"
                      "a = date.today()\nb = datetime.datetime.now()\n"
                      "c = datetime.datetime.now()  # wall clock ok\n")
    assert wall_clock_reads(sample, tmp_path) == ["sample.py:3: date.today()",
                                                  "sample.py:4: datetime.now()"]
