"""Shared journals: `/oncall share` makes a read-only link, the bot serves the page, links
expire and are revoked, and unknown, expired and revoked links all answer the same 404."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from bot.store.models import AuditRow, ShareLink, TimelineEvent
from tests.appkit import CONFIG, BotUnderTest, payload, start_bot
from tests.test_changes import post

RESPONDER, STRANGER = "U0PLATFORM1", "U0STRANGER1"
SHARE_CONFIG = CONFIG.replace(
    'platform: {channel: "#platform-oncall", responders: [U0PLATFORM1]}',
    'platform: {channel: "#platform-oncall", responders: [U0PLATFORM1], '
    'hide_labels: [vertical]}') + "share: {allowed_hosts: [status.example.com]}\n"
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/journal/([A-Za-z0-9_-]{22}))")


async def start_share_bot(tmp_path) -> BotUnderTest:
    running = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=SHARE_CONFIG)
    running.parts.services.public_url = running.url  # PUBLIC_URL: where readers reach the bot
    return running


@pytest.fixture
async def bot(tmp_path):
    running = await start_share_bot(tmp_path)
    yield running
    await running.close()
    await running.slack.stop()


async def open_incident(bot, **labels: str) -> int:
    body = payload("alertmanager/firing-model-ftl-p95.json")
    body["alerts"][0]["labels"].update({"alert_type": "infra", **labels})
    await bot.post_alerts(body)
    await bot.drain()
    return (await bot.incidents())[0].id


async def add_row(bot, incident_id: int, kind: str, text: str, **data) -> None:
    """A status update as wip/people's `/oncall update` writes it (kind `status_update`, its
    text, its author); that command is not on this branch, so the row is written directly."""
    async with bot.parts.db.transaction() as s:
        s.add(TimelineEvent(incident_id=incident_id, at=bot.clock.now(), kind=kind,
                            actor=RESPONDER, text=text, data=data, mrkdwn=True))


async def share(bot, text: str, user: str = RESPONDER) -> tuple[str, str]:
    reply = await bot.slash(text, user=user)
    found = LINK.search(reply["text"])
    assert found, reply["text"]
    assert reply["response_type"] == "ephemeral"
    return found.group(1), found.group(2)


async def get(bot, url: str) -> tuple[int, str]:
    async with bot.http.get(url) as response:
        return response.status, await response.text()


async def rows(bot, query) -> list:
    async with bot.parts.db.reader() as s:
        return list((await s.exec(query)).all())


async def test_a_shared_page_shows_public_updates_in_plain_redacted_words(bot):
    incident_id = await open_incident(bot)
    await add_row(bot, incident_id, "status_update",
                  "<@U0PLATFORM1> rolled back the *voice* release; see "
                  "<https://grafana.corp.internal/d/x|the dashboard> and "
                  "https://status.example.com/inc/1 (db-1.svc.cluster.local, 10.2.3.4) key "
                  "sk-abcdefghijklmnop1234 in <#CPLATFORM1|platform-oncall> <!here>")
    await add_row(bot, incident_id, "note", "internal: the healthcare customer is acme")
    await add_row(bot, incident_id, "note", "Calls are recovering.", public=True)
    await bot.slash(f"ack #{incident_id}")

    url, token = await share(bot, f"share #{incident_id}")
    status, page = await get(bot, url)

    assert status == 200
    assert "FTLP95High" in page and "rolled back the voice release" in page
    assert "a responder rolled back" in page and "#platform-oncall" in page
    assert "https://status.example.com/inc/1" in page  # allow-listed
    assert "Calls are recovering." in page  # a note marked public
    assert "A responder acknowledged the incident." in page  # a milestone, in fixed words
    for leak in ("grafana.corp.internal", "svc.cluster.local", "10.2.3.4", "U0PLATFORM1",
                 "CPLATFORM1", "&lt;@", "here&gt;", "sk-abcdefghijklmnop", "internal:", "acme",
                 "healthcare", "Healthcare", "prometheus:9090", "*voice*"):
        assert leak not in page, leak
    assert "[redacted:api_key]" in page and "the dashboard" in page
    assert '<html lang="en">' in page and 'name="viewport"' in page
    assert re.search(r'<time datetime="2026-11-2\dT[\d:]+\+00:00">', page)
    [link] = await rows(bot, select(ShareLink))
    assert link.views == 1 and link.token_hash != token and token not in link.token_hash
    [audited] = await rows(bot, select(AuditRow).where(AuditRow.action == "share"))
    assert audited.actor == RESPONDER and audited.target == f"incident:{incident_id}"
    assert token not in audited.model_dump_json()
    assert "shared_link" in await bot.timeline_kinds(incident_id)
    async with bot.http.get(f"{bot.url}/metrics") as response:
        assert 'oncall_journal_views_total{kind="incident"} 1.0' in await response.text()


async def test_markup_in_an_update_is_escaped_on_the_page(bot):
    incident_id = await open_incident(bot)
    await add_row(bot, incident_id, "status_update", "<script>alert(1)</script> &amp; more")
    url, _ = await share(bot, f"share #{incident_id}")
    _, page = await get(bot, url)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_unknown_expired_and_revoked_links_get_the_same_404(bot):
    incident_id = await open_incident(bot)
    short, _ = await share(bot, f"share #{incident_id} for 1h")
    revoked, token = await share(bot, f"share #{incident_id}")
    assert (await get(bot, short))[0] == 200

    reply = await bot.slash(f"unshare {token}")
    assert "Revoked 1" in reply["text"]
    bot.clock.advance(hours=2)

    answers = {await get(bot, url) for url in (
        short, revoked, f"{bot.url}/journal/AAAAAAAAAAAAAAAAAAAAAA", f"{bot.url}/journal/x'<")}
    assert answers == {(404, "404 Not Found\n")}
    [audited] = await rows(bot, select(AuditRow).where(AuditRow.action == "unshare"))
    assert audited.actor == RESPONDER


async def test_unshare_by_incident_revokes_every_live_link(bot):
    incident_id = await open_incident(bot)
    first, _ = await share(bot, f"share #{incident_id}")
    second, _ = await share(bot, f"share #{incident_id} for 2d")

    reply = await bot.slash(f"unshare #{incident_id}")

    assert "Revoked 2" in reply["text"]
    assert [(await get(bot, u))[0] for u in (first, second)] == [404, 404]
    assert all(r.revoked_by == RESPONDER for r in await rows(bot, select(ShareLink)))


async def test_a_non_responder_may_not_share_and_the_refusal_is_audited(bot):
    incident_id = await open_incident(bot)

    reply = await bot.slash(f"share #{incident_id}", user=STRANGER)

    assert reply["response_type"] == "ephemeral" and "may not share" in reply["text"]
    assert not LINK.search(reply["text"])
    assert await rows(bot, select(ShareLink)) == []
    [refused] = await rows(bot, select(AuditRow).where(AuditRow.outcome == "refused"))
    assert refused.action == "share" and refused.actor == STRANGER


async def test_a_service_journal_lists_its_incidents_and_its_changes(bot):
    incident_id = await open_incident(bot)
    await add_row(bot, incident_id, "status_update", "Failover to the second provider.")
    status, _ = await post(bot, "/changes", {
        "service": "voice-agent", "kind": "prompt", "version": "v42", "author": "dana@corp",
        "url": "https://git.internal.corp/prompts/42", "summary": "shorter greeting",
        "at": "2026-11-23T02:40:00Z"})
    assert status == 202

    url, _ = await share(bot, "share voice-agent for 3d")
    status, page = await get(bot, url)

    assert status == 200 and "Service journal: voice-agent" in page
    assert f"#{incident_id}" in page and "Failover to the second provider." in page
    assert '<h2 id="changes-heading">Changes</h2>' in page
    assert "prompt v42 — shorter greeting" in page
    assert "dana" not in page and "git.internal.corp" not in page  # who and where stay inside


async def test_too_long_and_no_public_url_are_refused_in_words(bot):
    incident_id = await open_incident(bot)
    reply = await bot.slash(f"share #{incident_id} for 90d")
    assert "at most 30 days" in reply["text"]
    bot.parts.services.public_url = ""
    reply = await bot.slash(f"share #{incident_id}")
    assert "PUBLIC_URL" in reply["text"]
    assert await rows(bot, select(ShareLink)) == []


async def test_an_unknown_service_has_nothing_to_share(bot):
    reply = await bot.slash("share no-such-service")
    assert "nothing to share" in reply["text"]
