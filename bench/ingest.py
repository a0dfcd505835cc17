"""Durable ingest against Alertmanager's own in-memory ingest, side by side, in one run.

    python bench/ingest.py [--alerts 10000] [--single 2000] [--senders 8] [--skip-postgres]

Starts a real Alertmanager (its /api/v2/alerts, batches of 100) and the bot in a process of
its own (its /alerts/alertmanager, 100 alerts per webhook; then 1 alert per webhook) on SQLite
and on PostgreSQL, `--senders` concurrent senders each. Every target is a fresh process, so
its CPU time (from /proc) and RSS are its own. Prints alerts/s, CPU ms per alert, the bot's
cost per alert in a webhook of 100 and of 10,000 alerts, and RSS after `--alerts` alerts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TICKS = os.sysconf("SC_CLK_TCK")
BOT_STARTS_AT = "2026-11-23T02:59:00Z"  # before the bot's fake clock (03:00)


def alert(n: int, starts_at: str, groups: int = 1000) -> dict:
    return {"labels": {"alertname": f"Storm{n % groups}", "alert_type": "model",
                       "severity": "warning", "pod": f"pod-{n}"},
            "annotations": {"summary": f"storm alert {n}"}, "startsAt": starts_at,
            "generatorURL": "http://prometheus.local/graph"}


def webhook(numbers, groups: int = 1000) -> dict:
    """An Alertmanager webhook (version 4) with these alerts, each its own fingerprint."""
    return {"version": "4", "status": "firing", "receiver": "oncall", "groupKey": "{}:{}",
            "truncatedAlerts": 0,
            "alerts": [{"status": "firing", "fingerprint": f"{n:016x}",
                        **alert(n, BOT_STARTS_AT, groups)} for n in numbers]}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Figures:
    name: str
    rate: float = 0.0  # alerts/s, 100 per request
    cpu_ms: float = 0.0  # process CPU per alert
    single_rate: float | None = None  # alerts/s, 1 per request
    cost_100: float | None = None  # CPU ms per alert, one webhook of 100
    cost_10k: float | None = None  # CPU ms per alert, one webhook of 10,000
    rss: float = 0.0
    errors: dict[int, int] = field(default_factory=dict)


async def send_all(url: str, bodies: list, senders: int, headers: dict,
                   errors: dict[int, int]) -> float:
    """POST every body with `senders` concurrent senders; seconds it took."""
    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(json.dumps(body).encode())

    async def sender(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            data = queue.get_nowait()
            while True:
                async with http.post(url, data=data, headers=headers) as response:
                    await response.read()
                    if response.status < 300:
                        break
                    errors[response.status] = errors.get(response.status, 0) + 1
                    await asyncio.sleep(0.1)  # as a sender would: retry the same body

    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        await asyncio.gather(*(sender(http) for _ in range(senders)))
    return time.monotonic() - started


async def measure(name: str, pid: int, url: str, headers: dict, make, total: int,
                  senders: int) -> tuple[float, float, dict[int, int]]:
    """(alerts/s, CPU ms per alert, error statuses) for `total` alerts in batches of 100."""
    bodies = [make([n for n in range(start, min(start + 100, total))])
              for start in range(0, total, 100)]
    errors: dict[int, int] = {}
    cpu = cpu_seconds(pid)
    took = await send_all(url, bodies, senders, headers, errors)
    used = cpu_seconds(pid) - cpu
    print(f"  {name}: {total:,} alerts in {took:.1f} s", flush=True)
    return total / took, used * 1000 / total, errors


async def bench_alertmanager(total: int, senders: int) -> Figures:
    from tests.harness.alertmanager import NULL_CONFIG, Alertmanager

    am = Alertmanager.start(NULL_CONFIG)
    try:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        figures = Figures("Alertmanager 0.25 (memory)")
        figures.rate, figures.cpu_ms, figures.errors = await measure(
            "alertmanager", am.proc.pid, f"{am.url}/api/v2/alerts",
            {"Content-Type": "application/json"},
            lambda ns: [alert(n, now) for n in ns], total, senders)
        figures.rss = rss_mb(am.proc.pid)
        return figures
    finally:
        am.stop()


async def bench_bot(name: str, url: str, total: int, single: int, senders: int) -> Figures:
    from tests.appkit import ALERT_TOKEN

    proc = subprocess.Popen([sys.executable, __file__, "--serve", url], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        base = proc.stdout.readline().strip()
        endpoint = f"{base}/alerts/alertmanager"
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {ALERT_TOKEN}"}
        figures = Figures(name)
        figures.rate, figures.cpu_ms, figures.errors = await measure(
            name, proc.pid, endpoint, headers,
            webhook, total, senders)
        figures.rss = rss_mb(proc.pid)
        offset = total
        bodies = [webhook([offset + n]) for n in range(single)]
        took = await send_all(endpoint, bodies, senders, headers, figures.errors)
        figures.single_rate = single / took
        print(f"  {name}: {single:,} webhooks of 1 alert in {took:.1f} s", flush=True)
        costs = []
        for size in (100, 10_000):
            offset += 20_000
            body = webhook(range(offset, offset + size), groups=100)
            cpu = cpu_seconds(proc.pid)
            await send_all(endpoint, [body], 1, headers, figures.errors)
            costs.append((cpu_seconds(proc.pid) - cpu) * 1000 / size)
        figures.cost_100, figures.cost_10k = costs
        return figures
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def table(rows: list[Figures], senders: int) -> str:
    def num(value: float | None, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    lines = [f"| figure ({senders} senders) | " + " | ".join(r.name for r in rows) + " |",
             "|---|" + "---|" * len(rows)]
    lines.append("| alerts/s, 100 per request | " + " | ".join(
        num(r.rate, ",.0f") for r in rows) + " |")
    lines.append("| alerts/s, 1 per request | " + " | ".join(
        num(r.single_rate, ",.0f") for r in rows) + " |")
    lines.append("| CPU ms per alert (100 per request) | " + " | ".join(
        num(r.cpu_ms, ".3f") for r in rows) + " |")
    lines.append("| CPU ms per alert, one webhook of 100 / of 10,000 | " + " | ".join(
        "—" if r.cost_100 is None else f"{r.cost_100:.3f} / {r.cost_10k:.3f}" for r in rows)
        + " |")
    lines.append("| RSS after the first run, MB | " + " | ".join(
        num(r.rss, ".0f") for r in rows) + " |")
    lines.append("| requests answered non-2xx | " + " | ".join(
        ", ".join(f"{k}: {v}" for k, v in sorted(r.errors.items())) or "0" for r in rows)
        + " |")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> None:
    rows = [await bench_alertmanager(args.alerts, args.senders)]
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(await bench_bot("bot, SQLite", f"sqlite:///{tmp}/bench.db", args.alerts,
                                    args.single, args.senders))
    if not args.skip_postgres:
        from tests.harness.postgres import PostgresServer

        server = PostgresServer.start()
        try:
            rows.append(await bench_bot("bot, PostgreSQL", server.create_database(),
                                        args.alerts, args.single, args.senders))
        finally:
            server.stop()
    print(f"\nload average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(table(rows, args.senders))


async def serve(url: str) -> None:
    """The bot alone in this process (delivery off): what the figures measure."""
    from tests.appkit import start_bot

    bot = await start_bot(url)
    print(bot.url, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await bot.close()
        await bot.slack.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--single", type=int, default=2_000)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        import signal

        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # nothing to clean up here
        asyncio.run(serve(args.serve))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
