"""What `route test` needs from the database: silences, maintenance and overrides at a moment.

Read once per `route test` run (one read transaction), then applied to every label set in
memory, so `route test --from` stays fast with a database too.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select

from bot.domain.matchers import Matcher, parse_matcher
from bot.domain.schedules import Override
from bot.services.context import ServiceContext
from bot.store.models import MaintenanceRow, OverrideRow, SilenceRow


@dataclass(frozen=True)
class SilenceHold:
    id: int
    matchers: tuple[Matcher, ...]
    ends_at: datetime
    comment: str

    def holds(self, labels: dict[str, str]) -> bool:
        return all(matcher.matches(labels) for matcher in self.matchers)


@dataclass(frozen=True)
class MaintenanceHold:
    id: int
    team: str
    ends_at: datetime
    comment: str


@dataclass(frozen=True)
class HoldState:
    """Everything active at `at` that could hold or redirect a page."""

    at: datetime
    silences: list[SilenceHold] = field(default_factory=list)
    maintenance: dict[str, MaintenanceHold] = field(default_factory=dict)
    overrides: dict[str, list[Override]] = field(default_factory=dict)


async def hold_state(ctx: ServiceContext, at: datetime) -> HoldState:
    """Silences and maintenance active at `at`, and overrides not over by then."""
    async with ctx.db.reader() as s:
        silences = (await s.exec(select(SilenceRow).where(
            col(SilenceRow.starts_at) <= at, col(SilenceRow.ends_at) > at)
            .order_by(col(SilenceRow.id)))).all()
        windows = (await s.exec(select(MaintenanceRow).where(
            col(MaintenanceRow.starts_at) <= at, col(MaintenanceRow.ends_at) > at)
            .order_by(col(MaintenanceRow.ends_at)))).all()
        overrides = (await s.exec(select(OverrideRow).where(col(OverrideRow.end) > at))).all()
    by_schedule: dict[str, list[Override]] = defaultdict(list)
    for row in overrides:
        by_schedule[row.schedule].append(Override(
            user=row.user, start=row.start, end=row.end, role=row.role,
            created_at=row.created_at))
    return HoldState(
        at=at,
        silences=[SilenceHold(id=row.id or 0, matchers=tuple(map(parse_matcher, row.matchers)),
                              ends_at=row.ends_at, comment=row.comment) for row in silences],
        maintenance={row.team: MaintenanceHold(id=row.id or 0, team=row.team,
                                               ends_at=row.ends_at, comment=row.comment)
                     for row in windows},  # the latest-ending window of a team wins
        overrides=dict(by_schedule),
    )
