"""/oncall, @oncall in threads, and the message shortcut, as signed Slack requests."""

from __future__ import annotations

from datetime import timedelta

from tests.appkit import BotUnderTest, eventually, payload

RESPONDER = "U0PLATFORM1"


async def open_incident(bot: BotUnderTest) -> int:
    body = payload("alertmanager/firing-model-ftl-p95.json")
    body["alerts"][0]["labels"]["alert_type"] = "infra"
    await bot.post_alerts(body)
    await bot.drain()
    return (await bot.incidents())[0].id


async def test_help_lists_every_subcommand(bot):
    reply = await bot.slash("help")
    for name in ("who", "ack", "resolve", "escalate", "note", "timeline", "runbook",
                 "silence", "postmortem", "route test"):
        assert name in reply["text"]


async def test_an_unknown_subcommand_gets_a_did_you_mean(bot):
    reply = await bot.slash("akc #1")
    assert "not an /oncall command" in reply["text"] and "ack" in reply["text"]
    assert reply["response_type"] == "ephemeral"


async def test_bad_input_says_what_was_wrong_and_the_usage(bot):
    reply = await bot.slash("note #1")
    assert "Usage:" in reply["text"]


async def test_ack_with_no_number_takes_the_channels_only_open_incident(bot):
    incident_id = await open_incident(bot)

    reply = await bot.slash("ack", user=RESPONDER)
    await bot.drain()

    assert reply["text"] == f"Acknowledged #{incident_id}."
    assert (await bot.incident(incident_id)).acked_by == RESPONDER
    assert "acked" in await bot.timeline_kinds(incident_id)  # the same row as the button


async def test_commands_check_permissions_like_the_buttons(bot):
    incident_id = await open_incident(bot)
    reply = await bot.slash(f"resolve #{incident_id} done", user="U0STRANGER1")
    assert "responders" in reply["text"]
    assert (await bot.incident(incident_id)).status == "triggered"


async def test_with_two_open_incidents_the_user_must_pick(bot):
    await open_incident(bot)
    other = payload("alertmanager/firing-model-ftl-p95.json")
    other["alerts"][0]["labels"].update({"alert_type": "infra", "alertname": "Other"})
    other["alerts"][0]["fingerprint"] = "ffff"
    await bot.post_alerts(other)
    await bot.drain()

    reply = await bot.slash("ack")
    assert "Which incident?" in reply["text"] and "#1" in reply["text"] and "#2" in reply["text"]
    buttons = [b["accessory"] for b in reply["blocks"] if "accessory" in b]
    assert [b["text"]["text"] for b in buttons] == ["Ack #1", "Ack #2"]
    assert await bot.click(buttons[1]["action_id"], 2, value=buttons[1]["value"]) == 200
    assert (await bot.incident(2)).status == "acknowledged"


async def test_note_and_timeline(bot):
    incident_id = await open_incident(bot)
    await bot.slash(f"note #{incident_id} failover to the secondary provider worked")
    await bot.drain()

    reply = await bot.slash(f"timeline #{incident_id}")

    assert "failover to the secondary provider worked" in reply["text"]
    assert "<!date^" in reply["text"]  # each reader sees their own time zone
    thread = [m["text"] for m in bot.slack.messages("CPLATFORM1") if m.get("thread_ts")]
    assert any("failover" in t for t in thread)


async def test_route_test_answers_like_the_cli(bot):
    reply = await bot.slash("route test alert_type=tool tool_name=stripe severity=critical",
                            user=RESPONDER)
    assert "team *integrations*" in reply["text"] and "tool_owners" in reply["text"]
    assert "holds: none" in reply["text"]  # the bot has its database: holds are checked


async def test_postmortem_is_uploaded_to_the_thread(bot):
    incident_id = await open_incident(bot)
    await bot.slash(f"ack #{incident_id}")
    await bot.slash(f"resolve #{incident_id} rolled back the deploy")
    await bot.drain()

    reply = await bot.slash(f"postmortem #{incident_id}")
    await bot.drain()

    assert "postmortem draft" in reply["text"].lower()
    [upload] = bot.slack.files("CPLATFORM1")
    content = upload["content"].decode()
    assert content.startswith(f"# Postmortem draft: #{incident_id}")
    assert "## Timeline (UTC)" in content and "rolled back the deploy" in content


async def test_mentions_in_the_thread_act_on_its_incident(bot):
    incident_id = await open_incident(bot)
    thread_ts = (await bot.message_of(incident_id)).ts

    assert await bot.mention("ack", user=RESPONDER, channel="CPLATFORM1",
                             thread_ts=thread_ts) == 200
    [ephemeral] = await eventually(lambda: bot.slack.calls_to("chat.postEphemeral"))

    assert (await bot.incident(incident_id)).acked_by == RESPONDER
    assert ephemeral.args["text"] == f"Acknowledged #{incident_id}."


async def test_a_repeated_event_delivery_acts_once(bot):
    incident_id = await open_incident(bot)
    thread_ts = (await bot.message_of(incident_id)).ts
    for _ in range(2):
        await bot.mention("note retried delivery", user=RESPONDER, channel="CPLATFORM1",
                          thread_ts=thread_ts, event_id="EvSAME")
    await eventually(lambda: bot.slack.calls_to("chat.postEphemeral"))
    await bot.drain()

    assert (await bot.timeline_kinds(incident_id)).count("note") == 1


