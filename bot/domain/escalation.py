"""`escalation_policies` of oncall.yaml: whom to notify next about an unacked incident, and when.

A policy is an ordered list of levels, each naming targets and how long after the previous
level it fires. The whole list runs `1 + repeat` times; flattened, it is a sequence of steps
numbered from 0. When the last step has fired nobody is left to escalate to: the incident
is UNOWNED and the caller says so on its timeline.

Between rounds, level 1 of a repeat round waits its own `after`, or the last level's `after`
when its own is 0 (so a repeat never notifies level 1 at the same moment as the last level).

Targets are written as strings: `primary`, `secondary`, a Slack user id (`U...`/`W...`), a
user group id (`S...`), a channel (`"#name"`, quoted in YAML, or `C...`), or `pager:NAME`
(an external pager configured under `pagers`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_serializer, model_validator

from bot.domain.durations import Duration

_PAGER = re.compile(r"pager:([A-Za-z0-9][A-Za-z0-9_.\-]{0,63})")
_TARGET_EXPECTED = (
    "expected primary, secondary, a Slack user id (U...), a user group id (S...), "
    "a channel ('#name' or C...) or pager:NAME"
)


class TargetKind(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    USER = "user"
    USERGROUP = "usergroup"
    CHANNEL = "channel"
    PAGER = "pager"


_ROLES = {TargetKind.PRIMARY, TargetKind.SECONDARY}
_SHAPES = (
    (TargetKind.USER, re.compile(r"[UW][A-Z0-9]{6,}")),
    (TargetKind.USERGROUP, re.compile(r"S[A-Z0-9]{6,}")),
    (TargetKind.CHANNEL, re.compile(r"[CG][A-Z0-9]{6,}")),
    (TargetKind.CHANNEL, re.compile(r"#[a-z0-9][a-z0-9_\-]{0,79}")),
)


def parse_target(text: str) -> tuple[TargetKind, str]:
    """Read one `notify` entry so a typo fails at load, not when the page should go out."""
    text = text.strip()
    if text in (TargetKind.PRIMARY, TargetKind.SECONDARY):
        return TargetKind(text), text
    if pager := _PAGER.fullmatch(text):
        return TargetKind.PAGER, pager.group(1)
    for kind, pattern in _SHAPES:
        if pattern.fullmatch(text):
            return kind, text
    raise ValueError(f"{_TARGET_EXPECTED}, got {text!r}")


class Target(BaseModel):
    """One `notify` entry; reads and writes as its string form (`pager:pagerduty-ai`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: TargetKind
    value: str

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if isinstance(data, str):
            kind, value = parse_target(data)
            return {"kind": kind, "value": value}
        return data

    @model_serializer
    def _to_text(self) -> str:
        return str(self)

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        """In a JSON schema a target is what the YAML holds: a string."""
        return {"type": "string", "description": _TARGET_EXPECTED.removeprefix("expected ")}

    def __str__(self) -> str:
        return f"pager:{self.value}" if self.kind is TargetKind.PAGER else self.value


class Level(BaseModel):
    """One level: whom to notify, and how long after the previous level was notified."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notify: list[Target] = Field(min_length=1)
    after: Duration = timedelta(0)


class EscalationPolicy(BaseModel):
    """Ordered levels, run `1 + repeat` times; an ack lapses after `ack_timeout` if set.

    `unowned_after` is how long the last level gets to acknowledge before the incident is
    declared UNOWNED; left out, the last level's own `after` (at least 5m) stands in.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    levels: list[Level] = Field(min_length=1)
    repeat: int = Field(0, ge=0, le=100)
    ack_timeout: Duration | None = None
    unowned_after: Duration | None = None

    @model_validator(mode="after")
    def _positive_ack_timeout(self) -> EscalationPolicy:
        if self.ack_timeout is not None and self.ack_timeout <= timedelta(0):
            raise ValueError("ack_timeout must be longer than 0, e.g. 30m, or left out")
        return self


# -- planning ---------------------------------------------------------------------------


class Step(BaseModel):
    """One flattened step: which level of which round, and when it fires."""

    model_config = ConfigDict(frozen=True)

    index: int
    level: int = Field(description="1-based level number")
    round: int = Field(description="0 for the first run, up to `repeat`")
    notify: list[Target]
    delay: timedelta = Field(description="since the previous step was notified")
    offset: timedelta = Field(description="since escalation started (cumulative delay)")
    is_last: bool


def step_count(policy: EscalationPolicy) -> int:
    """How many steps the policy runs before the incident is unowned."""
    return len(policy.levels) * (policy.repeat + 1)


def plan_step(policy: EscalationPolicy, step_index: int) -> Step | None:
    """Step `step_index` of the flattened policy; None past the last (the incident is UNOWNED)."""
    if step_index < 0:
        raise ValueError(f"step index must be 0 or more, got {step_index}")
    if step_index >= step_count(policy):
        return None
    round_, level_index = divmod(step_index, len(policy.levels))
    return Step(
        index=step_index,
        level=level_index + 1,
        round=round_,
        notify=policy.levels[level_index].notify,
        delay=_delay(policy, step_index),
        offset=sum((_delay(policy, i) for i in range(step_index + 1)), timedelta(0)),
        is_last=step_index == step_count(policy) - 1,
    )


def _delay(policy: EscalationPolicy, step_index: int) -> timedelta:
    """A level's own `after`, except level 1 of a repeat round: the last level's if its own is 0."""
    round_, level_index = divmod(step_index, len(policy.levels))
    if level_index == 0 and round_ > 0:
        return policy.levels[0].after or policy.levels[-1].after
    return policy.levels[level_index].after


def first_due(policy: EscalationPolicy, started_at: datetime) -> datetime:
    """When step 0 fires, counted from when escalation started (the incident's page time)."""
    return started_at + policy.levels[0].after


def next_due(policy: EscalationPolicy, step_index: int, notified_at: datetime) -> datetime | None:
    """When the step after `step_index` (notified at `notified_at`) fires; None: UNOWNED next."""
    following = plan_step(policy, step_index + 1)
    return None if following is None else notified_at + following.delay


def ack_deadline(policy: EscalationPolicy, acked_at: datetime) -> datetime | None:
    """When an ack not followed by a resolve lapses and escalation starts again; None: never."""
    return None if policy.ack_timeout is None else acked_at + policy.ack_timeout


# -- resolving --------------------------------------------------------------------------


class OnCallLike(Protocol):
    """Who is on call now for the team (a schedule answer); None in a gap."""

    @property
    def primary(self) -> str | None: ...

    @property
    def secondary(self) -> str | None: ...


class SkippedTarget(BaseModel):
    """A target of a level that reaches nobody, and why: listed, so nobody assumes a page."""

    model_config = ConfigDict(frozen=True)

    kind: str
    target: str
    reason: str


class ResolvedTargets(BaseModel):
    """A level resolved to people to DM, groups and channels to post in, and pagers to call."""

    people: list[str] = Field(default_factory=list)
    usergroups: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    pagers: list[str] = Field(default_factory=list)
    skipped: list[SkippedTarget] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def empty(self) -> bool:
        """Nobody to reach (a schedule gap): the caller skips the level at once, on the timeline."""
        return not (self.people or self.usergroups or self.channels or self.pagers)


def resolve_targets(
    level: Level, on_call: OnCallLike, group_members: Mapping[str, list[str]]
) -> ResolvedTargets:
    """Turn a level's targets into ids, deduplicated in order, so nobody is paged twice.

    A user group's members join `people`; a group listed in `group_members` with no members
    is dropped, while one missing from it is kept (its members are unknown, not absent).
    """
    buckets: dict[str, list[str]] = {"people": [], "usergroups": [], "channels": [], "pagers": []}
    skipped: list[SkippedTarget] = []
    for target in level.notify:
        expanded = list(_expand(target, on_call, group_members))
        if not expanded:
            skipped.append(_skipped(target))
        for bucket, value in expanded:
            if value not in buckets[bucket]:
                buckets[bucket].append(value)
    return ResolvedTargets(**buckets, skipped=skipped)


def _skipped(target: Target) -> SkippedTarget:
    reason = ("user group has no members" if target.kind is TargetKind.USERGROUP
              else f"nobody is {target.kind.value} on call now")
    return SkippedTarget(kind=target.kind.value, target=str(target), reason=reason)


_BUCKETS = {TargetKind.USER: "people", TargetKind.CHANNEL: "channels", TargetKind.PAGER: "pagers"}


def _expand(
    target: Target, on_call: OnCallLike, group_members: Mapping[str, list[str]]
) -> Iterator[tuple[str, str]]:
    """(bucket, id) pairs for one target; nothing for a role nobody holds right now."""
    if target.kind in _BUCKETS:
        yield _BUCKETS[target.kind], target.value
    elif target.kind in _ROLES:
        person = on_call.primary if target.kind is TargetKind.PRIMARY else on_call.secondary
        if person:
            yield "people", person
    else:
        members = group_members.get(target.value)
        if members is None or members:
            yield "usergroups", target.value
        for member in members or ():
            yield "people", member


def policy_for(
    severity: str, team_policy: str | None, severity_policies: Mapping[str, str]
) -> str | None:
    """The policy to run: a severity's own policy wins over the team's; None: no escalation."""
    wanted = severity.strip().lower()
    for label, policy in severity_policies.items():
        if label.strip().lower() == wanted:
            return policy
    return team_policy


# -- validating -------------------------------------------------------------------------


class Problem(BaseModel):
    """A problem at a config-key path such as `escalation_policies.standard.levels[1]`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def validate_policies(
    policies: Mapping[str, EscalationPolicy],
    *,
    pagers: Collection[str],
    schedules_of_teams: Mapping[str, str | None],
    team_policies: Mapping[str, str | None] | None = None,
    severity_policies: Mapping[str, str] | None = None,
) -> list[Problem]:
    """List every cross-reference problem at its config-key path, for `oncall-bot check`.

    `schedules_of_teams` maps each team to its schedule (None: none); `team_policies` maps
    each team to its `escalation_policy`. A severity policy may run for any team.
    """
    problems = [p for name, policy in policies.items() for p in _own_problems(name, policy, pagers)]
    uses = [
        (f"teams.{team}.escalation_policy", name, [team])
        for team, name in (team_policies or {}).items()
        if name is not None
    ]
    uses += [
        (f"severity_policies.{severity}", name, list(schedules_of_teams))
        for severity, name in (severity_policies or {}).items()
    ]
    for path, name, teams in uses:
        problems += _use_problems(path, name, policies, teams, schedules_of_teams)
    return problems


def _own_problems(
    name: str, policy: EscalationPolicy, pagers: Collection[str]
) -> Iterator[Problem]:
    base = f"escalation_policies.{name}"
    for i, level in enumerate(policy.levels):
        for j, target in enumerate(level.notify):
            if target.kind is TargetKind.PAGER and target.value not in pagers:
                known = ", ".join(sorted(pagers)) or "none"
                message = f"pager {target.value!r} is not defined under pagers (pagers: {known})"
                yield Problem(path=f"{base}.levels[{i}].notify[{j}]", message=message)
    if policy.repeat and not any(level.after for level in policy.levels):
        message = (
            "every level has after: 0, so each repeat notifies at the same moment; "
            "give a level a wait (e.g. after: 10m) or drop repeat"
        )
        yield Problem(path=f"{base}.repeat", message=message)


def _use_problems(
    path: str,
    name: str,
    policies: Mapping[str, EscalationPolicy],
    teams: list[str],
    schedules_of_teams: Mapping[str, str | None],
) -> Iterator[Problem]:
    """A used policy must exist, and a level of only primary/secondary needs a schedule."""
    policy = policies.get(name)
    if policy is None:
        known = ", ".join(sorted(policies)) or "none"
        yield Problem(path=path, message=f"unknown escalation policy {name!r} (policies: {known})")
        return
    role_only = [i for i, level in enumerate(policy.levels, 1) if _roles_only(level)]
    for team in (team for team in teams if role_only and not schedules_of_teams.get(team)):
        levels = ", ".join(map(str, role_only))
        yield Problem(
            path=path,
            message=f"policy {name!r} level {levels} notifies only primary/secondary, but team "
            f"{team!r} has no schedule: the level would always be skipped",
        )


def _roles_only(level: Level) -> bool:
    return all(target.kind in _ROLES for target in level.notify)
