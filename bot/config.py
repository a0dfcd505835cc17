"""oncall.yaml: pydantic models and a loader whose errors name the file, the key and the fix."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.config_confidence import ConfidenceConfig, Priors
from bot.config_context import BusinessHours, ChangesConfig, ContextRule, ServiceSpec, Tier
from bot.config_digests import DigestsConfig, check_time_zone
from bot.config_salvage import salvage, suggestion
from bot.config_share import ShareConfig
from bot.config_statuspage import StatusPageConfig
from bot.config_storm import StormConfig
from bot.domain.confidence import ConfidenceSpec
from bot.domain.durations import Duration
from bot.domain.escalation import EscalationPolicy, Target, validate_policies
from bot.domain.handoff import HandoffWebhook, HumanHandoffSpec
from bot.domain.pagers import PagerSpec
from bot.domain.permissions import Action
from bot.domain.redaction import RedactConfig
from bot.domain.routing import RouteNode, validate_tree
from bot.domain.schedules import ScheduleSpec
from bot.route_yaml import ConfigLoader

SLACK_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
SLACK_USER_OR_GROUP_ID = re.compile(r"^[UWS][A-Z0-9]{6,}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Team(Strict):
    """A team: where its alerts go and who may act on them."""

    channel: str = Field(description="channel name (#ai-eng) or id (C0123ABCD)")
    responders: list[str] = Field(default_factory=list)
    schedule: str | None = None
    escalation_policy: str | None = None
    time_zone: str | None = Field(None, description="for its noise review; default: digests'")
    hide_labels: list[str] = Field(default_factory=list, description=(
        "label and annotation names never shown in Slack, pages or webhooks for this team"))
    private: bool = Field(False, description=(
        "its incidents, timelines and postmortems are shown to its responders only"))
    confidence: ConfidenceSpec | None = Field(None, description=(
        "thresholds for routes of this team that set none"))
    business_hours: BusinessHours = Field(default_factory=BusinessHours,
                                          description="for context rules and tiers")
    tier: str | None = Field(None, description="the tier of alerts without a tier label")
    status_channel: str | None = Field(None, description=(
        "where stakeholder updates (/oncall update, Post update) are posted too"))
    update_every: Duration = Field(timedelta(minutes=30), description=(
        "a sev1/sev2 incident with no update for this long gets a reminder in its thread"))

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return check_time_zone(value) if value is not None else None

    @field_validator("update_every")
    @classmethod
    def _positive_interval(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0s, e.g. 30m")
        return value

    @field_validator("channel", "status_channel")
    @classmethod
    def _channel_shape(cls, value: str | None) -> str | None:
        if value is None or SLACK_CHANNEL_ID.match(value):
            return value
        if not re.fullmatch(r"[a-z0-9][a-z0-9_\-]{0,79}", value.removeprefix("#")):
            raise ValueError("a channel name like '#ai-eng' or a channel id like 'C0123ABCD'")
        return value

    @field_validator("responders")
    @classmethod
    def _responder_ids(cls, values: list[str]) -> list[str]:
        for value in values:
            if not SLACK_USER_OR_GROUP_ID.match(value):
                raise ValueError(f"{value!r}: a Slack user id (U...) or user group id (S...)")
        return values


class Heartbeat(Strict):
    """The dead-man's switch: an always-firing alert whose silence means the alert path broke."""

    alertname: str = "Watchdog"
    missing_after: Duration = timedelta(minutes=10)
    team: str = Field(description="the bot's owners: where the alert-path-down incident goes")
    notify: list[Target] = Field(min_length=1, description="pager:NAME and/or channels")


class DeliveryLimits(Strict):
    """When delivery gives up on an intent that keeps failing with a retryable error.

    Fifteen minutes because a page is about waking someone now: by then the next escalation
    level has usually been paged, and a failure shown on the incident message (and in
    `/metrics`, `oncall-bot outbox`) gets a human to act, where a silent retry would not.
    Twenty attempts is what the backoff (1 s doubling, at most 5 min) makes in about those
    fifteen minutes, so in an outage the age decides; the count stops an error that repeats
    fast (a retryable error on one request while Slack is otherwise fine).
    """

    max_attempts: int = Field(20, ge=1, le=1000)
    max_age: Duration = Field(timedelta(minutes=15), description="from the intent's creation")

    @field_validator("max_age")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return value


class Permissions(Strict):
    """Caps on quiet time, and actions the config reserves for admins."""

    max_silence: Duration = timedelta(hours=24)
    max_maintenance: Duration = timedelta(days=7)
    admin_only: list[Action] = Field(default_factory=list,
                                     description="action names from the README's matrix")


class DeclareLimits(Strict):
    """`/oncall page` and the Declare incident shortcut: anyone may, this often per person."""

    max_per_person: int = Field(5, ge=1, le=1000)
    per: Duration = timedelta(minutes=10)


