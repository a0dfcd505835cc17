"""`oncall-bot serve` as its own process, configured by its environment as an operator would:
what the replica tests and the benches that measure the bot from outside start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.appkit import ALERT_TOKEN, BOT_TOKEN, SIGNING_SECRET
from tests.fakes.slack_api import FakeSlack


def serve_process(workdir: Path, name: str, slack: FakeSlack, database_url: str, port: int, *,
                  config_text: str, **extra_env: str) -> subprocess.Popen:
    """Start `python -m bot serve` on `port` against the Slack stand-in; its log goes to
    `workdir/serve-<name>.log`, its config to `workdir/oncall.yaml`."""
    config = Path(workdir) / "oncall.yaml"
    config.write_text(config_text)
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": slack.base_url, "DATABASE_URL": database_url,
           "ONCALL_CONFIG": str(config), "ALERT_WEBHOOK_TOKEN": ALERT_TOKEN,
           "PORT": str(port), "HOST": "127.0.0.1", "LOG_LEVEL": "WARNING", **extra_env}
    env.pop("SLACK_APP_TOKEN", None)
    return subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=(Path(workdir) / f"serve-{name}.log").open("a"))


def stop_processes(procs: list[subprocess.Popen]) -> None:
    """Kill whatever still runs and reap every process (a test may have SIGKILLed one)."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
