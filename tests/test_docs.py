"""The README and docs point only inside the repository; deploy/ matches what the bot serves."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from bot.app import build_components, build_web_app
from bot.config import parse_config
from bot.settings import Settings
from tests.appkit import CONFIG

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_PATH = re.compile(r"`((?:bot|commands|tests|scripts|deploy|docs|runbooks)/[\w./-]*)`")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_links_stay_inside_the_repository_and_exist(doc):
    text = doc.read_text()
    targets = [t.split("#")[0] for t in _LINK.findall(text)
               if not t.startswith(("http://", "https://", "mailto:", "#"))]
    targets += _PATH.findall(text)  # files named in code spans, `bot/slack/incident/blocks.py`
    assert targets, "no paths found: the patterns are wrong"
    for target in targets:
        path = (ROOT / target if _PATH.fullmatch(f"`{target}`") else doc.parent / target).resolve()
        assert path.is_relative_to(ROOT) and path.exists(), f"{doc.name}: {target}"
    assert "shared/" not in text and "../" not in text


def test_the_license_is_the_one_pyproject_names():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / "LICENSE").read_text()
    assert project["license"] == {"text": "Apache-2.0"}
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


async def test_the_proxies_route_what_the_bot_serves_to_where_the_unit_listens(tmp_path):
    parts = build_components(Settings(slack_bot_token="xoxb-test", slack_signing_secret="s",
                                      database_url=f"sqlite:///{tmp_path}/x.db"),
                             parse_config(CONFIG))
    served = {route.resource.canonical for route in build_web_app(parts).router.routes()}
    await parts.db.dispose()
    unit = (ROOT / "deploy/oncall-bot.service").read_text()
    caddy = (ROOT / "deploy/Caddyfile").read_text()
    nginx = (ROOT / "deploy/nginx.conf").read_text()

    assert re.search(r"^ExecStart=\S+/oncall-bot serve$", unit, re.M)
    assert "Environment=HOST=127.0.0.1 PORT=3000" in unit and "EnvironmentFile=" in unit
    assert {"/slack/events", "/alerts/alertmanager"} <= served
    public = {p for p in served if p in ("/slack/events", "/changes", "/changes/github")
              or p.startswith(("/alerts/", "/journal/"))}
    assert public == {p for p in served if p not in ("/healthz", "/readyz", "/metrics")}
    assert re.findall(r"handle (/\S+)", caddy) == ["/slack/events", "/alerts/*", "/changes",
                                                   "/changes/github", "/journal/*"]
    assert set(re.findall(r"reverse_proxy (\S+)", caddy)) == {"127.0.0.1:3000"}
    assert re.findall(r"location =? ?(/\S*)", nginx) == ["/slack/events", "/alerts/", "/changes",
                                                          "/changes/github", "/journal/", "/"]
    assert set(re.findall(r"proxy_pass (\S+);", nginx)) == {"http://127.0.0.1:3000"}
