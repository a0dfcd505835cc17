"""The weekly noise review: every figure on a hand-built week, then invariants over any history."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.digests import (
    ActionItemRecord,
    IncidentRecord,
    PageRecord,
    Window,
    is_after_hours,
    previous_week,
)
from bot.domain.noise import NoiseReview, RuleFigures, noise_review, suggest
from bot.domain.stats import Summary

BERLIN = ZoneInfo("Europe/Berlin")
# Monday 2025-03-03 00:00 to Monday 2025-03-10 00:00 in Berlin (UTC+1, no DST change).
WEEK = previous_week(datetime(2025, 3, 12, 9, tzinfo=BERLIN), BERLIN)
TODAY = date(2025, 3, 10)
MIN = timedelta(minutes=1)


def utc(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, second, tzinfo=UTC)


def incident(
    id: int, rule: str, route: str, team: str, opened: datetime, **kw: Any
) -> IncidentRecord:
    """An incident whose alert fired when it opened, paged when `pages` says so."""
    pages = [PageRecord(person=p, at=at, rotation=r) for p, at, r in kw.pop("pages", [])]
    fields = {"alert_fired_at": [opened], "pages": pages, "paged": bool(pages)}
    if pages:
        fields["first_paged_at"] = min(page.at for page in pages)
    return IncidentRecord.model_validate(
        {"id": id, "team": team, "alertname": rule, "route_key": route, "opened_at": opened}
        | fields
        | kw
    )


def flapping_latency() -> list[IncidentRecord]:
    """Six 90-second pages in the night (03:00-05:30 Berlin), never acked, 28.5 min apart."""
    return [
        incident(
            n, "LLMLatencyHigh", "root/0", "ml", opened,
            pages=[("ana", opened, "ml-primary")],
            resolved_at=opened + timedelta(seconds=90),
            resolved_by_source=True,
            auto_resolved_before_ack=True,
        )
        for n, opened in enumerate((utc(4, 2) + 30 * MIN * k for k in range(6)), start=1)
    ]  # fmt: skip


def slow_gpu_queue() -> list[IncidentRecord]:
    """Three daytime pages, acked every time after 20, 25 and 30 minutes."""
    found = []
    for n, (day, wait) in enumerate([(5, 20), (6, 25), (7, 30)], start=10):
        opened = utc(day, 10)
        pages = [("bo", opened, "infra-primary")]
        if day == 5:
            pages.append(("cy", opened + 15 * MIN, "infra-secondary"))
        found.append(
            incident(n, "GPUQueueBacklog", "root/1", "infra", opened, pages=pages,
                     first_acked_at=opened + wait * MIN, resolved_at=opened + 60 * MIN)
        )  # fmt: skip
    return found


def token_drift() -> list[IncidentRecord]:
    """Two weekend incidents that the AI triage always handed to humans; nobody was paged."""
    return [
        incident(n, "TokenSpendDrift", "root/2", "ml", opened, routed_to_humans=True,
                 resolved_at=opened + 10 * MIN)
        for n, opened in [(20, utc(8, 12)), (21, utc(9, 12))]
    ]  # fmt: skip


def embedding_errors() -> list[IncidentRecord]:
    """A healthy rule, plus last week's incident of it that fired and paged again on Monday."""
    old = incident(
        30, "EmbeddingErrors", "root/3", "search", utc(2, 22),
        alert_fired_at=[utc(2, 22), utc(3, 0, 30)],
        pages=[("dee", utc(3, 0, 30), "search-primary")],
        first_acked_at=utc(3, 0, 40), resolved_at=utc(3, 1),
    )  # fmt: skip
    healthy = incident(
        31, "EmbeddingErrors", "root/3", "search", utc(3, 9, 30),
        pages=[("dee", utc(3, 9, 30), "search-primary")],
        first_acked_at=utc(3, 9, 32), resolved_at=utc(3, 9, 50),
    )  # fmt: skip
    return [old, healthy]


