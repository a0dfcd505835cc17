"""`oncall-bot check`: every problem of the config, runbooks, environment and Slack in one run.

It changes nothing: no channel is joined (it says which ones `serve` will join), nothing is
sent. Exit codes: 0 ok, 1 problems found, 2 the check itself could not run (the config file
is unreadable, Slack is unreachable) and found nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from bot.config import (
    ConfigError,
    ConfigProblem,
    OncallConfig,
    config_key_lines,
    line_for,
    load_config,
)
from bot.settings import Settings
from bot.slack.transport.preflight import SlackTargets, check_slack

USER_ID = re.compile(r"^[UW][A-Z0-9]{6,}$")
GROUP_ID = re.compile(r"^S[A-Z0-9]{6,}$")
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
# Free-form values (label matchers, tool names, patterns, HTTP headers) are not Slack ids.
NOT_SLACK = frozenset({"route", "tool_owners", "redact", "headers", "severity_policies"})
MANIFEST = Path(__file__).resolve().parents[1] / "app_manifest.yaml"


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    could_not_run: list[str] = field(default_factory=list)
    teams: int = 0

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 2 if self.could_not_run else 0


async def run_check(settings: Settings, path: str, environ: Mapping[str, str], *,
                    offline: bool = False) -> Report:
    report = Report()
    try:
        Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        report.could_not_run.append(f"{path}: cannot read: {exc.strerror}")
        return report
    config, partial, problems = _load(path)
    if partial is not None:
        problems += env_var_problems(partial, environ, path, config_key_lines(path))
    report.problems += [str(p) for p in sorted(problems, key=lambda p: p.sort_key)]
    if config is not None:
        report.teams = len(config.teams)
        report.problems += [str(p) for p in runbook_problems(config.runbooks_dir, config)
                            if p.severity == "error"]
    report.problems += [f"environment: {p}" for p in environment_problems(settings)]
    if offline:
        report.notes.append("offline: Slack was not asked (token, scopes, channels, users)")
    elif config is not None and settings.secret("slack_bot_token"):
        await _slack(settings, config, report)
    return report


def _load(path: str) -> tuple[OncallConfig | None, OncallConfig | None, list[ConfigProblem]]:
    """(the config if valid, what of it validated, its problems)."""
    try:
        config = load_config(path)
        return config, config, []
    except ConfigError as exc:
        return None, exc.partial, list(exc.problems)


async def _slack(settings: Settings, config: OncallConfig, report: Report) -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(token=settings.secret("slack_bot_token"),
                            base_url=settings.slack_api_url, timeout=10)
    try:
        found = await check_slack(client, slack_targets(config), manifest_scopes())
    except Exception as exc:  # network: Slack could not be asked, which is not a finding
        report.could_not_run.append(f"slack: could not reach Slack to check: {exc}")
        return
    report.problems += [f"slack: {p}" for p in found.problems]
    if found.will_join:
        report.notes.append(f"serve will join: {', '.join(found.will_join)}")


def manifest_scopes(manifest: Path = MANIFEST) -> list[str]:
    if not manifest.exists():
        return []
    return yaml.safe_load(manifest.read_text())["oauth_config"]["scopes"]["bot"]


def env_var_problems(config: OncallConfig, environ: Mapping[str, str], filename: str,
                     lines: dict[str, int]) -> list[ConfigProblem]:
    """Every `*_env` the pagers, hooks and handoff name must be set and not empty (one problem
    per variable, at its first use)."""
    uses: dict[str, list[str]] = {}
    for key, name in _walk(config):
        if key.endswith("_env") and isinstance(name, str) and not environ.get(name, "").strip():
            uses.setdefault(name, []).append(key)
    found = []
    for name, keys in uses.items():
        what = "is empty" if name in environ else "is not set"
        also = f" (also used by {', '.join(keys[1:])})" if keys[1:] else ""
        found.append(ConfigProblem(filename, keys[0], f"environment variable {name} {what}{also}",
                                   line_for(keys[0], lines)))
    return found


def slack_targets(config: OncallConfig) -> SlackTargets:
    """Channels, users and user groups named anywhere in the config, with a key naming each."""
    channels, users, groups = {}, {}, {}
    for key, value in _walk(config.model_dump(mode="json", by_alias=True), skip=NOT_SLACK):
        if not isinstance(value, str):
            continue
        last = key.rsplit(".", 1)[-1]
        if last in ("channel", "status_channel") or (".notify[" in key and (
                value.startswith("#") or CHANNEL_ID.match(value))):
            channels.setdefault(value, key)
        elif USER_ID.match(value):
            users.setdefault(value, key)
        elif GROUP_ID.match(value):
            groups.setdefault(value, key)
    return SlackTargets(channels, users, groups)


def _walk(node: Any, path: str = "", skip: frozenset[str] = frozenset()) -> Iterator[
        tuple[str, Any]]:
    if isinstance(node, BaseModel):  # walked by attribute: a salvaged model may not dump
        node = dict(node.__dict__)
    if isinstance(node, dict):
        for key, value in node.items():
            if key in skip:
                continue
            yield from _walk(value, f"{path}.{key}" if path else str(key), skip)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]", skip)
    else:
        yield path, node


def environment_problems(settings: Settings, host: str | None = None) -> list[str]:
    """The bot's own environment: who may post alerts, Slack credentials, the database URL."""
    from bot.ingest.http import is_loopback

    problems = []
    host = host or settings.host
    if not settings.secret("alert_webhook_token") and not is_loopback(host):
        problems.append(f"ALERT_WEBHOOK_TOKEN is not set and HOST is {host}: anyone who can "
                        "reach the bot could post alerts. Set ALERT_WEBHOOK_TOKEN, or serve on "
                        "127.0.0.1 only")
    if not settings.secret("slack_bot_token"):
        problems.append("SLACK_BOT_TOKEN is not set (the bot token, xoxb-...)")
    if not settings.socket_mode and not settings.secret("slack_signing_secret"):
        problems.append("SLACK_SIGNING_SECRET is not set (needed to verify Slack's requests; "
                        "or set SLACK_APP_TOKEN for Socket Mode)")
    try:
        from bot.store.db import async_url

        async_url(settings.database_url)
    except Exception as exc:
        problems.append(f"DATABASE_URL: {exc}")
    return problems


def runbook_problems(directory: str, config: OncallConfig | None):
    from bot.domain.runbook_lint import lint_runbooks
    from bot.domain.runbook_loader import load_runbooks

    runbooks, problems = load_runbooks(directory)
    hooks = set(config.hooks) if config is not None else None
    levels = max((len(p.levels) for p in config.escalation_policies.values()), default=None) \
        if config is not None else None
    return problems + lint_runbooks(runbooks, known_hooks=hooks, known_levels=levels)
