"""PostgreSQL advisory locks: what makes several replicas on one database take turns.

Every lock is keyed by a name (`migrate`, `tick:<job>`) hashed to
the 64-bit key PostgreSQL wants, so two processes of any version agree on it. On SQLite there
is one process (the README says so) and the write lock already serialises transactions: every
helper here is then a no-op that says "yours".
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterator

from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.store.db import Database


def key_of(name: str) -> int:
    """A stable signed 64-bit key for a lock name (Python's hash() differs per process)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big",
                          signed=True)


@contextlib.asynccontextmanager
async def exclusive(db: Database, name: str) -> AsyncIterator[bool]:
    """Yield True when this process holds `name` for the block, False when another replica
    does right now (the caller skips its turn). Held by a transaction on a connection of its
    own, so a replica that dies releases it with its connection."""
    if db.dialect != "postgresql":
        yield True
        return
    async with db.engine.connect() as conn, conn.begin():
        mine = (await conn.execute(text("select pg_try_advisory_xact_lock(:key)"),
                                   {"key": key_of(name)})).scalar_one()
        yield bool(mine)


@contextlib.contextmanager
def held_while(engine: Engine, name: str) -> Iterator[None]:
    """Synchronous: wait for the session-level lock `name` and hold it for the block (used
    around `alembic upgrade`, so replicas started together migrate one after the other)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("select pg_advisory_lock(:key)"), {"key": key_of(name)})
        conn.commit()  # the lock is the session's: no transaction stays open meanwhile
        try:
            yield
        finally:
            conn.execute(text("select pg_advisory_unlock(:key)"), {"key": key_of(name)})
            conn.commit()
