"""Digest messages: golden dicts of the cost digest and the noise review, limits, escaping."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.cost_digest import build_cost_digest
from bot.domain.digests import (
    ActionItemRecord,
    DigestItem,
    IncidentRecord,
    PageRecord,
    Window,
    previous_week,
)
from bot.domain.noise import NoiseReview, noise_review
from bot.slack.action_ids import BadActionValue
from bot.slack.digest.blocks import DigestLineRef, cost_digest_message
from bot.slack.digest.review import duration as say_duration
from bot.slack.digest.review import noise_review_message
from tests.fakes.slack_api import block_kit_problems

HOUR = Window(datetime(2026, 11, 23, 10, tzinfo=UTC), datetime(2026, 11, 23, 11, tzinfo=UTC))
BERLIN = ZoneInfo("Europe/Berlin")
MIN = timedelta(minutes=1)


def at(minute: int) -> datetime:
    return HOUR.start + minute * MIN


def mrkdwn(text: str) -> dict:
    return {"text": text, "type": "mrkdwn", "verbatim": True}


def date_ref(minute: int) -> str:
    moment = at(minute)
    return f"<!date^{int(moment.timestamp())}^{{time}}|{moment:%Y-%m-%d %H:%M} UTC>"


def open_button(service: str, model: str, index: int) -> dict:
    value = (f'{{"team":"finops","service":"{service}","model":"{model}",'
             f'"since":1795428000,"until":1795431600}}')
    return {"action_id": f"digest.open_incident.{index}", "type": "button", "value": value,
            "text": {"text": "Open incident", "type": "plain_text"}}


def cost_items() -> list[DigestItem]:
    return [
        DigestItem(service="chat-agent", model="gpt-4o", alertname="LLMCostSpike", value=412.5,
                   baseline=128.0, ratio=412.5 / 128, fired_at=at(2)),
        DigestItem(service="chat-agent", model="gpt-4o", alertname="LLMCostSpike", value=1100.0,
                   baseline=128.0, ratio=1100 / 128, fired_at=at(41), still_firing=True),
        DigestItem(service="voice-agent", model="whisper-large", alertname="STTCostSpike",
                   value=12.5, baseline=5.0, ratio=2.5, fired_at=at(17)),
        DigestItem(service="embeddings", alertname="EmbeddingSpend", fired_at=at(30),
                   still_firing=True, flagged_missing_ratio=True),
    ]


def test_cost_digest_golden() -> None:
    text, blocks = cost_digest_message("finops", build_cost_digest(cost_items(), HOUR))

    assert text == "Cost spikes · finops · 10:00–11:00 UTC: 3 lines, worst chat-agent at 8.6x"
    assert [block.to_dict() for block in blocks] == [
        {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                    "text": ":money_with_wings: Cost spikes · finops · "
                                            "10:00–11:00 UTC"}},
        {"type": "context", "elements": [mrkdwn(
            "3 service/model lines · fired 4 times · worst ratio first · "
            ":warning: 1 without a ratio")]},
        {"type": "section", "block_id": "digest-line-0",
         "accessory": open_button("chat-agent", "gpt-4o", 0),
         "text": mrkdwn("*chat-agent* · gpt-4o — *8.6×* baseline · :fire: still firing\n"
                        f"spend rate 1,100 vs baseline 128.00 · fired 2× · first {date_ref(2)}, "
                        f"last {date_ref(41)}\nLLMCostSpike")},
        {"type": "section", "block_id": "digest-line-1",
         "accessory": open_button("voice-agent", "whisper-large", 1),
         "text": mrkdwn("*voice-agent* · whisper-large — *2.5×* baseline · :white_check_mark: "
                        f"resolved\nspend rate 12.50 vs baseline 5.00 · fired 1× · at "
                        f"{date_ref(17)}\nSTTCostSpike")},
        {"type": "section", "block_id": "digest-line-2",
         "accessory": open_button("embeddings", "", 2),
         "text": mrkdwn("*embeddings* · (no model) — :warning: *no ratio* (add `value` and "
                        "`baseline`, or `ratio`, to the alert) · :fire: still firing\n"
                        f"spend rate – vs baseline – · fired 1× · at {date_ref(30)}\n"
                        "EmbeddingSpend")},
    ]
    assert block_kit_problems([block.to_dict() for block in blocks]) == []


def test_an_on_demand_digest_says_so() -> None:
    _, blocks = cost_digest_message("finops", build_cost_digest(cost_items(), HOUR),
                                    on_demand=True)
    assert "on demand: the last hour up to now" in blocks[1].to_dict()["elements"][0]["text"]


def test_a_long_digest_is_cut_to_fifty_blocks_and_says_how_many_were_left_out() -> None:
    items = [DigestItem(service=f"svc-{n:02d}", model="m", ratio=float(n), value=n * 10.0,
                        baseline=10.0, fired_at=at(n % 60)) for n in range(1, 81)]
    _, blocks = cost_digest_message("finops", build_cost_digest(items, HOUR))

    dicts = [block.to_dict() for block in blocks]
    assert len(dicts) == 50 and block_kit_problems(dicts) == []
    assert dicts[2]["text"]["text"].startswith("*svc-80*")  # worst first
    assert dicts[-1]["elements"][0]["text"].startswith("… and 33 more")


def test_alert_text_in_a_digest_cannot_mention_or_link() -> None:
    items = [DigestItem(service="<!channel> x", model="<http://evil|y>", alertname="A&B",
                        ratio=9.0, fired_at=at(1))]
    _, blocks = cost_digest_message("finops", build_cost_digest(items, HOUR))

    text = blocks[2].to_dict()["text"]["text"]
    assert "<!channel>" not in text and "<http" not in text
    assert "&lt;!channel&gt; x" in text and "A&amp;B" in text


def test_the_button_value_round_trips_and_refuses_anything_else() -> None:
    ref = DigestLineRef(team="finops", service="chat-agent", model="gpt-4o",
                        since=1795428000, until=1795431600)
    assert DigestLineRef.decode(ref.encode()) == ref
    assert ref.window == (HOUR.start, HOUR.end)
    for bad in ("", "{}", '{"incident_id":4}', "not json"):
        with pytest.raises(BadActionValue):
            DigestLineRef.decode(bad)


# -- the noise review ---------------------------------------------------------------------


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def record(id: int, rule: str, route: str, opened: datetime, person: str = "",
           **fields: object) -> IncidentRecord:
    pages = [PageRecord(person=person, at=opened, rotation="ai-eng")] if person else []
    return IncidentRecord.model_validate(
        {"id": id, "team": "ai-eng", "alertname": rule, "route_key": route, "opened_at": opened,
         "alert_fired_at": [opened], "pages": pages, "paged": bool(pages),
         "first_paged_at": opened if pages else None} | fields)


def review() -> NoiseReview:
    """Six short night pages nobody acked; three slow daytime acks; one fast ack a week before."""
    latency = [record(n + 1, "LLMLatencyHigh", "root/1", utc(17, 2) + 30 * n * MIN, "U0ANA00001",
                      resolved_at=utc(17, 2) + 30 * n * MIN + timedelta(seconds=90),
                      resolved_by_source=True, auto_resolved_before_ack=True)
               for n in range(6)]
    gpu = [record(10 + d, "GPUQueueBacklog", "root/0", utc(18 + d, 10), "U0BOB00002",
                  first_acked_at=utc(18 + d, 10) + (20 + 5 * d) * MIN,
                  resolved_at=utc(18 + d, 11)) for d in range(3)]
    before = [record(50, "GPUQueueBacklog", "root/0", utc(11, 10), "U0BOB00002",
                     first_acked_at=utc(11, 10) + 2 * MIN, resolved_at=utc(11, 10) + 20 * MIN)]
    actions = [ActionItemRecord(id=2, owner="U0BOB00002", due=date(2026, 11, 20),
                                title="add for: to the latency rule")]
    week = previous_week(datetime(2026, 11, 23, 9, tzinfo=BERLIN), BERLIN)
    return noise_review([*latency, *gpu, *before], actions, week, before, tz=BERLIN,
                        today=date(2026, 11, 23))


def test_noise_review_golden() -> None:
    text, blocks = noise_review_message("ai-eng", review())

    assert text == "Noise review ai-eng Mon 16 Nov – Sun 22 Nov 2026: 9 fired, 9 incidents, 9 pages"
    assert [block.to_dict() for block in blocks] == [
        {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                    "text": ":bar_chart: Noise review · ai-eng · "
                                            "Mon 16 Nov – Sun 22 Nov 2026"}},
        {"type": "context", "elements": [mrkdwn(
            "time zone Europe/Berlin · business hours 9–18 on weekdays · figures from the "
            "bot's database")]},
        {"type": "section", "fields": [mrkdwn("*Alerts fired*\n9"), mrkdwn("*Incidents*\n9"),
                                       mrkdwn("*Pages*\n9"), mrkdwn("*After-hours pages*\n6"),
                                       mrkdwn("*Storms*\n0")]},
        {"type": "section", "text": mrkdwn("*Noisiest rules*")},
        {"type": "section", "text": mrkdwn(
            "1. *LLMLatencyHigh* on `root/1`\n"
            "fired 6 times · 6 incidents · 6 pages (6 out of hours) · 0/6 acked · time to ack "
            "– (n=0) · duration median 90 s, p90 90 s (n=6) · 6 auto-resolved before an ack · "
            "5 flaps\n"
            ":bulb: fired 6 times, never acked, median 90 s: add `for: 5m` or `page_after: 3m`")},
        {"type": "section", "text": mrkdwn(
            "2. *GPUQueueBacklog* on `root/0`\n"
            "fired 3 times · 3 incidents · 3 pages (0 out of hours) · 3/3 acked · time to ack "
            "median 25 min, p90 30 min (n=3) · duration median 60 min, p90 60 min (n=3)\n"
            ":bulb: acked every time but median time to ack 25 min: shorten `page_after` or "
            "find a better route")},
        {"type": "section", "text": mrkdwn(
            "*On-call health*\n"
            "Pages per person: <@U0ANA00001> 6, <@U0BOB00002> 3\n"
            "Pages per rotation: ai-eng 9\n"
            "After-hours pages: 6\n"
            "Time to ack: median 25 min, p90 30 min (n=3) this week · median 2 min, p90 2 min "
            "(n=1) the week before\n"
            "Time to resolve: median 90 s, p90 60 min (n=9) this week · median 20 min, p90 "
            "20 min (n=1) the week before\n"
            "Action items: 1 open, 1 overdue\n"
            "• overdue: add for: to the latency rule (<@U0BOB00002>, due 20 Nov)")},
        {"type": "context", "elements": [mrkdwn(
            ":chart_with_upwards_trend: Pages per day by team: chart in the thread")]},
    ]
    assert block_kit_problems([block.to_dict() for block in blocks]) == []


def test_a_quiet_week_says_so_and_has_no_chart() -> None:
    week = previous_week(datetime(2026, 11, 23, 9, tzinfo=BERLIN), BERLIN)
    quiet = noise_review([], [], week, [], tz=BERLIN, today=date(2026, 11, 23))
    _, blocks = noise_review_message("platform", quiet, on_demand=True)

    texts = [str(block.to_dict()) for block in blocks]
    assert any("Quiet week: no alert rule fired." in t for t in texts)
    assert "No pages this week: no chart." in texts[-1]
    assert "on demand" in texts[1]


def test_many_rules_are_cut_to_the_ten_noisiest() -> None:
    week = previous_week(datetime(2026, 11, 23, 9, tzinfo=BERLIN), BERLIN)
    records = [record(n, f"Rule{n:02d}", "root/0", utc(18, 10) + n * MIN) for n in range(1, 26)]
    busy = noise_review(records, [], week, [], tz=BERLIN, today=date(2026, 11, 23))
    _, blocks = noise_review_message("ai-eng", busy)

    dicts = [block.to_dict() for block in blocks]
    assert sum("on `root/0`" in str(d) for d in dicts) == 10
    assert any("… and 15 more rules" in str(d) for d in dicts)
    assert block_kit_problems(dicts) == []


@pytest.mark.parametrize(("seconds", "said"), [(45, "45 s"), (119, "119 s"), (1500, "25 min"),
                                               (9000, "2.5 h")])
def test_durations_read_the_way_people_say_them(seconds: float, said: str) -> None:
    assert say_duration(seconds) == said
