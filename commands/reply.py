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
