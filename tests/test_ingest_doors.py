"""The alert webhooks' doors: the token, who counts as local, and `serve` refusing to open
the door to everyone."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.appkit import BOT_TOKEN, CONFIG, SIGNING_SECRET, start_bot
from tests.test_ingest_fuzz import envelope, good_alert


@pytest.fixture
async def open_bot(tmp_path):
    """A bot with no ALERT_WEBHOOK_TOKEN: loopback senders only."""
    running = await start_bot(f"sqlite:///{tmp_path}/oncall.db", alert_token=None)
    yield running
    await running.close()
    await running.slack.stop()


async def post(bot, headers: dict) -> int:
    async with bot.http.post(f"{bot.url}/alerts/alertmanager", json=envelope([good_alert()]),
                             headers=headers) as response:
        return response.status


async def test_without_a_token_loopback_is_let_in_but_not_through_a_proxy(open_bot):
    assert await post(open_bot, {}) == 202
    for proxied in ({"X-Forwarded-For": "203.0.113.7"}, {"Forwarded": "for=203.0.113.7"},
                    {"X-Forwarded-For": "127.0.0.1"}, {"X-Real-IP": "10.0.0.1"}):
        assert await post(open_bot, proxied) == 401, proxied
    assert len(await open_bot.alerts()) == 1


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
async def test_the_token_scheme_ignores_case(bot, scheme):
    assert await post(bot, {"Authorization": f"{scheme} test-alert-token"}) == 202


async def test_with_a_token_a_proxied_request_needs_it_too(bot):
    assert await post(bot, {"X-Forwarded-For": "203.0.113.7"}) == 401
    assert await post(bot, {"X-Forwarded-For": "203.0.113.7",
                            "Authorization": "Bearer test-alert-token"}) == 202


@pytest.fixture
def serve_env(tmp_path, monkeypatch):
    config = tmp_path / "oncall.yaml"
    config.write_text(CONFIG)
    for name, value in {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                        "ONCALL_CONFIG": str(config),
                        "DATABASE_URL": f"sqlite:///{tmp_path}/oncall.db"}.items():
        monkeypatch.setenv(name, value)
    for name in ("ALERT_WEBHOOK_TOKEN", "SLACK_APP_TOKEN", "HOST"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.mark.parametrize("how", [{"env": {"HOST": "0.0.0.0"}}, {"args": ["--host", "::"]},
                                 {"env": {"HOST": "10.1.2.3"}}])
def test_serve_refuses_a_public_host_without_a_token(serve_env, how):
    result = CliRunner().invoke(app, ["serve", *how.get("args", [])], env=how.get("env"))

    assert result.exit_code == 1
    assert "ALERT_WEBHOOK_TOKEN is not set" in result.output
    assert not (serve_env / "oncall.db").exists()  # refused before migrating or serving


def test_check_reports_a_public_host_without_a_token(serve_env):
    # no bot token: `check` then asks no real Slack about the channels
    result = CliRunner().invoke(app, ["check"], env={"HOST": "0.0.0.0", "SLACK_BOT_TOKEN": ""})

    assert result.exit_code == 1
    assert "environment: ALERT_WEBHOOK_TOKEN is not set and HOST is 0.0.0.0" in result.output
