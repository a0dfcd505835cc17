"""Who typed a command, where, and what the bot answers."""

from __future__ import annotations

from dataclasses import dataclass

from bot.services.incidents import Actor
from bot.services.records import Where


@dataclass(frozen=True)
class Invocation:
    actor: Actor
    where: Where


@dataclass(frozen=True)
class Reply:
    text: str
    in_channel: bool = False
    blocks: list | None = None  # slack_sdk blocks, e.g. buttons to pick an incident
