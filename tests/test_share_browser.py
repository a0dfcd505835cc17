"""A shared journal in a real browser: Debian's headless Chromium loads the page from the
running bot, the rendered text holds the incident's title and updates, the screenshot is a
real picture, and a revoked link shows the 404.

Without chromium the test skips, or fails with ONCALL_REQUIRE_SERVERS=1 (CI installs it).
ONCALL_SAVE_SCREENSHOT=docs/shared-journal.png keeps the screenshot (the README's).
"""

from __future__ import annotations

import os
import re
import shutil
from html import unescape

import pytest
from PIL import Image

from tests.harness import ServerUnavailable, servers_required
from tests.harness.chromium import dump_dom, find_chromium, screenshot
from tests.test_share import add_row, open_incident, share, start_share_bot


@pytest.fixture
async def bot(tmp_path):
    running = await start_share_bot(tmp_path)
    yield running
    await running.close()
    await running.slack.stop()


@pytest.fixture
def chromium() -> str:
    try:
        return find_chromium()
    except ServerUnavailable as exc:
        if servers_required():
            pytest.fail(f"{exc} (ONCALL_REQUIRE_SERVERS=1)", pytrace=False)
        pytest.skip(str(exc))


def visible_text(dom: str) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body))).strip()


async def test_a_shared_page_in_chromium_and_its_revoked_link(bot, chromium, tmp_path):
    incident_id = await open_incident(bot, vertical="")
    bot.clock.advance(minutes=4)
    await bot.slash(f"ack #{incident_id}")
    bot.clock.advance(minutes=6)
    await add_row(bot, incident_id, "status_update",
                  "Voice calls answer slowly for some clinics. We are moving traffic to the "
                  "second speech provider.")
    bot.clock.advance(minutes=15)
    await add_row(bot, incident_id, "status_update",
                  "Latency is back under 800 ms; <@U0PLATFORM1> keeps watching for an hour.")
    url, token = await share(bot, f"share #{incident_id}")

    dom = await dump_dom(chromium, url)
    shot = await screenshot(chromium, url, tmp_path / "journal.png")

    text = visible_text(dom)
    assert "FTLP95High" in text and "Identified" in text.title()
    assert "moving traffic to the second speech provider" in text
    assert "Latency is back under 800 ms; a responder keeps watching" in text
    assert "U0PLATFORM1" not in dom and "&lt;@" not in dom
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.width >= 400 and image.height >= 400
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 20, "the screenshot is blank"
    if target := os.environ.get("ONCALL_SAVE_SCREENSHOT"):
        shutil.copyfile(shot, target)

    await bot.slash(f"unshare {token}")
    assert "404 Not Found" in visible_text(await dump_dom(chromium, url))
