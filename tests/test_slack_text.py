"""Text from a person or an alert reaches Slack inert on every surface; the bot's own
mentions stay mentions."""

from __future__ import annotations

import json

from tests.appkit import BotUnderTest, payload, text_input

RESPONDER = "U0PLATFORM1"
#: What someone might type, or an alert might carry, to ping everybody or hide a link.
NASTY = ("<!channel> <!everyone> <!here> <@UEVIL0001> <!subteam^SEVIL0001|@all> "
         "<https://evil.example/x|the dashboard> <javascript:alert(1)|click>")
LIVE = ("<!channel", "<!everyone", "<!here", "<@UEVIL0001", "<!subteam^SEVIL0001",
        "<https://evil.example", "<javascript:")


def live_tokens(bot: BotUnderTest, extra: list | None = None) -> list[str]:
    """Every live mention or link of NASTY that reached Slack: calls, response_url posts and
    the acks' bodies."""
    seen = json.dumps([c.args for c in bot.slack.calls] + bot.slack.responses + (extra or []))
    return [token for token in LIVE if token in seen]


def nasty_alert() -> dict:
    body = payload("alertmanager/firing-model-ftl-p95.json")
    alert = body["alerts"][0]
    alert["labels"] |= {"alert_type": "infra", "service": NASTY[:60],
                        "alertname": "<!channel> <@UEVIL0001>"}
    alert["annotations"] = {"summary": NASTY, "description": NASTY, "title": NASTY}
    return body


async def open_nasty_incident(bot: BotUnderTest) -> int:
    await bot.post_alerts(nasty_alert())
    await bot.drain()
    [incident] = await bot.incidents()
    return incident.id


async def test_nothing_a_person_or_an_alert_wrote_reaches_slack_live(bot):
    incident_id = await open_nasty_incident(bot)
    thread_ts = (await bot.message_of(incident_id)).ts
    acks = [await bot.slash(f"note #{incident_id} {NASTY}")]
    await bot.mention(f"note {NASTY}", user=RESPONDER, channel="CPLATFORM1",
                      thread_ts=thread_ts, event_id="EvNasty1")
    copied = {"type": "message", "user": "U0OBSERVER", "ts": "1700000000.000900",
              "thread_ts": thread_ts, "text": NASTY}  # Slack sends mentions as entities
    await bot.shortcut("timeline.add", copied, user=RESPONDER, channel="CPLATFORM1")
    view = await bot.open_modal("incident.escalate", incident_id)
    await bot.submit_view(view["callback_id"], view["private_metadata"],
                          {"how": {"type": "radio_buttons",
                                   "selected_option": {"value": "person"}},
                           "person": {"type": "users_select", "selected_user": "U0ADMIN001"},
                           "reason": text_input(NASTY)})
    await bot.slash(f"action <@U0ADMIN001> {NASTY}")
    view = await bot.open_modal("incident.resolve", incident_id)
    await bot.submit_view(view["callback_id"], view["private_metadata"],
                          {"reason": text_input(NASTY)})
    await bot.post_alerts(nasty_alert())  # still firing at the source: a note, no page
    await bot.drain()
    acks.append(await bot.slash(f"timeline #{incident_id}"))
    await bot.shortcut("timeline.show", copied, user=RESPONDER, channel="CPLATFORM1")
    acks.append(await bot.slash(f"postmortem #{incident_id}"))
    await bot.drain()

    assert live_tokens(bot, acks) == []
    kinds = await bot.timeline_kinds(incident_id)
    for kind in ("note", "slack_message", "escalated", "resolved", "still_firing"):
        assert kind in kinds
    thread = [m["text"] for m in bot.slack.messages("CPLATFORM1") if m.get("thread_ts")]
    assert any("&lt;!channel&gt;" in text for text in thread)  # shown, not pinging


async def test_the_timeline_shows_the_bots_mentions_live_and_the_persons_text_inert(bot):
    incident_id = await open_nasty_incident(bot)
    await bot.slash(f"ack #{incident_id}")
    await bot.slash(f"note #{incident_id} paged <@UEVIL0001> about <!here>")
    await bot.drain()

    reply = await bot.slash(f"timeline #{incident_id}")

    assert f"acknowledged by <@{RESPONDER}>" in reply["text"]  # the bot's own, live
    assert "&lt;@{RESPONDER}&gt;" not in reply["text"]
    assert "paged &lt;@UEVIL0001&gt; about &lt;!here&gt;" in reply["text"]
    assert live_tokens(bot, [reply]) == []


async def test_a_copied_message_names_its_author_live_and_quotes_the_text_inert(bot):
    incident_id = await open_nasty_incident(bot)
    thread_ts = (await bot.message_of(incident_id)).ts
    copied = {"type": "message", "user": "U0OBSERVER", "ts": "1700000000.000900",
              "thread_ts": thread_ts, "text": "<!here> rolled back"}
    await bot.shortcut("timeline.add", copied, user=RESPONDER, channel="CPLATFORM1")
    await bot.drain()

    reply = await bot.slash(f"timeline #{incident_id}")

    assert "<@U0OBSERVER> wrote: &lt;!here&gt; rolled back" in reply["text"]


async def test_the_show_timeline_shortcut_answers_the_clicker_alone(bot):
    incident_id = await open_nasty_incident(bot)
    await bot.slash(f"ack #{incident_id}")
    thread_ts = (await bot.message_of(incident_id)).ts
    reply_in_thread = {"type": "message", "user": "U0OBSERVER", "ts": "1700000000.000901",
                       "thread_ts": thread_ts, "text": "any reply"}

    assert await bot.shortcut("timeline.show", reply_in_thread, user=RESPONDER,
                              channel="CPLATFORM1") == 200

    [answer] = bot.slack.responses
    assert answer["response_type"] == "ephemeral"
    assert f"*Timeline of #{incident_id}*" in answer["text"]
    assert f"acknowledged by <@{RESPONDER}>" in answer["text"]


async def test_a_refusal_and_a_drafted_postmortem_name_people_live_on_the_timeline(bot):
    """Rows the bot writes about people (a denied click, a postmortem drafted) keep their
    mentions live in `/oncall timeline`, not `&lt;@U…&gt;`."""
    incident_id = await open_nasty_incident(bot)
    assert await bot.click("incident.ack", incident_id, user="U0STRANGER1") == 200
    await bot.slash(f"postmortem #{incident_id}")

    reply = await bot.slash(f"timeline #{incident_id}")

    assert "<@U0STRANGER1> was not allowed" in reply["text"]
    assert f"<@{RESPONDER}> drafted the postmortem" in reply["text"]
    assert "&lt;@U0STRANGER1&gt;" not in reply["text"]
    assert live_tokens(bot, [reply]) == []