async def test_the_shortcut_copies_a_message_into_the_timeline(bot):
    incident_id = await open_incident(bot)
    thread_ts = (await bot.message_of(incident_id)).ts
    message = {"type": "message", "user": "U0OBSERVER", "ts": "1700000000.000900",
               "thread_ts": thread_ts, "text": "error rate back to 0.1% after failover"}

    assert await bot.shortcut("timeline.add", message, user=RESPONDER,
                              channel="CPLATFORM1") == 200
    await eventually(lambda: bot.slack.calls_to("chat.postEphemeral"))

    assert "slack_message" in await bot.timeline_kinds(incident_id)


async def test_silenced_alerts_are_held_then_posted_when_the_silence_ends(bot):
    from bot.services.ingest import release_silences

    reply = await bot.slash('silence alertname="HealthcareFTLP95High" for 30m deploy',
                            user=RESPONDER)
    assert "Silence 1" in reply["text"] and reply["response_type"] == "in_channel"
    await open_incident_or_none(bot)
    assert await bot.incidents() == [] and len(await bot.alerts()) == 1
    assert "held" in (await bot.slash("silences"))["text"]

    bot.clock.advance(minutes=31)
    assert await release_silences(bot.parts.services) == 1
    await bot.drain()

    [incident] = await bot.incidents()
    assert "released_from_silence" in await bot.timeline_kinds(incident.id)
    assert len(bot.slack.calls_to("chat.postMessage")) >= 1


async def test_unsilence_ends_a_silence_early(bot):
    await bot.slash('silence alertname="X" for 1h')
    reply = await bot.slash("unsilence 1")
    assert "ended" in reply["text"]
    assert "No active silences" in (await bot.slash("silences"))["text"]


async def test_action_items_are_listed_done_and_in_the_postmortem(bot):
    incident_id = await open_incident(bot)
    thread_ts = (await bot.message_of(incident_id)).ts
    due = (bot.clock.now() + timedelta(days=8)).date().isoformat()
    await bot.mention(f"action <@U0OWNER001> add a for: 5m to the FTL alert due {due}",
                      user=RESPONDER, channel="CPLATFORM1", thread_ts=thread_ts)
    await eventually(lambda: bot.slack.calls_to("chat.postEphemeral"))

    listing = (await bot.slash("actions"))["text"]
    assert "<@U0OWNER001>" in listing and f"#{incident_id}" in listing
    assert "done" in (await bot.slash("done 1"))["text"]
    assert "No open action items" in (await bot.slash("actions"))["text"]

    from bot.services.postmortem import draft
    markdown = await draft(bot.parts.services, incident_id)
    assert f"- [x] add a for: 5m to the FTL alert (owner <@U0OWNER001>, due {due}" in markdown


async def test_override_of_a_team_without_a_schedule_says_so(bot):
    reply = await bot.slash("override <@U0COVER001|cover> for 2h platform")
    assert "no schedule" in reply["text"]  # the test config's teams have no schedules


async def open_incident_or_none(bot: BotUnderTest) -> None:
    body = payload("alertmanager/firing-model-ftl-p95.json")
    body["alerts"][0]["labels"]["alert_type"] = "infra"
    await bot.post_alerts(body)
    await bot.drain()


async def test_digest_on_demand_with_nothing_to_say_says_so(bot):
    assert "Nothing to send" in (await bot.slash("digest cost"))["text"]


async def test_every_subcommand_has_a_handler():
    from commands import parsing
    from commands.handlers import HANDLERS

    commands = set(parsing.Command.__args__[0].__args__)  # the union's members (20)
    assert commands == set(HANDLERS)


async def test_the_shortcut_on_a_message_outside_incidents_lets_the_user_pick(bot):
    incident_id = await open_incident(bot)
    message = {"type": "message", "user": "U0OBSERVER", "ts": "1700000000.000901",
               "text": "customers report dropped calls"}

    assert await bot.shortcut("timeline.add", message, user=RESPONDER,
                              channel="C0ELSEWHERE") == 200
    view = (await eventually(lambda: bot.slack.calls_to("views.open")))[-1].args["view"]
    assert view["callback_id"] == "timeline.add.pick"
    await bot.submit_view(view["callback_id"], view["private_metadata"],
                          {"incident": {"type": "static_select",
                                        "selected_option": {"value": str(incident_id)}}},
                          user=RESPONDER)
    await eventually(lambda: bot.slack.calls_to("chat.postEphemeral"))

    assert "slack_message" in await bot.timeline_kinds(incident_id)


async def test_an_alert_held_by_a_silence_is_noted_on_the_incident_it_would_join(bot):
    incident_id = await open_incident(bot)
    await bot.slash('silence vertical="retail" for 1h')
    more = payload("alertmanager/firing-model-ftl-p95.json")
    more["alerts"][0]["labels"].update({"alert_type": "infra", "vertical": "retail"})
    more["alerts"][0]["fingerprint"] = "0123456789abcdef"

    await bot.post_alerts(more)

    assert "alert_silenced" in await bot.timeline_kinds(incident_id)


async def test_due_dates_are_read_on_the_service_clock_in_the_teams_time_zone(bot):
    """`due tomorrow` is tomorrow of the injected clock, not of the machine running the test."""
    incident_id = await open_incident(bot)
    thread_ts = (await bot.message_of(incident_id)).ts
    await bot.mention("action <@U0OWNER001> check the canary due tomorrow",
                      user=RESPONDER, channel="CPLATFORM1", thread_ts=thread_ts)
    await eventually(lambda: bot.slack.calls_to("chat.postEphemeral"))
    tomorrow = (bot.clock.now() + timedelta(days=1)).date().isoformat()
    assert f"due {tomorrow}" in (await bot.slash("actions"))["text"]

    bot.clock.advance(days=30)
    past = (bot.clock.now() - timedelta(days=1)).date().isoformat()
    refused = await bot.slash(f"action <@U0OWNER001> too late #{incident_id} due {past}")
    assert "past" in refused["text"]
