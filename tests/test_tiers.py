"""Support tiers end to end: when a tier pages, and the page at the start of business hours."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from bot.services import tier_pages
from bot.store.models import PageRow
from tests.appkit import FakeClock, database_url, start_bot

CONFIG = """
teams:
  platform: {channel: "#platform-oncall", responders: [U0PLATFORM1], tier: business,
             escalation_policy: lead, time_zone: Europe/Berlin}
admins: [U0ADMIN001]
route:
  receiver: platform
  group_by: [alertname, tier]
escalation_policies:
  lead:
    levels:
      - {notify: [U0LEAD0001], after: 0m}
tiers:
  enterprise: {pages: 24/7}
  business: {pages: business_hours, otherwise: notify}
  trial: {pages: never, otherwise: notify_only}
"""
MONDAY_3AM = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 04:00 in Berlin
BERLIN_9AM = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def said(incident) -> list[str]:
    """Every reason the incident gives: the route's, then the path decision's (the Why line)."""
    return incident.rationale["reasons"] + incident.rationale.get("why", [])


@pytest.fixture(params=["sqlite", "postgres"])
async def bot(request, tmp_path):
    running = await start_bot(database_url(request, tmp_path), config=CONFIG,
                              clock=FakeClock(MONDAY_3AM))
    running.slack.add_user("U0LEAD0001", "lead")
    yield running
    await running.close()
    await running.slack.stop()


def alert(tier: str | None, status: str = "firing") -> dict:
    labels = {"alertname": "CheckoutErrors", "severity": "critical"}
    if tier:
        labels["tier"] = tier
    body = {"labels": labels, "startsAt": "2026-11-23T02:58:00Z", "status": status}
    if status == "resolved":
        body["endsAt"] = "2026-11-23T05:00:00Z"
    return {"alerts": [body]}


async def pages(bot) -> list[PageRow]:
    return await bot._all(select(PageRow).order_by(col(PageRow.id)))


async def test_a_business_alert_at_3am_notifies_then_pages_at_9_if_still_open(bot):
    await bot.post_alerts(alert("business"), source="generic")
    await bot.drain()
    [incident] = await bot.incidents()
    assert (incident.action, incident.tier, incident.first_paged_at) == ("notify", "business",
                                                                         None)
    assert incident.tier_page_at == BERLIN_9AM
    assert any("tier business pages in business hours" in r and "page → notify" in r
               and "pages at Mon 08:00 UTC if still open" in r
               for r in said(incident))
    assert await pages(bot) == []
    bot.clock.current = datetime(2026, 11, 23, 7, 59, tzinfo=UTC)
    assert await tier_pages.tick(bot.parts.services) == 0
    bot.clock.current = BERLIN_9AM
    assert await tier_pages.tick(bot.parts.services) == 1
    assert await tier_pages.tick(bot.parts.services) == 0  # claimed once
    await bot.drain()
    incident = await bot.incident(incident.id)
    assert (incident.action, incident.first_paged_at, incident.tier_page_at) == (
        "page", BERLIN_9AM, None)
    assert [(p.target, p.outcome) for p in await pages(bot)] == [("U0LEAD0001", "sent")]
    assert "tier_page" in await bot.timeline_kinds(incident.id)


async def test_resolved_before_business_hours_nobody_is_paged(bot):
    await bot.post_alerts(alert("business"), source="generic")
    bot.clock.current = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    await bot.post_alerts(alert("business", status="resolved"), source="generic")
    bot.clock.current = BERLIN_9AM
    assert await tier_pages.tick(bot.parts.services) == 0
    [incident] = await bot.incidents()
    assert incident.status == "resolved" and incident.tier_page_at is None
    assert await pages(bot) == []


async def test_acked_before_business_hours_is_not_paged(bot):
    await bot.post_alerts(alert("business"), source="generic")
    await bot.drain()
    [incident] = await bot.incidents()
    assert await bot.click("incident.ack", incident.id) == 200
    bot.clock.current = BERLIN_9AM
    assert await tier_pages.tick(bot.parts.services) == 0
    assert (await bot.incident(incident.id)).tier_page_at is None
    assert await pages(bot) == []


async def test_enterprise_pages_at_night_and_says_why(bot):
    await bot.post_alerts(alert("enterprise"), source="generic")
    await bot.drain()
    [incident] = await bot.incidents()
    assert (incident.action, incident.first_paged_at) == ("page", MONDAY_3AM)
    assert "tier enterprise: pages 24/7" in said(incident)
    assert incident.tier_page_at is None


async def test_trial_only_notifies_and_never_pages_later(bot):
    await bot.post_alerts(alert("trial"), source="generic")
    await bot.drain()
    [incident] = await bot.incidents()
    assert (incident.action, incident.tier_page_at) == ("notify", None)
    assert any("tier trial never pages: notified only" in r
               for r in said(incident))
    blocks = bot.slack.calls_to("chat.postMessage")[-1].args["blocks"]
    assert any("*Tier*\\ntrial" in str(b).replace("\n", "\\n") for b in blocks)


async def test_an_alert_without_a_tier_gets_the_teams_default(bot):
    bot.clock.current = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # 11:00 in Berlin
    await bot.post_alerts(alert(None), source="generic")
    await bot.drain()
    [incident] = await bot.incidents()
    assert (incident.tier, incident.action) == ("business", "page")
    assert any("tier business: pages in business hours" in r and "now inside them" in r
               for r in said(incident))


def test_the_noise_review_counts_pages_per_tier_and_after_hours():
    from zoneinfo import ZoneInfo

    from bot.domain.digests import IncidentRecord, PageRecord
    from bot.domain.noise import noise_review
    from bot.slack.digest.review import _health_text

    week = (datetime(2026, 11, 16, 0, 0, tzinfo=UTC), datetime(2026, 11, 23, 0, 0, tzinfo=UTC))

    def record(id: int, tier: str, hour: int) -> IncidentRecord:
        at = datetime(2026, 11, 17, hour, 0, tzinfo=UTC)
        return IncidentRecord(id=id, team="platform", alertname="A", route_key="root",
                              opened_at=at, first_paged_at=at, paged=True, tier=tier,
                              pages=[PageRecord(person="U0LEAD0001", at=at, rotation="p")],
                              alert_fired_at=[at])

    incidents = [record(1, "enterprise", 2), record(2, "enterprise", 11), record(3, "business", 9),
                 record(4, "", 23)]
    review = noise_review(incidents, [], week, [], tz=ZoneInfo("Europe/Berlin"),
                          today=week[1].date())
    assert review.health.pages_per_tier == {"enterprise": 2, "(no tier)": 1, "business": 1}
    assert review.health.after_hours_pages_per_tier == {"(no tier)": 1, "enterprise": 1}
    assert "Pages per tier: enterprise 2, (no tier) 1, business 1 (after hours: (no tier) 1, " \
        "enterprise 1)" in _health_text(review.health)
    untiered = noise_review([record(5, "", 2)], [], week, [], tz=ZoneInfo("Europe/Berlin"),
                            today=week[1].date())
    assert untiered.health.pages_per_tier == {}
    assert "Pages per tier" not in _health_text(untiered.health)


async def test_a_route_that_does_not_page_is_not_paged_later_by_its_tier(bot):
    alert_body = alert("business")
    alert_body["alerts"][0]["labels"]["severity"] = "warning"  # the route notifies
    await bot.post_alerts(alert_body, source="generic")
    [incident] = await bot.incidents()
    assert (incident.action, incident.tier_page_at) == ("notify", None)
    assert "tier business: the route does not page (notify)" in said(incident)