def outside_the_week() -> list[IncidentRecord]:
    return [
        incident(40, "LLMLatencyHigh", "root/0", "ml", WEEK.end, pages=[("ana", WEEK.end, "x")]),
        incident(41, "LLMLatencyHigh", "root/0", "ml", WEEK.start - MIN),
    ]


def last_week() -> list[IncidentRecord]:
    opened = utc(25, 10).replace(month=2)
    return [
        incident(50, "GPUQueueBacklog", "root/1", "infra", opened,
                 pages=[("bo", opened, "infra-primary")], first_acked_at=opened + MIN,
                 resolved_at=opened + 10 * MIN),
        incident(51, "GPUQueueBacklog", "root/1", "infra", opened + 60 * MIN,
                 pages=[("bo", opened + 60 * MIN, "infra-primary")],
                 first_acked_at=opened + 63 * MIN, resolved_at=opened + 80 * MIN),
        embedding_errors()[0],
    ]  # fmt: skip


ACTIONS = [
    ActionItemRecord(id=1, owner="ana", due=date(2025, 3, 1), done=True),
    ActionItemRecord(id=2, owner="bo", due=date(2025, 3, 5), title="add for: to latency rule"),
    ActionItemRecord(id=3, owner="cy", due=TODAY),
    ActionItemRecord(id=4, owner="dee"),
]


@pytest.fixture(scope="module")
def review() -> NoiseReview:
    history = [
        *flapping_latency(),
        *slow_gpu_queue(),
        *token_drift(),
        *embedding_errors(),
        *outside_the_week(),
    ]
    return noise_review(history, ACTIONS, WEEK, last_week(), tz=BERLIN, today=TODAY)


def rule(review: NoiseReview, alertname: str) -> RuleFigures:
    return next(figures for figures in review.rules if figures.alertname == alertname)


def test_the_week_is_monday_to_monday_in_berlin(review: NoiseReview) -> None:
    assert (review.week_start, review.week_end) == (utc(2, 23), utc(9, 23))
    assert (review.time_zone, review.business_hours) == ("Europe/Berlin", (9, 18))


def test_rules_rank_by_pages_then_times_fired(review: NoiseReview) -> None:
    ranked = [(r.alertname, r.pages, r.fired) for r in review.rules]
    assert ranked == [
        ("LLMLatencyHigh", 6, 6),
        ("GPUQueueBacklog", 4, 3),
        ("EmbeddingErrors", 2, 2),
        ("TokenSpendDrift", 0, 2),
    ]
    assert (review.fired, review.incidents, review.pages) == (13, 12, 12)


def test_a_short_never_acked_rule_is_told_to_wait_before_paging(review: NoiseReview) -> None:
    latency = rule(review, "LLMLatencyHigh")
    assert latency.model_dump(exclude={"time_to_ack_seconds", "duration_seconds"}) == {
        "alertname": "LLMLatencyHigh",
        "route_key": "root/0",
        "teams": ["ml"],
        "fired": 6,
        "incidents": 6,
        "paged": 6,
        "pages": 6,
        "acked": 0,
        "ack_rate": 0.0,
        "auto_resolved_before_ack": 6,
        "routed_to_humans": 0,
        "flaps": 5,  # each incident after the first opened 28.5 min after one resolved
        "pages_out_of_hours": 6,
        "suggestion": "fired 6 times, never acked, median 90 s: add `for: 5m` or `page_after: 3m`",
        "feedback": {},
        "precision": None,
        "judged": 0,
    }
    assert latency.time_to_ack_seconds == Summary(count=0)
    assert latency.duration_seconds == Summary(count=6, median=90, p90=90)


def test_a_rule_acked_every_time_but_slowly(review: NoiseReview) -> None:
    gpu = rule(review, "GPUQueueBacklog")
    assert (gpu.incidents, gpu.paged, gpu.pages, gpu.acked, gpu.ack_rate) == (3, 3, 4, 3, 1.0)
    assert gpu.time_to_ack_seconds == Summary(count=3, median=1500, p90=1800)
    assert gpu.duration_seconds == Summary(count=3, median=3600, p90=3600)
    assert (gpu.flaps, gpu.pages_out_of_hours, gpu.auto_resolved_before_ack) == (0, 0, 0)
    assert gpu.suggestion == SLOW


