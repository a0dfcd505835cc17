"""What one webhook brought and what it is answered, and how its alerts are found again.

Shared by the chunk that writes them (ingest_bulk) and the read that answers unchanged
repeats without writing (ingest).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import Alert
from bot.store import repo
from bot.store.models import AlertRow


@dataclass
class IngestResult:
    """What one webhook did, for the HTTP answer and the metrics."""

    accepted: int = 0
    new_alerts: int = 0
    redeliveries: int = 0
    opened: list[int] = field(default_factory=list)
    digested: int = 0
    silenced: int = 0
    touched: set[int] = field(default_factory=set)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (index in batch, why)

    def add(self, other: IngestResult) -> None:
        self.accepted += other.accepted
        self.new_alerts += other.new_alerts
        self.redeliveries += other.redeliveries
        self.opened += other.opened
        self.digested += other.digested
        self.silenced += other.silenced
        self.refused += other.refused


@dataclass(frozen=True)
class Incoming:
    """One alert of the webhook, redacted, with its place in the body (and, when several
    webhooks share a transaction, the result of the webhook it came with)."""

    position: int
    alert: Alert
    fingerprint: str
    original: dict | None = None
    result: IngestResult | None = field(default=None, compare=False)


async def known_alerts(s: AsyncSession, items: list[Incoming], *,
                       plain: bool = False) -> dict[tuple, list[AlertRow]]:
    """Every stored alert of these (source, fingerprint)s, by that pair (`plain`: read-only
    rows, see repo.alerts_of_fingerprints)."""
    by_source: dict[str, set[str]] = {}
    for item in items:
        by_source.setdefault(item.alert.source, set()).add(item.fingerprint)
    found: dict[tuple, list[AlertRow]] = {}
    for source, fingerprints in by_source.items():
        for row in await repo.alerts_of_fingerprints(s, source, fingerprints, plain=plain):
            found.setdefault((row.source, row.fingerprint), []).append(row)
    return found


def same_identity(rows: list[AlertRow], alert: Alert) -> AlertRow | None:
    return next((r for r in rows if r.starts_at == alert.starts_at), None)
