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
    "users.info": {"users:read", "users:read.email"},  # the email field needs the second
    "views.open": set(),
    "views.update": set(),
    "views.publish": set(),
    "files.getUploadURLExternal": {"files:write"},
    "files.completeUploadExternal": {"files:write"},
    "chat.getPermalink": set(),
}
#: Scopes that come with features rather than methods.
FEATURE_SCOPES = {"slash_commands": {"commands"}, "shortcuts": {"commands"},
                  "app_mention": {"app_mentions:read"}}
#: slack_sdk helpers that call several Web API methods.
SDK_HELPERS = {"files.upload_v2": ("files.getUploadURLExternal", "files.completeUploadExternal")}
FAMILIES = ("api|apps|auth|bots|chat|conversations|dnd|files|pins|reactions|team|usergroups"
            "|users|views")
CALL = re.compile(rf"client\.(?P<snake>(?:{FAMILIES})_[a-zA-Z_]+)\("
                  r"|\bcall\(\"(?P<dotted>[a-z]+\.[a-zA-Z._0-9]+)\"")


def methods_called() -> set[str]:
    found = set()
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "commands").rglob("*.py")]:
        if "devtools" in path.parts:
            continue  # the local Slack stand-in answers calls, it does not make them
        for match in CALL.finditer(path.read_text()):
            dotted = match["dotted"] or match["snake"].replace("_", ".")
            found.update(SDK_HELPERS.get(dotted, (dotted,)))
    return found


def manifest() -> dict:
    return yaml.safe_load((ROOT / "app_manifest.yaml").read_text())


def test_every_called_method_has_known_scopes():
    unknown = methods_called() - set(METHOD_SCOPES)
    assert not unknown, f"add these methods and their scopes to METHOD_SCOPES: {unknown}"


def test_manifest_scopes_are_exactly_what_the_code_uses():
    needed = set().union(*(METHOD_SCOPES[m] for m in methods_called()))
    features = manifest()["features"]
    events = manifest()["settings"]["event_subscriptions"]["bot_events"]
    for feature in [*features, *events]:
        needed |= FEATURE_SCOPES.get(feature, set())
    assert set(manifest()["oauth_config"]["scopes"]["bot"]) == needed


#: Modules that register listeners for manifest features (shortcuts, events).
REGISTRARS = ("commands.slack", "bot.slack.stakeholders.actions")


def test_manifest_declares_exactly_the_command_shortcut_and_events_the_code_registers():
    from bot.config import OncallConfig
    from bot.slack.stakeholders.blocks import SHORTCUT_DECLARE
    from commands.slack import SHORTCUT_ADD_TO_TIMELINE, SHORTCUT_SHOW_TIMELINE

    features = manifest()["features"]
    [command] = features["slash_commands"]
    assert command["command"] == OncallConfig.model_fields["slash_command"].default
    assert command["should_escape"] is True
    assert [s["callback_id"] for s in features["shortcuts"]] == [
        SHORTCUT_ADD_TO_TIMELINE, SHORTCUT_SHOW_TIMELINE, SHORTCUT_DECLARE]
    registered = "".join((ROOT / f"{name.replace('.', '/')}.py").read_text()
                         for name in REGISTRARS)
    for shortcut in features["shortcuts"]:
        assert f"app.shortcut({_constant(shortcut['callback_id'])})" in registered
    for event in manifest()["settings"]["event_subscriptions"]["bot_events"]:
        assert f'app.event("{event}")' in registered
    assert features["app_home"]["home_tab_enabled"] is True  # app_home_opened publishes it


def _constant(callback_id: str) -> str:
    import importlib

    for name in REGISTRARS:
        module = importlib.import_module(name)
        for constant in dir(module):
            if constant.startswith("SHORTCUT_") and getattr(module, constant) == callback_id:
                return constant
    raise AssertionError(f"no SHORTCUT_ constant is {callback_id!r}")


def test_manifest_points_interactivity_at_the_bolt_route():
    settings = manifest()["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"].endswith("/slack/events")
    assert len(manifest()["display_information"]["name"]) <= 35