def test_a_rule_always_handed_to_humans(review: NoiseReview) -> None:
    drift = rule(review, "TokenSpendDrift")
    assert (drift.incidents, drift.paged, drift.pages, drift.ack_rate) == (2, 0, 0, None)
    assert drift.routed_to_humans == 2
    assert drift.duration_seconds == Summary(count=2, median=600, p90=600)
    assert drift.suggestion == "always routed to humans: page the human team directly"


def test_a_healthy_rule_gets_no_suggestion_and_counts_last_weeks_incident_paging_again(
    review: NoiseReview,
) -> None:
    embed = rule(review, "EmbeddingErrors")
    # Incident 30 opened last week: its Monday fire and page count, the incident does not.
    assert (embed.fired, embed.incidents, embed.paged, embed.pages) == (2, 1, 1, 2)
    assert (embed.acked, embed.ack_rate, embed.pages_out_of_hours) == (1, 1.0, 1)
    assert embed.time_to_ack_seconds == Summary(count=1, median=120, p90=120)
    assert embed.suggestion is None


def test_on_call_health(review: NoiseReview) -> None:
    health = review.health
    assert list(health.pages_per_person.items()) == [("ana", 6), ("bo", 3), ("dee", 2), ("cy", 1)]
    assert health.pages_per_rotation == {
        "ml-primary": 6,
        "infra-primary": 3,
        "search-primary": 2,
        "infra-secondary": 1,
    }
    assert health.after_hours_pages == 7  # the six night pages and Monday 01:30
    assert health.time_to_ack_seconds.this_week == Summary(count=4, median=1350, p90=1800)
    assert health.time_to_ack_seconds.previous_week == Summary(count=3, median=180, p90=600)
    assert health.time_to_resolve_seconds.this_week == Summary(count=12, median=345, p90=3600)
    assert health.time_to_resolve_seconds.previous_week == Summary(count=3, median=1200, p90=10800)
    assert health.open_action_items == 3
    assert [item.id for item in health.overdue_action_items] == [2]


def test_pages_per_day_by_team_for_the_chart(review: NoiseReview) -> None:
    chart = review.pages_per_day_by_team
    assert chart.days == [date(2025, 3, d) for d in range(3, 10)]
    assert chart.teams == {
        "infra": [0, 0, 2, 1, 1, 0, 0],
        "ml": [0, 6, 0, 0, 0, 0, 0],
        "search": [2, 0, 0, 0, 0, 0, 0],
    }


def test_the_review_prints_as_json(review: NoiseReview) -> None:
    printed = json.loads(json.dumps(review.to_json()))
    assert printed["week_start"] == "2025-03-02T23:00:00Z"
    assert printed["rules"][0]["suggestion"].startswith("fired 6 times")
    assert printed["pages_per_day_by_team"]["days"][0] == "2025-03-03"
    assert printed["health"]["time_to_ack_seconds"]["this_week"] == {
        "count": 4,
        "median": 1350.0,
        "p90": 1800.0,
    }


def test_a_record_given_twice_counts_once() -> None:
    history = flapping_latency()
    once = noise_review(history, [], WEEK, [], tz=BERLIN, today=TODAY)
    twice = noise_review(history + history, [], WEEK, history, tz=BERLIN, today=TODAY)
    assert once == twice


def test_refuses_a_backwards_week_and_odd_business_hours() -> None:
    with pytest.raises(ValueError, match="start before it ends"):
        noise_review([], [], (WEEK.end, WEEK.start), [], tz=BERLIN, today=TODAY)
    with pytest.raises(ValueError, match="business hours"):
        noise_review([], [], WEEK, [], tz=BERLIN, business_hours=(18, 9), today=TODAY)


