"""The fencing token of a delivery lease: which claim of an intent this task is delivering.

outbox settles under it, and so does the storm's folding of a claimed intent (storms cannot
import outbox, which builds on it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from bot.store.models import OutboxIntent

__all__ = ["LeaseLost", "fenced", "held", "holding"]


class LeaseLost(Exception):
    """This worker's lease on the intent expired and another claim took it: the new owner
    settles it; whatever this worker was about to write with the settling is rolled back."""


# (intent id, attempts at the claim) of the intent this task is delivering: the fencing token.
_held: ContextVar[tuple[int, int] | None] = ContextVar("outbox_lease", default=None)


@contextlib.contextmanager
def holding(intent: OutboxIntent) -> Iterator[None]:
    """Deliver `intent` under the lease just claimed: every settle inside is fenced by it.

    `attempts` grows with every claim, so a worker whose lease expired while its call was slow
    (and another replica claimed the intent since) cannot settle over the new owner's state."""
    token = _held.set((intent.id, intent.attempts))
    try:
        yield
    finally:
        _held.reset(token)


def fenced(intent_id: int) -> list[Any]:
    """Settle only an intent still in flight, and under the lease this task holds."""
    where = [OutboxIntent.id == intent_id, OutboxIntent.state == "inflight"]
    held = _held.get()
    if held is not None and held[0] == intent_id:
        where.append(OutboxIntent.attempts == held[1])
    return where




def held() -> tuple[int, int] | None:
    """(intent id, attempts at the claim) of the intent this task is delivering, if any."""
    return _held.get()