class AuditConfig(Strict):
    retention: Duration = timedelta(days=400)


class OncallConfig(Strict):
    """The whole oncall.yaml."""

    teams: dict[str, Team]
    tool_owners: dict[str, str] = Field(default_factory=dict)
    admins: list[str] = Field(default_factory=list, description="user ids and/or group ids")
    permissions: Permissions = Field(default_factory=Permissions)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    declare: DeclareLimits = Field(default_factory=DeclareLimits)
    route: RouteNode
    schedules: dict[str, ScheduleSpec] = Field(default_factory=dict)
    escalation_policies: dict[str, EscalationPolicy] = Field(default_factory=dict)
    severity_policies: dict[str, str] = Field(default_factory=dict)
    pagers: dict[str, PagerSpec] = Field(default_factory=dict)
    handoff: dict[str, HumanHandoffSpec] = Field(default_factory=dict)
    heartbeat: Heartbeat | None = None
    hooks: dict[str, HandoffWebhook] = Field(
        default_factory=dict, description="remediation hooks runbooks may call, by name")
    digests: DigestsConfig = Field(default_factory=DigestsConfig)
    delivery: DeliveryLimits = Field(default_factory=DeliveryLimits)
    storm: StormConfig = Field(default_factory=StormConfig)
    redact: RedactConfig = Field(default_factory=RedactConfig)
    confidence: ConfidenceConfig = Field(default_factory=ConfidenceConfig)
    sources: Priors = Field(default_factory=dict, description=(
        "typical reliability per source, first match wins: LABEL=VALUE, host:HOST, source:NAME"))
    changes: ChangesConfig = Field(default_factory=ChangesConfig)
    services: dict[str, ServiceSpec] = Field(default_factory=dict)
    context: list[ContextRule] = Field(default_factory=list)
    tiers: dict[str, Tier] = Field(default_factory=dict)
    tier_label: str = "tier"
    share: ShareConfig = Field(default_factory=ShareConfig)
    statuspage: StatusPageConfig | None = None
    runbooks_dir: str = "runbooks"
    slash_command: str = Field("/oncall", pattern=r"^/[a-z0-9_-]{1,31}$",
                               description="Slack runs the newest app's when two share a name")

    def channel_of(self, team: str) -> str:
        return self.teams[team].channel

    def hidden_labels(self, team: str) -> frozenset[str]:
        """Label and annotation names this team hides from every rendering."""
        return frozenset(self.teams[team].hide_labels) if team in self.teams else frozenset()

    def time_zone_of(self, team: str) -> str:
        """Where a team's week and business hours fall: its own zone, else the review's."""
        own = self.teams[team].time_zone if team in self.teams else None
        return own or self.digests.noise.time_zone


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    key: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        where += f":{self.column}" if self.line and self.column else ""
        return f"{where}: {self.key or '(top level)'}: {self.message}"

    @property
    def sort_key(self) -> tuple[str, int, str]:
        return (self.file, self.line or 0, self.key)


class ConfigError(Exception):
    """Every problem found in a config file, so a user fixes them in one go."""

    def __init__(self, problems: list[ConfigProblem], partial: OncallConfig | None = None):
        self.problems = problems
        self.partial = partial  # what validated, for checks that can still run (`check`)
        super().__init__("\n".join(str(p) for p in problems))


