"""The manifest asks for exactly the scopes of the Web API methods the code calls."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

#: Bot scopes per Web API method, from each method's page on docs.slack.dev.
METHOD_SCOPES = {
    "auth.test": set(),
    "apps.connections.open": set(),  # app-level token, not a bot scope
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "conversations.list": {"channels:read", "groups:read"},
    "conversations.info": {"channels:read", "groups:read"},
    "conversations.join": {"channels:join"},
    "conversations.history": {"channels:history", "groups:history", "im:history"},
    "conversations.replies": {"channels:history", "groups:history", "im:history"},
    "conversations.open": {"im:write"},
    "chat.postEphemeral": {"chat:write"},
    "dnd.info": {"dnd:read"},
    "usergroups.users.list": {"usergroups:read"},
    "views.open": set(),
    "views.update": set(),
}
FAMILIES = ("api|apps|auth|bots|chat|conversations|dnd|files|pins|reactions|team|usergroups"
            "|users|views")
CALL = re.compile(rf"client\.(?P<snake>(?:{FAMILIES})_[a-zA-Z_]+)\("
                  r"|\bcall\(\"(?P<dotted>[a-z]+\.[a-zA-Z.]+)\"")


def methods_called() -> set[str]:
    found = set()
    for path in (ROOT / "bot").rglob("*.py"):
        if "devtools" in path.parts:
            continue  # the local Slack stand-in answers calls, it does not make them
        for match in CALL.finditer(path.read_text()):
            dotted = match["dotted"] or match["snake"].replace("_", ".")
            found.add(dotted)
    return found


def manifest() -> dict:
    return yaml.safe_load((ROOT / "app_manifest.yaml").read_text())


def test_every_called_method_has_known_scopes():
    unknown = methods_called() - set(METHOD_SCOPES)
    assert not unknown, f"add these methods and their scopes to METHOD_SCOPES: {unknown}"


def test_manifest_scopes_are_exactly_what_the_code_uses():
    needed = set().union(*(METHOD_SCOPES[m] for m in methods_called()))
    assert set(manifest()["oauth_config"]["scopes"]["bot"]) == needed


def test_manifest_points_interactivity_at_the_bolt_route():
    settings = manifest()["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"].endswith("/slack/events")
    assert len(manifest()["display_information"]["name"]) <= 35
