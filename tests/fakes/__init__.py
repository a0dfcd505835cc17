"""Stand-ins for the services the bot talks to, served over real HTTP."""

from tests.fakes.slack_api import Call, FakeSlack, block_kit_problems

__all__ = ["Call", "FakeSlack", "block_kit_problems"]
