"""Who is acting: a Slack user with the configured user groups they belong to."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    """Who clicked, with the configured user groups they belong to (resolved by the adapter)."""

    user_id: str
    groups: frozenset[str] = field(default_factory=frozenset)


#: The operator at the command line: already holds the database, so acts as an admin.
CLI = "cli"


def as_actor(actor: Actor | str) -> Actor:
    return actor if isinstance(actor, Actor) else Actor(actor)
