"""What `oncall-bot check` asks Slack: read-only calls, so a preflight changes nothing.

The token (auth.test) and its scopes (the `x-oauth-scopes` header) against the manifest's,
every configured channel (exists, not archived, the bot is in it or `serve` will join it),
user groups (usergroups.users.list) and user ids (users.info).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.transport.directory import ChannelDirectory


@dataclass
class SlackReport:
    problems: list[str] = field(default_factory=list)
    will_join: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SlackTargets:
    """What the config names in Slack, each with the config key that names it."""

    channels: dict[str, str]  # channel -> key
    users: dict[str, str]
    usergroups: dict[str, str]


async def check_slack(client: AsyncWebClient, targets: SlackTargets,
                      wanted_scopes: Iterable[str]) -> SlackReport:
    """Raises on a network failure (the caller says it could not check)."""
    report = SlackReport()
    try:
        auth = await client.auth_test()
    except SlackApiError as exc:
        report.problems.append(f"SLACK_BOT_TOKEN does not work: Slack said "
                               f"{exc.response.get('error')}")
        return report
    granted = set(filter(None, (auth.headers.get("x-oauth-scopes") or "").split(",")))
    missing = sorted(set(wanted_scopes) - granted)
    if missing:
        report.problems.append(f"the token lacks scopes the manifest asks for: "
                               f"{', '.join(missing)} (reinstall the app from app_manifest.yaml)")
    problems, to_join = await ChannelDirectory(client).inspect(list(targets.channels))
    report.problems += problems
    report.will_join = [channel for channel, _ in to_join]
    report.problems += await _missing(client, targets.usergroups, _usergroup_problem)
    report.problems += await _missing(client, targets.users, _user_problem)
    return report


async def _missing(client: AsyncWebClient, ids: dict[str, str], probe) -> list[str]:
    found = []
    for value, key in sorted(ids.items()):
        problem = await probe(client, value)
        if problem:
            found.append(f"{key}: {problem}")
    return found


async def _user_problem(client: AsyncWebClient, user: str) -> str | None:
    try:
        answer = await client.users_info(user=user)
    except SlackApiError as exc:
        return f"user {user}: Slack said {exc.response.get('error')}"
    return f"user {user} is deactivated" if answer["user"].get("deleted") else None


async def _usergroup_problem(client: AsyncWebClient, group: str) -> str | None:
    try:
        await client.usergroups_users_list(usergroup=group)
    except SlackApiError as exc:
        return f"user group {group}: Slack said {exc.response.get('error')}"
    return None
