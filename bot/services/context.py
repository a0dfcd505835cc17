"""What every service needs: the database, the config, a clock and a way to wake delivery."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.config import OncallConfig
from bot.domain.runbooks import Runbook
from bot.store.db import Database


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def __init__(self, offset: timedelta = timedelta(0)):
        self.offset = offset  # ONCALL_CLOCK_OFFSET: tests of several processes shift time

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset  # wall clock ok: this is the clock


@dataclass
class ServiceContext:
    db: Database
    config: OncallConfig
    clock: Clock = field(default_factory=SystemClock)
    wake_delivery: Callable[[], None] = lambda: None
    runbooks: list[Runbook] = field(default_factory=list)
    public_url: str = ""  # PUBLIC_URL: shared journal links are made under it
