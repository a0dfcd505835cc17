"""The Slack fake, driven by the real slack_sdk clients over HTTP, as the bot will drive it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes.slack_api import FakeSlack, block_kit_problems

TOKEN = "xoxb-test"
METADATA = {"event_type": "incident_posted", "event_payload": {"incident_id": 7}}


def section(text: str = "hello", **extra) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(text: str = "Ack", action_id: str = "incident.ack", **extra) -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": text},
            "action_id": action_id, **extra}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack(channels={
        "C0ALERTS": {"name": "alerts"},
        "C0SECRET": {"name": "secret", "is_private": True, "is_member": False},
        "C0OLD": {"name": "old", "is_archived": True},
    })
    slack.add_user("U0ALICE", "alice", tz="Europe/Berlin")
    await slack.start()
    yield slack
    await slack.stop()


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=fake.base_url)


async def slack_error(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value


# -- messages ------------------------------------------------------------------------------


async def test_post_update_then_history_returns_metadata_only_when_asked(fake, client):
    posted = await client.chat_postMessage(channel="#alerts", text="firing",
                                           blocks=[section("firing")], metadata=METADATA)
    await client.chat_update(channel="C0ALERTS", ts=posted["ts"], text="acked",
                             blocks=[section("acked")], metadata=METADATA)

    plain = await client.conversations_history(channel="C0ALERTS")
    full = await client.conversations_history(channel="C0ALERTS", include_all_metadata=True)

    assert posted["channel"] == "C0ALERTS" and posted["message"]["metadata"] == METADATA
    assert [m["text"] for m in full["messages"]] == ["acked"]
    assert full["messages"][0]["metadata"] == METADATA
    assert "metadata" not in plain["messages"][0]
    assert fake.messages("C0ALERTS")[0]["blocks"] == [section("acked")]
    assert fake.calls_to("chat.update")[0].args["metadata"] == METADATA


async def test_update_with_text_only_drops_blocks_and_empty_list_clears_them(fake, client):
    ts = (await client.chat_postMessage(channel="C0ALERTS", text="a", blocks=[section()]))["ts"]

    await client.chat_update(channel="C0ALERTS", ts=ts, text="plain now")

    assert fake.messages("C0ALERTS")[0]["blocks"] == []
    assert fake.messages("C0ALERTS")[0]["text"] == "plain now"


async def test_ts_values_are_unique_and_increasing_across_channels(fake, client):
    fake.add_channel("C0OTHER", "other")
    stamps = [(await client.chat_postMessage(channel=c, text="x"))["ts"]
              for c in ("C0ALERTS", "C0OTHER", "C0ALERTS")]

    assert stamps == sorted(stamps, key=lambda ts: tuple(map(int, ts.split("."))))
    assert len(set(stamps)) == 3 and all(len(ts.split(".")[1]) == 6 for ts in stamps)


async def test_history_is_newest_first_without_thread_replies_and_honours_bounds(client):
    first = (await client.chat_postMessage(channel="C0ALERTS", text="one"))["ts"]
    await client.chat_postMessage(channel="C0ALERTS", text="reply", thread_ts=first)
    second = (await client.chat_postMessage(channel="C0ALERTS", text="two"))["ts"]

    history = await client.conversations_history(channel="C0ALERTS")
    after_first = await client.conversations_history(channel="C0ALERTS", oldest=first)
    upto_first = await client.conversations_history(channel="C0ALERTS", latest=second)
    thread = await client.conversations_replies(channel="C0ALERTS", ts=first)

    assert [m["text"] for m in history["messages"]] == ["two", "one"]
    assert history["messages"][1]["reply_count"] == 1
    assert [m["text"] for m in after_first["messages"]] == ["two"]
    assert [m["text"] for m in upto_first["messages"]] == ["one"]
    assert [m["text"] for m in thread["messages"]] == ["one", "reply"]


async def test_history_pages_with_limit_and_cursor(client):
    for n in range(5):
        await client.chat_postMessage(channel="C0ALERTS", text=str(n))

    first = await client.conversations_history(channel="C0ALERTS", limit=3)
    rest = await client.conversations_history(
        channel="C0ALERTS", limit=3, cursor=first["response_metadata"]["next_cursor"])

    assert [m["text"] for m in first["messages"]] == ["4", "3", "2"] and first["has_more"]
    assert [m["text"] for m in rest["messages"]] == ["1", "0"] and not rest["has_more"]


async def test_form_encoded_call_decodes_json_strings(fake, client):
    await client.api_call("chat.postMessage", data={
        "channel": "C0ALERTS", "text": "form", "blocks": '[{"type": "divider"}]',
        "metadata": '{"event_type": "x", "event_payload": {}}'})

    call = fake.calls_to("chat.postMessage")[0]
    assert call.args["blocks"] == [{"type": "divider"}]
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert fake.messages("C0ALERTS")[0]["metadata"] == {"event_type": "x", "event_payload": {}}


async def test_permalink_and_ephemeral(fake, client):
    ts = (await client.chat_postMessage(channel="C0ALERTS", text="x"))["ts"]

    link = await client.chat_getPermalink(channel="C0ALERTS", message_ts=ts)
    eph = await client.chat_postEphemeral(channel="C0ALERTS", user="U0ALICE", text="only you")

    assert link["permalink"].endswith("/archives/C0ALERTS/p" + ts.replace(".", ""))
    assert eph["message_ts"] and len(fake.messages("C0ALERTS")) == 1


# -- errors Slack answers with ok: false ---------------------------------------------------


@pytest.mark.parametrize(("call", "error"), [
    ({"channel": "C0NOPE", "text": "x"}, "channel_not_found"),
    ({"channel": "C0OLD", "text": "x"}, "is_archived"),
    ({"channel": "C0SECRET", "text": "x"}, "channel_not_found"),  # private, bot not in it
    pytest.param({"channel": "C0ALERTS"}, "no_text", marks=pytest.mark.filterwarnings(
        "ignore:The top-level `text` argument is missing")),
    ({"channel": "C0ALERTS", "text": "x" * 40_001}, "msg_too_long"),
    ({"channel": "C0ALERTS", "text": "x", "metadata": {"event_type": "x"}},
     "invalid_metadata_format"),
])
async def test_post_message_errors(client, call, error):
    exc = await slack_error(client.chat_postMessage(**call))

    assert exc.response.status_code == 200 and exc.response["error"] == error


async def test_update_errors(client):
    ts = (await client.chat_postMessage(channel="C0ALERTS", text="x"))["ts"]

    missing = await slack_error(client.chat_update(channel="C0ALERTS", ts="1.000001", text="y"))
    too_long = await slack_error(client.chat_update(channel="C0ALERTS", ts=ts, text="y" * 4001))

    assert missing.response["error"] == "message_not_found"
    assert too_long.response["error"] == "msg_too_long"


async def test_wrong_token_and_unknown_method(fake):
    bad = AsyncWebClient(token="xoxb-wrong", base_url=fake.base_url)
    good = AsyncWebClient(token=TOKEN, base_url=fake.base_url)

    assert (await slack_error(bad.auth_test())).response["error"] == "invalid_auth"
    assert (await slack_error(good.api_call("chat.nope"))).response["error"] == "unknown_method"
    assert (await good.auth_test())["user_id"] == "UBOT"


async def test_invalid_blocks_for_51_blocks(fake, client):
    exc = await slack_error(client.chat_postMessage(
        channel="C0ALERTS", text="x", blocks=[{"type": "divider"}] * 51))

    assert exc.response["error"] == "invalid_blocks"
    assert exc.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"]
    assert fake.messages("C0ALERTS") == []


async def test_invalid_blocks_for_a_76_char_button_text(client):
    blocks = [section(), {"type": "actions", "elements": [button("x" * 76)]}]

    exc = await slack_error(client.chat_postMessage(channel="C0ALERTS", text="x", blocks=blocks))

    assert exc.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 76 characters [json-pointer:/blocks/1/elements/0/text/text]"]


# -- faults the tests inject ---------------------------------------------------------------


async def test_429_surfaces_status_and_retry_after_then_clears(fake, client):
    fake.fail_next("chat.postMessage", retry_after=7)

    exc = await slack_error(client.chat_postMessage(channel="C0ALERTS", text="x"))
    await client.chat_postMessage(channel="C0ALERTS", text="x")

    assert exc.response.status_code == 429 and exc.response["error"] == "ratelimited"
    assert exc.response.headers["Retry-After"] == "7"
    assert len(fake.calls_to("chat.postMessage")) == 2 and len(fake.messages("C0ALERTS")) == 1


async def test_503_when_down_and_injected(fake, client):
    fake.down = True
    down = await slack_error(client.auth_test())
    fake.down = False
    fake.fail_next("auth.test", status=503)
    injected = await slack_error(client.auth_test())

    assert down.response.status_code == injected.response.status_code == 503
    assert (await client.auth_test())["ok"]


async def test_fail_next_with_ok_false_error(fake, client):
    fake.fail_next("chat.postMessage", status=200, error="channel_not_found", times=2)

    for _ in range(2):
        exc = await slack_error(client.chat_postMessage(channel="C0ALERTS", text="x"))
        assert exc.response.status_code == 200
        assert exc.response["error"] == "channel_not_found"
    assert (await client.chat_postMessage(channel="C0ALERTS", text="x"))["ok"]


async def test_hang_times_out_the_client_but_the_message_is_posted(fake):
    impatient = AsyncWebClient(token=TOKEN, base_url=fake.base_url, timeout=0.1)  # type: ignore[arg-type]
    fake.hang_next("chat.postMessage", 0.4)

    with pytest.raises(asyncio.TimeoutError):
        await impatient.chat_postMessage(channel="C0ALERTS", text="maybe sent")

    assert [m["text"] for m in fake.messages("C0ALERTS")] == ["maybe sent"]


# -- conversations, users, DMs -------------------------------------------------------------


async def test_dm_by_user_id_opens_one_dm_channel(fake, client):
    posted = await client.chat_postMessage(channel="U0ALICE", text="you are on call")
    opened = await client.conversations_open(users="U0ALICE")

    assert posted["channel"].startswith("D")
    assert opened["channel"]["id"] == posted["channel"] == fake.dm_channel("U0ALICE")
    assert [m["text"] for m in fake.messages("U0ALICE")] == ["you are on call"]
    assert fake.channels[posted["channel"]]["user"] == "U0ALICE"
    unknown = await slack_error(client.chat_postMessage(channel="U0NOBODY", text="x"))
    assert unknown.response["error"] == "channel_not_found"


async def test_conversations_list_paginates_and_filters_types(fake, client):
    for n in range(3):
        fake.add_channel(f"C0EXTRA{n}", f"extra-{n}")
    fake.add_channel("C0MINE", "mine", is_private=True)

    ids, cursor = [], None
    while True:
        page = await client.conversations_list(limit=2, cursor=cursor, exclude_archived=True)
        ids += [c["id"] for c in page["channels"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    private = await client.conversations_list(types="private_channel")

    assert ids == ["C0ALERTS", "C0EXTRA0", "C0EXTRA1", "C0EXTRA2"]
    assert len(fake.calls_to("conversations.list")) == 3
    assert [c["id"] for c in private["channels"]] == ["C0MINE"]  # not C0SECRET: bot not in it


async def test_join_public_sets_membership_and_refuses_private(fake, client):
    fake.add_channel("C0PUBLIC", "public", is_member=False)

    joined = await client.conversations_join(channel="C0PUBLIC")
    again = await client.conversations_join(channel="C0PUBLIC")
    refused = await slack_error(client.conversations_join(channel="C0SECRET"))

    assert joined["channel"]["is_member"] and again["warning"] == "already_in_channel"
    assert (await client.conversations_info(channel="C0PUBLIC"))["channel"]["is_member"]
    assert refused.response["error"] == "method_not_supported_for_channel_type"


async def test_without_chat_write_public_posting_needs_membership(fake, client):
    fake.chat_write_public = False
    fake.add_channel("C0PUBLIC", "public", is_member=False)

    exc = await slack_error(client.chat_postMessage(channel="C0PUBLIC", text="x"))
    await client.conversations_join(channel="C0PUBLIC")

    assert exc.response["error"] == "not_in_channel"
    assert (await client.chat_postMessage(channel="C0PUBLIC", text="x"))["ok"]


async def test_users_usergroups_and_dnd(fake, client):
    fake.add_user("U0BOB", "bob", dnd_until=4_000_000_000)
    fake.add_usergroup("S0ONCALL", "oncall", ["U0ALICE", "U0BOB"])

    alice = (await client.users_info(user="U0ALICE"))["user"]
    group = await client.usergroups_users_list(usergroup="S0ONCALL")
    bob_dnd = await client.dnd_info(user="U0BOB")
    alice_dnd = await client.dnd_info(user="U0ALICE")

    assert alice["tz"] == "Europe/Berlin" and alice["tz_offset"] in (3600, 7200)
    assert group["users"] == ["U0ALICE", "U0BOB"]
    assert bob_dnd["dnd_enabled"] and bob_dnd["next_dnd_end_ts"] == 4_000_000_000
    assert not alice_dnd["dnd_enabled"] and "snooze_enabled" not in alice_dnd
    missing = await slack_error(client.users_info(user="U0NOBODY"))
    assert missing.response["error"] == "user_not_found"


# -- views, files, response_url ------------------------------------------------------------


async def test_views_open_update_and_validation(fake, client):
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Page someone"},
            "blocks": [section()]}

    opened = await client.views_open(trigger_id="123.456.abc", view=view)
    updated = await client.views_update(view_id=opened["view"]["id"],
                                        view={**view, "blocks": [section("2")]})
    too_many = await slack_error(client.views_open(
        trigger_id="1.2.3", view={**view, "blocks": [{"type": "divider"}] * 101}))

    assert updated["view"]["id"] == opened["view"]["id"]
    assert fake.views[opened["view"]["id"]]["blocks"] == [section("2")]
    assert too_many.response["error"] == "invalid_arguments"
    assert too_many.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"]


async def test_files_upload_v2_round_trip_into_a_thread(fake, client):
    parent = (await client.chat_postMessage(channel="C0ALERTS", text="incident"))["ts"]

    upload = await client.files_upload_v2(channel="C0ALERTS", thread_ts=parent,
                                          content="timeline…", filename="postmortem.md",
                                          title="Postmortem", initial_comment="draft")

    [stored] = fake.files("C0ALERTS")
    assert upload["file"]["id"] == stored["id"]
    assert (stored["title"], stored["content"], stored["thread_ts"]) == (
        "Postmortem", "timeline…".encode(), parent)
    share = fake.messages("C0ALERTS")[-1]
    assert share["thread_ts"] == parent and share["files"][0]["id"] == stored["id"]
    assert [c.method for c in fake.calls] == [
        "chat.postMessage", "files.getUploadURLExternal", "files.completeUploadExternal"]


async def test_response_url_records_and_replaces_the_bound_message(fake, client):
    ts = (await client.chat_postMessage(channel="C0ALERTS", text="firing"))["ts"]
    ephemeral = AsyncWebhookClient(url=fake.response_url("r1"))
    bound = AsyncWebhookClient(url=fake.response_url("r2", channel="C0ALERTS", message_ts=ts))

    first = await ephemeral.send(text="only you can see this")
    await bound.send(text="acked by alice", replace_original=True)

    assert first.status_code == 200
    assert fake.responses == [
        {"key": "r1", "text": "only you can see this"},
        {"key": "r2", "text": "acked by alice", "replace_original": True}]
    assert [m["text"] for m in fake.messages("C0ALERTS")] == ["acked by alice"]


# -- the Block Kit table on its own (no HTTP) ----------------------------------------------


def actions(*elements: dict) -> dict:
    return {"type": "actions", "elements": list(elements)}


def header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


@pytest.mark.parametrize(("blocks", "pointer"), [
    ([section("x" * 3001)], "/blocks/0/text/text"),
    ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], "/blocks/0/fields"),
    ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
     "/blocks/0/fields/0/text"),
    ([header("h" * 151)], "/blocks/0/text/text"),
    ([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}], "/blocks/0/text"),
    ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
     "/blocks/0/elements"),
    ([actions(*[button(action_id=f"a{i}") for i in range(26)])], "/blocks/0/elements"),
    ([actions(button(value="v" * 2001))], "/blocks/0/elements/0/value"),
    ([actions(button(url="https://x/" + "u" * 2991))], "/blocks/0/elements/0/url"),
    ([actions(button(action_id="a" * 256))], "/blocks/0/elements/0/action_id"),
    ([actions(button(), button())], "/blocks/0/elements/1/action_id"),
    ([section(block_id="b" * 256)], "/blocks/0/block_id"),
    ([section(block_id="b"), section(block_id="b")], "/blocks/1/block_id"),
    ([section("")], "/blocks/0/text/text"),
    ([{"type": "section"}], "/blocks/0/type"),
    ([{"type": "carousel"}], "/blocks/0/type"),
])
def test_block_kit_rules(blocks, pointer):
    problems = block_kit_problems(blocks)

    assert len(problems) == 1 and problems[0].endswith(f"[json-pointer:{pointer}]")


def test_block_kit_accepts_a_full_incident_card():
    card = [
        header("h" * 150),
        section("s" * 3000, block_id="summary", accessory=button()),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}] * 10},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 10},
        actions(*[button("b" * 75, action_id=f"a{i}", value="v" * 2000) for i in range(25)]),
        actions(button(action_id="incident.ack")),  # same action_id in another block is fine
        *[{"type": "divider"}] * 44,
    ]

    assert block_kit_problems(card) == []