def load_config(path: str | Path) -> OncallConfig:
    """Read and validate oncall.yaml, raising ConfigError with every problem in it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), "", f"cannot read: {exc.strerror}")]) from exc
    return parse_config(text, str(path))


def parse_config(text: str, filename: str = "oncall.yaml") -> OncallConfig:
    try:
        data = yaml.load(text, Loader=ConfigLoader)  # a SafeLoader
        lines = _key_lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        what = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(filename, "", f"not valid YAML: {what}", line,
                                         column)]) from exc
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(filename, "", "expected a mapping with teams and route")])
    try:
        config = OncallConfig.model_validate(data)
    except ValidationError as exc:
        problems = _pydantic_problems(exc, filename, lines)
        salvaged = salvage(OncallConfig, data)
        cross = [p for p in _cross_check(salvaged, filename, lines)
                 if not any(_within(p.key, broken.key) for broken in problems)]
        raise ConfigError(_sorted(problems + cross), salvaged) from exc
    problems = _cross_check(config, filename, lines)
    if problems:
        raise ConfigError(_sorted(problems), config)
    return config


def config_key_lines(path: str | Path) -> dict[str, int]:
    """Key path -> line number of a readable, valid YAML file ({} otherwise)."""
    try:
        return _key_lines(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}


def _within(key: str, broken: str) -> bool:
    """A key inside one already reported broken: one mistake, one problem."""
    return key == broken or key.startswith((f"{broken}.", f"{broken}["))


def _sorted(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return sorted(_dedupe(problems), key=lambda p: p.sort_key)


def _cross_check(config: OncallConfig, filename: str, lines: dict[str, int]) -> list[ConfigProblem]:
    """Checks that span keys: routes and tool owners must name teams that exist.

    `config` may be salvaged from a broken file: a section that did not validate is absent.
    """
    if not hasattr(config, "teams"):
        config.teams = {}
    teams = set(config.teams)
    route = getattr(config, "route", None)
    found = [ConfigProblem(filename, p.path, p.message, line_for(p.path, lines))
             for p in (validate_tree(route, teams, config.tool_owners) if route else [])]
    found += [ConfigProblem(filename, p.path, p.message, line_for(p.path, lines))
              for p in _responder_problems(config)]
    for i, admin in enumerate(config.admins):
        if not SLACK_USER_OR_GROUP_ID.match(admin):
            key = f"admins[{i}]"
            found.append(ConfigProblem(filename, key, f"{admin!r}: a Slack user id (U...) "
                                       "or user group id (S...)", lines.get(key)))
    return _dedupe(found)


@dataclass(frozen=True)
class _KeyProblem:
    path: str
    message: str


def _responder_problems(config: OncallConfig) -> list[_KeyProblem]:
    """Teams must name schedules and policies that exist; policies must name known pagers."""
    found = []
    for name, team in config.teams.items():
        if team.schedule and team.schedule not in config.schedules:
            found.append(_KeyProblem(f"teams.{name}.schedule", _unknown(
                "schedule", team.schedule, config.schedules)))
    found += validate_policies(
        config.escalation_policies, pagers=set(config.pagers),
        schedules_of_teams={n: t.schedule for n, t in config.teams.items()},
        team_policies={n: t.escalation_policy for n, t in config.teams.items()},
        severity_policies=config.severity_policies)
    for name, team in config.teams.items():
        tiers = getattr(config, "tiers", {})
        if getattr(team, "tier", None) and team.tier not in tiers:
            found.append(_KeyProblem(f"teams.{name}.tier", _unknown("tier", team.tier, tiers)))
    if config.heartbeat and config.heartbeat.team not in config.teams:
        found.append(_KeyProblem("heartbeat.team", _unknown("team", config.heartbeat.team,
                                                            config.teams)))
    if config.heartbeat:
        for i, target in enumerate(config.heartbeat.notify):
            if target.kind == "pager" and target.value not in config.pagers:
                found.append(_KeyProblem(f"heartbeat.notify[{i}]", _unknown(
                    "pager", target.value, config.pagers)))
    return found


def _unknown(what: str, name: str, known) -> str:
    return f"{what} {name!r} is not defined (defined: {', '.join(sorted(known)) or 'none'})"


def _dedupe(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for problem in problems:
        if (problem.key, problem.message) not in seen:
            seen.add((problem.key, problem.message))
            unique.append(problem)
    return unique


def _pydantic_problems(exc: ValidationError, filename: str, lines: dict[str, int]):
    errors = exc.errors()
    missing = {tuple(e["loc"]) for e in errors if e["type"] == "missing"}
    meant: set[tuple] = set()
    problems = []
    for error in errors:
        key, message = _key_path(error["loc"]), _explain(error)
        if error["type"] == "extra_forbidden":
            parent, wrong = tuple(error["loc"][:-1]), str(error["loc"][-1])
            siblings = {str(loc[-1]) for loc in missing if loc[:-1] == parent}
            guess = suggestion(OncallConfig, parent, wrong, siblings)
            if guess:
                message = f"unknown key; did you mean {guess!r}?"
                meant.add((*parent, guess))
        problems.append((tuple(error["loc"]), ConfigProblem(filename, key, message,
                                                             line_for(key, lines))))
    return _dedupe([p for loc, p in problems if loc not in meant])


def _explain(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = error["msg"].removeprefix("Value error, ")
    if "input" in error and kind not in ("model_type", "dict_type") and (
            repr(error["input"]) not in message):
        return f"{message} (got {error['input']!r})"
    return message


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-after", "function-before")) or part == "[key]":
            continue
        else:
            path += f".{part}" if path else str(part)
    return path


def line_for(key: str, lines: dict[str, int]) -> int | None:
    """The line of `key`, else of the nearest parent the file names (None: not even the
    top-level key is there)."""
    while key:
        if key in lines:
            return lines[key]
        parent = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", key)
        if parent == key:  # a top-level key the file does not name
            return None
        key = parent
    return None


def _key_lines(text: str) -> dict[str, int]:
    """Map every key path (teams.ai.channel, route.routes[0].matchers[1]) to its line number."""
    root = yaml.compose(text)
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, path: str) -> None:
        if path:
            lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = f"{path}.{key_node.value}" if path else str(key_node.value)
                lines[key] = key_node.start_mark.line + 1
                walk(value_node, key)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, f"{path}[{index}]")

    if root is not None:
        walk(root, "")
    return lines
