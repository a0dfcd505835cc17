"""What `oncall-bot serve` logs: one line at start, one at SIGTERM, no noise in between."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from bot import jobs
from tests.appkit import (
    ALERT_TOKEN,
    BOT_TOKEN,
    CHANNELS,
    CONFIG,
    SIGNING_SECRET,
    payload,
)
from tests.fakes.slack_api import FakeSlack

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _infra_alert() -> dict:
    body = payload("alertmanager/firing-cost-spike.json")
    body["alerts"][0]["labels"] |= {"alert_type": "infra", "alertname": "DiskFull",
                                    "severity": "critical"}
    return body


async def _read_until(stream: asyncio.StreamReader, lines: list[str], needle: str) -> None:
    while not any(needle in line for line in lines):
        line = await asyncio.wait_for(stream.readline(), timeout=90)
        assert line, "the bot exited:\n" + "".join(lines)
        lines.append(line.decode())


async def test_serve_logs_one_line_at_start_and_what_is_pending_at_sigterm(tmp_path):
    slack = FakeSlack(bot_token=BOT_TOKEN)
    for channel_id, name in CHANNELS.items():
        slack.add_channel(channel_id, name)
    await slack.start()
    slack.fail_next("chat.postMessage", status=429, retry_after=300)  # the post must wait
    (tmp_path / "oncall.yaml").write_text(CONFIG)
    port = _free_port()
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": slack.base_url, "DATABASE_URL": f"sqlite:///{tmp_path}/oncall.db",
           "ONCALL_CONFIG": str(tmp_path / "oncall.yaml"), "ALERT_WEBHOOK_TOKEN": ALERT_TOKEN,
           "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "INFO"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    lines: list[str] = []
    try:
        await _read_until(proc.stdout, lines, "listening on")
        async with aiohttp.ClientSession() as http, http.post(
                f"http://127.0.0.1:{port}/alerts/alertmanager", json=_infra_alert(),
                headers={"Authorization": f"Bearer {ALERT_TOKEN}"}) as answer:
            assert answer.status == 202
        await _read_until(proc.stdout, lines, "HTTP/1.1")  # the webhook's access log line
        while not slack.calls_to("chat.postMessage"):  # delivery tried, got a 429
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(proc.stdout.read(), timeout=60)
        lines += rest.decode().splitlines(keepends=True)
        assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
        await slack.stop()

    text = "".join(lines)
    [start] = [line for line in lines if "listening on" in line]
    assert f"oncall-bot 0.1.0 listening on http://127.0.0.1:{port} (HTTP" in start
    assert "database sqlite; 4 teams in #ai-eng-oncall, #finops, #integrations-oncall" in start
    [stop] = [line for line in lines if "stopping" in line]
    assert "stopping: 1 outbox intent(s) still pending (oldest" in stop
    assert "will be unused" not in text  # SLACK_BOT_TOKEN is in the environment
    assert "apscheduler" not in text and "Running on" not in text, text


def test_scheduler_runs_are_debug_and_its_warnings_stay(caplog):
    jobs.quiet_job_runs()
    executor = logging.getLogger("apscheduler.executors.default")
    with caplog.at_level(logging.INFO):
        executor.info('Running job "%s" (scheduled at %s)', "weekly noise review", "now")
        executor.warning('Run time of job "%s" was missed by %s', "weekly noise review", "1s")
    assert [(r.levelname, r.getMessage()[:20]) for r in caplog.records] == [
        ("WARNING", 'Run time of job "wee')]
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        executor.info('Job "%s" executed successfully', "outbox delivery")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("DEBUG", 'Job "outbox delivery" executed successfully')]
