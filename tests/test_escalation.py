"""Escalation policies: targets, the flattened plan over repeats, who a level reaches, checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from bot.domain.escalation import (
    EscalationPolicy,
    Level,
    Problem,
    Target,
    TargetKind,
    ack_deadline,
    first_due,
    next_due,
    plan_step,
    policy_for,
    resolve_targets,
    step_count,
    validate_policies,
)

MIN = timedelta(minutes=1)
T0 = datetime(2025, 3, 30, 0, 55, tzinfo=UTC)
POLICIES = TypeAdapter(dict[str, EscalationPolicy]).validate_python(
    {
        "standard": {
            "levels": [
                {"notify": ["primary"], "after": "0m"},
                {"notify": ["secondary", "pager:pagerduty-ai"], "after": "10m"},
                {"notify": ["U0LEAD0001"], "after": "15m"},
            ],
            "repeat": 1,
            "ack_timeout": "30m",
        },
        "lead-now": {"levels": [{"notify": ["U0LEAD0001", "pager:pagerduty-ai"], "after": "0m"}]},
    }
)
STANDARD, LEAD_NOW = POLICIES["standard"], POLICIES["lead-now"]


@dataclass(frozen=True)
class OnCall:
    primary: str | None = "U0PRIMARY1"
    secondary: str | None = "U0SECOND01"


def level(*notify: str) -> Level:
    return Level.model_validate({"notify": list(notify)})


# -- targets ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("primary", TargetKind.PRIMARY, "primary"),
        ("secondary", TargetKind.SECONDARY, "secondary"),
        ("U0LEAD0001", TargetKind.USER, "U0LEAD0001"),
        ("W0GRID0001", TargetKind.USER, "W0GRID0001"),
        ("S0SRE00001", TargetKind.USERGROUP, "S0SRE00001"),
        ("#ai-eng", TargetKind.CHANNEL, "#ai-eng"),
        ("C0123ABCD", TargetKind.CHANNEL, "C0123ABCD"),
        ("pager:pagerduty-ai", TargetKind.PAGER, "pagerduty-ai"),
        (" primary ", TargetKind.PRIMARY, "primary"),
    ],
)
def test_parses_targets(text: str, kind: TargetKind, value: str) -> None:
    target = Target.model_validate(text)
    assert (target.kind, target.value) == (kind, value)


@pytest.mark.parametrize(
    "text", ["Primary", "lead", "u0lead0001", "U01", "#AI-Eng", "ai-eng", "pager:", "D0123ABCD", ""]
)
def test_refuses_unknown_targets_and_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValidationError) as failure:
        Target.model_validate(text)
    message = str(failure.value)
    assert "expected primary, secondary, a Slack user id (U...)" in message
    assert repr(text.strip()) in message


def test_targets_write_back_as_their_text() -> None:
    dumped = STANDARD.model_dump(mode="json")
    assert dumped["levels"][1] == {"notify": ["secondary", "pager:pagerduty-ai"], "after": "10m"}
    assert EscalationPolicy.model_validate(dumped) == STANDARD


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        ({"levels": []}, "at least 1 item"),
        ({"levels": [{"notify": []}]}, "at least 1 item"),
        ({"levels": [{"notify": ["primary"], "after": "ten minutes"}]}, "Prometheus duration"),
        ({"levels": [{"notify": ["primary"]}], "repeat": -1}, "greater than or equal to 0"),
        ({"levels": [{"notify": ["primary"]}], "ack_timeout": "0s"}, "ack_timeout must be longer"),
        ({"levels": [{"notify": ["primary"], "wait": "5m"}]}, "Extra inputs are not permitted"),
        ({"levels": [{"notify": ["primary"]}], "repeats": 2}, "Extra inputs are not permitted"),
    ],
)
def test_refuses_bad_policies(policy: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        EscalationPolicy.model_validate(policy)


# -- the plan ---------------------------------------------------------------------------


def test_flattens_levels_over_repeats() -> None:
    steps = [plan_step(STANDARD, index) for index in range(step_count(STANDARD))]
    assert [(s.level, s.round, s.delay // MIN, s.offset // MIN) for s in steps if s] == [
        (1, 0, 0, 0),
        (2, 0, 10, 10),
        (3, 0, 15, 25),
        # Level 1's own wait is 0, so the repeat waits the last level's 15m.
        (1, 1, 15, 40),
        (2, 1, 10, 50),
        (3, 1, 15, 65),
    ]
    assert [s.is_last for s in steps if s] == [False] * 5 + [True]
    assert plan_step(STANDARD, 6) is None


def test_a_repeat_round_keeps_level_one_wait_when_it_has_one() -> None:
    policy = EscalationPolicy.model_validate(
        {
            "levels": [
                {"notify": ["primary"], "after": "5m"},
                {"notify": ["secondary"], "after": "10m"},
            ],
            "repeat": 2,
        }
    )
    steps = [plan_step(policy, i) for i in range(step_count(policy))]
    assert [step.offset // MIN for step in steps if step] == [5, 15, 20, 30, 35, 45]


def test_plan_refuses_negative_steps() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        plan_step(STANDARD, -1)


@given(
    afters=st.lists(st.integers(0, 120), min_size=1, max_size=5),
    repeat=st.integers(0, 4),
)
def test_offsets_are_the_running_sum_of_delays(afters: list[int], repeat: int) -> None:
    policy = EscalationPolicy.model_validate(
        {"levels": [{"notify": ["primary"], "after": f"{a}m"} for a in afters], "repeat": repeat}
    )
    steps = [plan_step(policy, i) for i in range(step_count(policy))]
    assert len(steps) == len(afters) * (repeat + 1)
    running = timedelta(0)
    for step in steps:
        assert step is not None
        running += step.delay
        assert step.offset == running
        assert step.notify == policy.levels[step.level - 1].notify


def test_next_due_walks_the_plan_then_says_unowned() -> None:
    assert first_due(STANDARD, T0) == T0
    assert next_due(STANDARD, 0, T0) == T0 + 10 * MIN
    # Counted from when the previous step really went out, not from the plan.
    assert next_due(STANDARD, 1, T0 + 12 * MIN) == T0 + 27 * MIN
    assert next_due(STANDARD, 2, T0 + 27 * MIN) == T0 + 42 * MIN
    assert next_due(STANDARD, 5, T0 + 70 * MIN) is None
    assert next_due(LEAD_NOW, 0, T0) is None


def test_ack_deadline_only_with_an_ack_timeout() -> None:
    assert ack_deadline(STANDARD, T0) == T0 + 30 * MIN
    assert ack_deadline(LEAD_NOW, T0) is None


# -- resolving targets ------------------------------------------------------------------


def test_resolves_roles_users_groups_channels_and_pagers_in_order_without_duplicates() -> None:
    resolved = resolve_targets(
        level("primary", "S0SRE00001", "U0PRIMARY1", "#ai-eng", "pager:pagerduty-ai", "secondary"),
        OnCall(),
        {"S0SRE00001": ["U0SRE00001", "U0PRIMARY1", "U0SRE00002"]},
    )
    assert resolved.people == ["U0PRIMARY1", "U0SRE00001", "U0SRE00002", "U0SECOND01"]
    assert resolved.usergroups == ["S0SRE00001"]
    assert resolved.channels == ["#ai-eng"]
    assert resolved.pagers == ["pagerduty-ai"]
    assert resolved.empty is False
    assert resolved.model_dump()["empty"] is False


def test_a_schedule_gap_resolves_to_nobody() -> None:
    resolved = resolve_targets(level("primary", "secondary"), OnCall(None, None), {})
    assert resolved.empty
    assert resolved.people == []


def test_an_empty_group_is_nobody_but_an_unknown_group_is_kept() -> None:
    empty = resolve_targets(level("S0EMPTY001"), OnCall(), {"S0EMPTY001": []})
    unknown = resolve_targets(level("S0UNKNOWN1"), OnCall(), {})
    assert empty.empty
    assert (unknown.empty, unknown.usergroups, unknown.people) == (False, ["S0UNKNOWN1"], [])


def test_targets_that_reach_nobody_are_listed_with_the_reason() -> None:
    resolved = resolve_targets(level("primary", "secondary", "S0EMPTY001", "pager:pd"),
                               OnCall("U0PRIMARY1", None), {"S0EMPTY001": []})
    assert [(s.kind, s.target, s.reason) for s in resolved.skipped] == [
        ("secondary", "secondary", "nobody is secondary on call now"),
        ("usergroup", "S0EMPTY001", "user group has no members"),
    ]
    assert resolve_targets(level("primary"), OnCall(), {}).skipped == []


@pytest.mark.parametrize("target", ["#ai-eng", "pager:pagerduty-ai"])
def test_a_channel_or_a_pager_alone_is_somebody(target: str) -> None:
    assert not resolve_targets(level("primary", target), OnCall(None, None), {}).empty


# -- policy_for ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "team_policy", "expected"),
    [
        ("critical", "standard", "lead-now"),
        (" Critical ", "standard", "lead-now"),
        ("SEV1", None, "lead-now"),
        ("warning", "standard", "standard"),
        ("warning", None, None),
        ("", "standard", "standard"),
    ],
)
def test_policy_for_prefers_the_severity_policy(
    severity: str, team_policy: str | None, expected: str | None
) -> None:
    assert (
        policy_for(severity, team_policy, {"critical": "lead-now", "sev1": "lead-now"}) == expected
    )


# -- validation -------------------------------------------------------------------------


def test_a_valid_setup_has_no_problems() -> None:
    problems = validate_policies(
        POLICIES,
        pagers={"pagerduty-ai"},
        schedules_of_teams={"ai-eng": "ai-primary", "ml": "ml-rota"},
        team_policies={"ai-eng": "standard", "ml": None},
        severity_policies={"critical": "lead-now"},
    )
    assert problems == []


def test_names_unknown_pagers_and_policies_at_their_paths() -> None:
    problems = validate_policies(
        POLICIES,
        pagers={"ntfy"},
        schedules_of_teams={"ai-eng": "ai-primary"},
        team_policies={"ai-eng": "standrad"},
        severity_policies={"sev1": "lead-later"},
    )
    assert [str(problem) for problem in problems] == [
        "escalation_policies.standard.levels[1].notify[1]: "
        "pager 'pagerduty-ai' is not defined under pagers (pagers: ntfy)",
        "escalation_policies.lead-now.levels[0].notify[1]: "
        "pager 'pagerduty-ai' is not defined under pagers (pagers: ntfy)",
        "teams.ai-eng.escalation_policy: "
        "unknown escalation policy 'standrad' (policies: lead-now, standard)",
        "severity_policies.sev1: "
        "unknown escalation policy 'lead-later' (policies: lead-now, standard)",
    ]


def test_a_role_only_level_needs_a_schedule() -> None:
    problems = validate_policies(
        POLICIES,
        pagers={"pagerduty-ai"},
        schedules_of_teams={"ai-eng": None, "ml": "ml-rota"},
        team_policies={"ai-eng": "standard", "ml": "standard"},
        severity_policies={"critical": "lead-now"},
    )
    assert problems == [
        Problem(
            path="teams.ai-eng.escalation_policy",
            message="policy 'standard' level 1 notifies only primary/secondary, but team 'ai-eng' "
            "has no schedule: the level would always be skipped",
        )
    ]


def test_a_repeat_without_any_wait_is_a_problem() -> None:
    policies = {
        "loop": EscalationPolicy.model_validate(
            {"levels": [{"notify": ["U0LEAD0001"]}], "repeat": 3}
        )
    }
    problems = validate_policies(policies, pagers=set(), schedules_of_teams={})
    assert [problem.path for problem in problems] == ["escalation_policies.loop.repeat"]
    assert "after: 0" in problems[0].message