def test_a_week_across_a_dst_change_still_charts_seven_local_days() -> None:
    week = previous_week(datetime(2025, 4, 2, tzinfo=UTC), BERLIN)  # 167 hours
    sunday_night = datetime(2025, 3, 30, 23, 30, tzinfo=BERLIN)
    monday_morning = datetime(2025, 3, 24, 0, 30, tzinfo=BERLIN)
    history = [
        incident(n, "A", "root/0", "ml", at, pages=[("ana", at, "ml-primary")])
        for n, at in enumerate((monday_morning, sunday_night))
    ]
    result = noise_review(history, [], week, [], tz=BERLIN, today=TODAY)
    chart = result.pages_per_day_by_team
    assert chart.days == [date(2025, 3, d) for d in range(24, 31)]
    assert chart.teams == {"ml": [1, 0, 0, 0, 0, 0, 1]}
    assert result.health.after_hours_pages == 2


@pytest.mark.parametrize(
    ("moment", "after_hours"),
    [
        (utc(3, 8), False),  # Monday 09:00 Berlin
        (utc(3, 7, 59), True),
        (utc(3, 16, 59), False),  # 17:59
        (utc(3, 17), True),  # 18:00
        (utc(8, 10), True),  # Saturday
        (utc(9, 22, 59), True),  # Sunday 23:59
    ],
)
def test_after_hours_is_outside_business_hours_or_weekend_locally(
    moment: datetime, after_hours: bool
) -> None:
    assert is_after_hours(moment, BERLIN, (9, 18)) is after_hours


# -- suggestions -------------------------------------------------------------------------------


def figures(**kw: Any) -> RuleFigures:
    base = {
        "alertname": "A", "route_key": "root/0", "teams": ["ml"], "fired": 1, "incidents": 1,
        "paged": 0, "pages": 0, "acked": 0, "ack_rate": None,
        "time_to_ack_seconds": Summary(count=0), "duration_seconds": Summary(count=0),
        "auto_resolved_before_ack": 0, "routed_to_humans": 0, "flaps": 0, "pages_out_of_hours": 0,
    }  # fmt: skip
    return RuleFigures.model_validate(base | kw)


def stat(count: int, median: float, p90: float) -> Summary:
    return Summary(count=count, median=median, p90=p90)


SLOW = "acked every time but median time to ack 25 min: shorten `page_after` or find a better route"


@pytest.mark.parametrize(
    ("kw", "advice"),
    [
        (
            {"fired": 42, "incidents": 40, "paged": 40, "duration_seconds": stat(40, 90, 200)},
            "fired 42 times, never acked, median 90 s: add `for: 5m` or `page_after: 3m`",
        ),
        (
            {"fired": 9, "incidents": 9, "paged": 9, "duration_seconds": stat(9, 20, 30)},
            "fired 9 times, never acked, median 20 s: add `for: 2m` or `page_after: 1m`",
        ),
        (
            {"fired": 9, "incidents": 9, "paged": 9, "duration_seconds": stat(9, 900, 900)},
            None,  # long incidents nobody acked: not flapping noise
        ),
        (
            {"fired": 4, "incidents": 4, "paged": 4, "duration_seconds": stat(4, 20, 30)},
            None,  # too few firings to call it noise
        ),
        (
            {"incidents": 10, "auto_resolved_before_ack": 8},
            "auto-resolved before ack in 80% of incidents: raise the threshold or add `for:`",
        ),
        ({"incidents": 2, "auto_resolved_before_ack": 2}, None),  # too few to judge a share
        (
            {"incidents": 8, "flaps": 6},
            "flapped 6 times: add hysteresis (`keep_firing_for`) or a longer `for:`",
        ),
        ({"incidents": 8, "flaps": 2}, None),
        (
            {"incidents": 3, "routed_to_humans": 3},
            "always routed to humans: page the human team directly",
        ),
        ({"incidents": 3, "routed_to_humans": 2}, None),
        ({"paged": 4, "acked": 4, "time_to_ack_seconds": stat(4, 1500, 2000)}, SLOW),
        ({"paged": 4, "acked": 4, "time_to_ack_seconds": stat(4, 300, 900)}, None),
        ({"paged": 4, "acked": 3, "time_to_ack_seconds": stat(3, 1500, 2000)}, None),
    ],
)
def test_suggestions_are_drawn_from_the_figures(kw: dict[str, Any], advice: str | None) -> None:
    assert suggest(figures(**kw)) == advice


