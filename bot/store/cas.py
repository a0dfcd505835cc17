"""Compare-and-set state transitions of an incident, the same on SQLite and PostgreSQL.

A transition is one `UPDATE incident SET ..., version = version + 1 WHERE id = ? AND <what
the caller read>`: of two concurrent clicks (on two replicas, say Resolve racing Escalate)
exactly one matches; the other updates nothing and answers with the state that won. On
PostgreSQL the winner's UPDATE also locks the row until its transaction ends, so the ORM
writes that follow it (escalation step, timers) cannot interleave with another transition.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.models import IncidentRow


async def transition(s: AsyncSession, incident: IncidentRow, where: list[Any],
                     values: dict[str, Any]) -> bool:
    """Apply `values` if the row still matches `where`; True when this caller won.

    Either way `incident` is refreshed to what the database now holds: the new state for the
    winner, the winner's state for the loser (for "already resolved by @x").
    """
    result = await s.exec(update(IncidentRow)
                          .where(IncidentRow.id == incident.id, *where)
                          .values(**values, version=IncidentRow.version + 1))
    await s.refresh(incident)
    return bool(result.rowcount)


def unchanged(incident: IncidentRow) -> list[Any]:
    """The condition "nobody changed this incident since I read it"."""
    return [IncidentRow.version == incident.version]
