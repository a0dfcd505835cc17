"""The Slack Web API fake for tests: the same stand-in `oncall-bot demo` runs (one copy)."""

from bot.devtools.fake_slack import Call, FakeSlack, block_kit_problems

__all__ = ["Call", "FakeSlack", "block_kit_problems"]