# -- invariants over generated histories -------------------------------------------------------

ZONES = st.sampled_from([BERLIN, ZoneInfo("America/New_York"), ZoneInfo("UTC")])
SPAN = timedelta(days=9)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[IncidentRecord], Window, ZoneInfo]:
    tz = draw(ZONES)
    now = draw(st.datetimes(datetime(2024, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC)))
    week = previous_week(now, tz)
    moment = st.integers(-2 * 86400, 9 * 86400).map(lambda s: week.start + timedelta(seconds=s))
    edge = st.sampled_from([week.start, week.end, week.start - MIN, week.end - MIN])
    when = st.one_of(moment, edge)
    records = []
    for n in range(draw(st.integers(0, 12))):
        opened = draw(when)
        pages = draw(
            st.lists(st.tuples(st.sampled_from("abc"), when, st.sampled_from("xy")), max_size=3)
        )
        acked = draw(st.one_of(st.none(), st.integers(0, 7200)))
        resolved = draw(st.one_of(st.none(), st.integers(0, 7200)))
        records.append(
            incident(
                n, draw(st.sampled_from(["A", "B", "C"])), draw(st.sampled_from(["r/0", "r/1"])),
                draw(st.sampled_from(["ml", "infra"])), opened, pages=pages,
                alert_fired_at=draw(st.lists(when, max_size=4)),
                first_acked_at=None if acked is None else opened + timedelta(seconds=acked),
                resolved_at=None if resolved is None else opened + timedelta(seconds=resolved),
                routed_to_humans=draw(st.booleans()), auto_resolved_before_ack=draw(st.booleans()),
            )
        )  # fmt: skip
    return records, week, tz


@settings(max_examples=80, deadline=None)
@given(histories())
def test_figures_add_up_over_any_history(
    history: tuple[list[IncidentRecord], Window, ZoneInfo],
) -> None:
    records, week, tz = history
    result = noise_review(records, [], week, records, tz=tz, today=TODAY)
    inside = [r for r in records if week.start <= r.opened_at < week.end]
    pages = [p for r in records for p in r.pages if week.start <= p.at < week.end]
    assert result.incidents == len(inside)
    assert result.fired == sum(
        week.start <= at < week.end for r in records for at in r.alert_fired_at
    )
    assert (
        result.pages
        == len(pages)
        == sum(sum(row) for row in result.pages_per_day_by_team.teams.values())
    )
    assert sum(result.health.pages_per_person.values()) == len(pages)
    assert sum(result.health.pages_per_rotation.values()) == len(pages)
    assert result.health.after_hours_pages <= len(pages)
    assert len(result.pages_per_day_by_team.days) == 7
    for figures in result.rules:
        assert figures.acked <= figures.paged <= figures.incidents
        assert figures.pages_out_of_hours <= figures.pages
        assert figures.flaps <= figures.incidents
        assert figures.auto_resolved_before_ack <= figures.incidents
        assert figures.routed_to_humans <= figures.incidents
        assert (figures.ack_rate is None) == (figures.paged == 0)
        assert figures.ack_rate is None or 0 <= figures.ack_rate <= 1
        assert figures.time_to_ack_seconds.count == figures.acked
        for stat in (figures.time_to_ack_seconds, figures.duration_seconds):
            assert stat.count == 0 or stat.median <= stat.p90  # type: ignore[operator]
    tta = result.health.time_to_ack_seconds.this_week
    assert tta.count == sum(r.paged and r.first_acked_at is not None for r in inside)
    ranks = [(-f.pages, -f.fired) for f in result.rules]
    assert ranks == sorted(ranks)  # noisiest first
