"""What context rules may ask about, held in memory: no database here, so `route test`
(which has none to spare at start-up) can answer context and tiers as of a time.

bot/services/context_facts.py fills a Snapshot from the database once per transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.config import OncallConfig
from bot.config_context import BusinessHours
from bot.domain.changes import ChangeLine
from bot.domain.context_rules import ContextFacts, Where, firing_for
from bot.domain.tiers import TierVerdict, tier_name, verdict


def services_of(config: OncallConfig, service: str) -> list[str]:
    """The service and those it depends on (`services.X.depends_on`): whose changes matter."""
    if not service:
        return []
    spec = config.services.get(service)
    return [service, *(spec.depends_on if spec else [])]


def where_of(config: OncallConfig, team: str) -> Where:
    spec = config.teams.get(team)
    return Where(zone=config.time_zone_of(team),
                 hours=spec.business_hours if spec else BusinessHours())


@dataclass
class Snapshot:
    """What the rules may ask about, read once at `now`."""

    now: datetime
    changes: list[ChangeLine] = field(default_factory=list)
    firing: list[dict[str, str]] = field(default_factory=list)
    noise: dict[str, list[datetime]] = field(default_factory=dict)
    maintenance: set[str] = field(default_factory=set)

    firing_by_rule: dict[str, list[dict[str, str]]] | None = None
    _by_service: dict[str, list[ChangeLine]] | None = None

    def facts(self, config: OncallConfig, labels: Mapping[str, str], team: str) -> ContextFacts:
        services = set(services_of(config, labels.get("service", "")))
        if self.firing_by_rule is None:  # once per snapshot, not per alert
            self.firing_by_rule = {r.name: firing_for(r, self.firing)
                                   for r in config.context if r.while_firing}
        if self._by_service is None:
            self._by_service = {}
            for change in self.changes:
                self._by_service.setdefault(change.service, []).append(change)
        return ContextFacts(
            changes=[c for name in services for c in self._by_service.get(name, ())],
            firing=self.firing, firing_by_rule=self.firing_by_rule,
            noise=self.noise.get(labels.get("alertname", ""), []),
            maintenance=team in self.maintenance)


def tier_of(config: OncallConfig, labels: Mapping[str, str], team: str,
            now: datetime) -> TierVerdict | None:
    spec = config.teams.get(team)
    name = tier_name(labels, config.tier_label, spec.tier if spec else None)
    if name not in config.tiers and spec is not None and spec.tier in config.tiers:
        name = spec.tier  # an unknown tier label value: the team's default
    if name is None or name not in config.tiers:
        return None
    where = where_of(config, team)
    return verdict(name, config.tiers[name], now, where.zone, where.hours)
