"""Cost alerts on a `digest:` route: held for the hourly digest, paged at once past the line.

Called by ingest inside its transaction, for a new alert and for every repeat of it, so the
ratio is read again each time: a spike that grows from 3x to 8x pages when it crosses.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.alerts import Action, Alert, AlertStatus
from bot.domain.cost_digest import RatioReading, ratio_text, should_page, spike_ratio
from bot.domain.routing import RouteDecision
from bot.store import digest_queries
from bot.store.models import AlertRow, DigestItemRow

DEFAULT_PAGE_RATIO = 5.0


async def observe(s: AsyncSession, row: AlertRow, alert: Alert, decision: RouteDecision,
                  now: datetime, *, repeat: bool = False) -> RouteDecision | None:
    """Record or refresh the alert's digest item; a paging decision the first time its ratio
    reaches the route's `page_if_ratio_at_least` while firing, else None (digest only).

    A `repeat` only refreshes an item: an alert that was not digested when first routed
    (held by a silence, say) is not digested behind the silence's back.
    """
    firing = alert.status is AlertStatus.FIRING
    item = await digest_queries.cost_item(s, row.id, decision.route_key)
    if item is None and (repeat or not firing):
        return None
    if item is None:
        item = _new_item(row, decision, now)
    reading = spike_ratio(alert.labels, alert.annotations)
    _refresh(item, reading, firing, now)
    threshold = decision.page_if_ratio_at_least or DEFAULT_PAGE_RATIO
    pages = firing and item.paged_at is None and should_page(reading, threshold)
    if pages:
        item.paged_at = now
    s.add(item)
    return _paging(decision, reading, threshold) if pages else None


def _new_item(row: AlertRow, decision: RouteDecision, now: datetime) -> DigestItemRow:
    labels = row.labels
    return DigestItemRow(alert_id=row.id, route_key=decision.route_key, team=decision.team,
                         service=labels.get("service", "")[:128],
                         model=labels.get("model", "")[:128],
                         alertname=labels.get("alertname", "")[:256], fired_at=now,
                         last_seen=now)


def _refresh(item: DigestItemRow, reading: RatioReading, firing: bool, now: datetime) -> None:
    """The latest reading wins; an unreadable repeat does not erase a good earlier one."""
    if reading.known or item.ratio is None:
        item.value, item.baseline, item.ratio = reading.value, reading.baseline, reading.ratio
        item.flagged, item.reason = not reading.known, reading.reason[:256]
    item.still_firing, item.last_seen = firing, now


def _paging(decision: RouteDecision, reading: RatioReading, threshold: float) -> RouteDecision:
    """The same route, turned into a page: the normal incident path takes it from here."""
    why = (f"ratio {ratio_text(reading.ratio)} reached page_if_ratio_at_least {threshold:g}: "
           "paged at once instead of waiting for the digest")
    return decision.model_copy(update={"action": Action.PAGE,
                                       "reasons": [*decision.reasons, why]})
