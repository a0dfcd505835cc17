"""The `route` block of oncall.yaml: an Alertmanager route tree whose receivers are teams.

Routing follows Alertmanager 0.25's `dispatch/route.go` exactly (depth-first, children
in order, stop at the first matching child unless it has `continue: true`, the node
itself when no child matched) with Alertmanager's inheritance of receiver, group_by and
timers, so a route block copied from an Alertmanager config routes the same way here.
Our extensions (`receiver_from_label`, `action`, `page_after`, `runbook`, `digest`,
`page_if_ratio_at_least`) are inherited the same way.

A tree is compiled once (matchers parsed, settings resolved down the tree) and the
compiled form is cached on the tree, so answering thousands of label sets is cheap.
Checking a tree (`validate_tree`) lives in `bot.domain.route_validation`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from bot.domain.alerts import Action
from bot.domain.confidence import ConfidenceSpec
from bot.domain.durations import Duration
from bot.domain.matchers import (
    Matcher,
    MatchOp,
    compile_regex,
    go_quote,
    matchers_from_route,
    openmetrics_escape,
    parse_matchers,
)
from bot.domain.route_validation import GROUP_BY_ALL, RouteProblem, validate_tree  # re-exported

GROUP_KEY_MAX = 1024  # the incident table's group_key and open_key columns

__all__ = [
    "GROUP_BY_ALL",
    "CompiledRoute",
    "RouteDecision",
    "RouteNode",
    "RouteProblem",
    "compile_route",
    "default_action",
    "explain",
    "route",
    "validate_tree",
]

T = TypeVar("T")
DEFAULT_DIGEST_PAGE_RATIO = 5.0


def _check_line(line: str) -> str:
    parse_matchers(line)
    return line


def _check_legacy_name(name: str) -> str:
    matchers_from_route([], {name: ""}, {})
    return name


def _check_legacy_regex(pattern: str) -> str:
    compile_regex(pattern)
    return pattern


# Each checked on its own, so a load error names its key: `matchers[1]`, `match_re.env`.
MatcherLine = Annotated[str, AfterValidator(_check_line)]
LegacyName = Annotated[str, AfterValidator(_check_legacy_name)]
LegacyRegex = Annotated[str, AfterValidator(_check_legacy_regex)]


class RouteNode(BaseModel):
    """One node of the route tree, key for key as in Alertmanager, plus our extensions."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, frozen=True, coerce_numbers_to_str=True
    )

    receiver: str | None = None
    receiver_from_label: str | None = None
    matchers: list[MatcherLine] = Field(default_factory=list)
    match: dict[LegacyName, str] = Field(default_factory=dict)
    match_re: dict[LegacyName, LegacyRegex] = Field(default_factory=dict)
    continue_: bool = Field(False, alias="continue")
    routes: list[RouteNode] = Field(default_factory=list)
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    mute_time_intervals: list[str] = Field(default_factory=list)
    active_time_intervals: list[str] = Field(default_factory=list)
    action: Action | None = None
    page_after: Duration | None = None
    runbook: str | None = None
    digest: Literal["hourly"] | None = None
    page_if_ratio_at_least: float | None = Field(None, gt=0)
    confidence: ConfidenceSpec | None = None

    # (id of the tree it was built for, compiled tree): model_copy copies private attributes.
    _compiled: tuple[int, CompiledRoute] | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _nulls_as_go_reads_them(cls, data: object) -> object:
        """YAML nulls become what Go's yaml.v2 makes of them, never a Python None error."""
        return go_nulls(data) if isinstance(data, dict) else data

    @field_validator("match_re", mode="before")
    @classmethod
    def _null_regex(cls, match_re: object) -> object:
        """Alertmanager refuses `match_re: {x: null}` (where `match: {x: null}` is x="")."""
        for name, value in match_re.items() if isinstance(match_re, dict) else ():
            if value is None:
                raise ValueError(f"invalid regexp value for {go_quote(str(name or ''))}")
        return match_re


def go_nulls(node: dict) -> dict:
    """`null` lists and maps are empty, a null string is "" (so `match: {a: null}` is a=""),
    a null `continue` is false; a null `match_re` value is left for `_null_regex` to refuse."""
    fixed = {key: value for key, value in node.items() if value is not None or key in _NULLABLE}
    for key in ("matchers", "group_by", "mute_time_intervals", "active_time_intervals"):
        if isinstance(fixed.get(key), list):
            fixed[key] = ["" if item is None else item for item in fixed[key]]
    if isinstance(fixed.get("match"), dict):
        fixed["match"] = {_text(k): _text(v) for k, v in fixed["match"].items()}
    if isinstance(fixed.get("match_re"), dict):
        fixed["match_re"] = {_text(k): v for k, v in fixed["match_re"].items()}
    return fixed


_NULLABLE = frozenset({"group_by"})  # group_by: null is "not set": inherit


def _text(value: object) -> object:
    return "" if value is None else value


class RouteDecision(BaseModel):
    """Where one alert goes through one matched route node, and why."""

    team: str
    receiver: str = Field(description="the Alertmanager receiver, before receiver_from_label")
    action: Action
    route_key: str
    route_path: list[str]
    matched: list[str]
    group_by: list[str]
    group_labels: dict[str, str]
    group_key: str
    runbook: str | None = None
    page_after: Duration | None = None
    digest: Literal["hourly"] | None = None
    page_if_ratio_at_least: float | None = None
    reasons: list[str]
    confidence: ConfidenceSpec | None = None
    confidence_set_by: str = ""


# -- compiling -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteSettings:
    """What a node resolves to after inheritance (Alertmanager's RouteOpts plus ours)."""

    receiver: str = ""
    receiver_origin: str = "root"
    receiver_from_label: str | None = None
    group_by: tuple[str, ...] = ()
    group_wait: timedelta = timedelta(seconds=30)
    group_interval: timedelta = timedelta(minutes=5)
    repeat_interval: timedelta = timedelta(hours=4)
    action: Action | None = None
    action_reason: str = ""
    page_after: timedelta | None = None
    runbook: str | None = None
    digest: Literal["hourly"] | None = None
    page_if_ratio_at_least: float | None = None
    confidence: ConfidenceSpec | None = None
    confidence_origin: str = ""


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    """A route node ready to match: matchers parsed, settings resolved, children compiled."""

    key: str
    config_path: str
    path: tuple[str, ...]
    path_matchers: tuple[Matcher, ...]
    matchers: tuple[Matcher, ...]
    continue_: bool
    settings: RouteSettings
    children: tuple[CompiledRoute, ...]
    tests: tuple[Callable[[Mapping[str, str]], bool], ...] = ()
    # The labels `explain` reads for this node (its answer depends on nothing else but
    # tool_owners), so callers may remember answers by them; and what explain remembers:
    # one dict per path matcher (label value -> reason), and severity -> (team, action, tail).
    explain_labels: tuple[str, ...] = ()
    reason_memos: tuple[dict[str, str], ...] = field(default=(), compare=False, repr=False)
    tail_memo: dict[str, tuple[str, Action, tuple[str, ...]]] = field(
        default_factory=dict, compare=False, repr=False)

    def match(self, labels: Mapping[str, str]) -> list[CompiledRoute]:
        """Alertmanager's Route.Match: the matching nodes, depth-first, left to right."""
        for test in self.tests:
            if not test(labels):
                return []
        return self._below(labels)

    def _below(self, labels: Mapping[str, str]) -> list[CompiledRoute]:
        """This node matched: its matching children (the first unless `continue`), else itself."""
        found: list[CompiledRoute] | None = None
        for child in self.children:
            for test in child.tests:  # inlined child.match: this loop is the hot path
                if not test(labels):
                    break
            else:
                below = child._below(labels) if child.children else [child]
                if found is None:
                    found = below
                else:
                    found += below
                if not child.continue_:
                    break
        return found or [self]


def compile_route(tree: RouteNode) -> CompiledRoute:
    """Compile a tree once; later calls return the cached result (trees are frozen)."""
    if tree._compiled is None or tree._compiled[0] != id(tree):
        tree._compiled = (id(tree), _compile_node(tree, None, RouteSettings(), "root", "route"))
    return tree._compiled[1]


def _compile_node(
    node: RouteNode, parent: CompiledRoute | None, inherited: RouteSettings, key: str, path: str
) -> CompiledRoute:
    # The root matches everything: Alertmanager refuses matchers there (see validate_tree).
    own = () if parent is None else _own_matchers(node)
    label = "root" if parent is None else (", ".join(map(str, own)) or "(any alert)")
    compiled = CompiledRoute(
        key=key,
        config_path=path,
        path=(parent.path if parent else ()) + (label,),
        path_matchers=(parent.path_matchers if parent else ()) + own,
        matchers=own,
        continue_=node.continue_,
        settings=_inherit(inherited, node, key, _named(parent, label)),
        children=(),
        tests=tuple(matcher.predicate() for matcher in own),
        reason_memos=(parent.reason_memos if parent else ()) + tuple({} for _ in own),
    )
    compiled = dataclasses.replace(compiled, explain_labels=_explain_labels(compiled))
    children = tuple(
        _compile_node(child, compiled, compiled.settings, f"{key}/{i}", f"{path}.routes[{i}]")
        for i, child in enumerate(node.routes)
    )
    return dataclasses.replace(compiled, children=children)


def labels_read(tree: RouteNode | CompiledRoute) -> frozenset[str] | None:
    """Every label `route` reads for any label set: the tree's matchers, group_by and what
    `explain` reads. Decisions of two label sets equal on these are equal, so a cache may
    key on them (alerts of a storm differ by instance, pod...). None when a route groups by
    all labels (`...`): then every label counts."""
    names: set[str] = set()
    stack = [compile_route(tree) if isinstance(tree, RouteNode) else tree]
    while stack:
        node = stack.pop()
        if node.settings.group_by == (GROUP_BY_ALL,):
            return None
        names.update(matcher.name for matcher in node.matchers)
        names.update(node.settings.group_by)
        names.update(node.explain_labels)
        stack.extend(node.children)
    return frozenset(names)


def _explain_labels(node: CompiledRoute) -> tuple[str, ...]:
    """Every label `explain` reads for this node: keep it in step with `explain`."""
    names = [matcher.name for matcher in node.path_matchers] + ["severity"]
    if node.settings.receiver_from_label is not None:
        names.append(node.settings.receiver_from_label)
    return tuple(dict.fromkeys(names))


def _own_matchers(node: RouteNode) -> tuple[Matcher, ...]:
    """Parse the node's matchers once, in Alertmanager's sorted order."""
    return tuple(matchers_from_route(node.matchers, node.match, node.match_re))


def _named(parent: CompiledRoute | None, label: str) -> str:
    """A node as the why-line names it: `route team="ai-eng" › alert_type="quality"`."""
    return "route " + " › ".join(((parent.path[1:] if parent else ()) + (label,))[-3:])


def _inherit(parent: RouteSettings, node: RouteNode, key: str, name: str = "") -> RouteSettings:
    """Apply one node over its parent's settings, the way NewRoute builds RouteOpts."""
    where = "root" if key == "root" else f"route {key}"
    receiver_set = bool(node.receiver)
    action, action_reason = _own_action(node, where) or (parent.action, parent.action_reason)
    return RouteSettings(
        receiver=node.receiver or parent.receiver,
        receiver_origin=where if receiver_set else parent.receiver_origin,
        receiver_from_label=_pick(node.receiver_from_label, parent.receiver_from_label),
        group_by=_group_by(node.group_by, parent.group_by),
        group_wait=_pick(node.group_wait, parent.group_wait),
        group_interval=_pick(node.group_interval, parent.group_interval),
        repeat_interval=_pick(node.repeat_interval, parent.repeat_interval),
        action=action,
        action_reason=action_reason,
        page_after=_pick(node.page_after, parent.page_after),
        runbook=_pick(node.runbook, parent.runbook),
        digest=_pick(node.digest, parent.digest),
        page_if_ratio_at_least=_pick(node.page_if_ratio_at_least, parent.page_if_ratio_at_least),
        confidence=_pick(node.confidence, parent.confidence),
        confidence_origin=parent.confidence_origin if node.confidence is None else name,
    )


def _pick(own: T | None, inherited: T) -> T:
    """Inherit unless the node sets its own value."""
    return inherited if own is None else own


def _own_action(node: RouteNode, where: str) -> tuple[Action, str] | None:
    """A node's own action: explicit `action` wins; `digest` alone implies digest."""
    if node.action is not None:
        return node.action, f"action {node.action}: set on {where}"
    if node.digest is not None:
        return Action.DIGEST, f"action digest: digest {node.digest} set on {where}"
    return None


def _group_by(own: list[str] | None, inherited: tuple[str, ...]) -> tuple[str, ...]:
    """Alertmanager's rule: named labels replace; `...` alone means all; an empty list inherits."""
    named = tuple(label for label in own or () if label != GROUP_BY_ALL)
    if named:
        return named
    if own and GROUP_BY_ALL in own:
        return (GROUP_BY_ALL,)
    return inherited


# -- routing ---------------------------------------------------------------------------

_PAGE_SEVERITIES = frozenset({"critical", "page", "sev1", "sev2", "high", "error"})
_NOTIFY_SEVERITIES = frozenset({"warning", "warn", "sev3", "medium"})


def default_action(severity: str) -> Action:
    """The action when no route sets one: wake someone only for severe alerts."""
    normalized = severity.strip().lower()
    if normalized in _PAGE_SEVERITIES:
        return Action.PAGE
    if normalized in _NOTIFY_SEVERITIES:
        return Action.NOTIFY
    return Action.TRIAGE


def route(
    tree: RouteNode | CompiledRoute,
    labels: Mapping[str, str],
    tool_owners: Mapping[str, str] | None = None,
) -> list[RouteDecision]:
    """Route one label set: one decision per matched node, in Alertmanager's order."""
    compiled = compile_route(tree) if isinstance(tree, RouteNode) else tree
    owners = tool_owners or {}
    return [_decide(node, labels, owners) for node in compiled.match(labels)]


def _decide(
    node: CompiledRoute, labels: Mapping[str, str], tool_owners: Mapping[str, str]
) -> RouteDecision:
    settings = node.settings
    team, action, reasons = explain(node, labels, tool_owners)
    ratio, _ = _page_ratio(settings)
    group_labels = _group_labels(settings.group_by, labels)
    return RouteDecision.model_construct(  # every field is built here, typed: skip validation
        team=team,
        receiver=settings.receiver,
        action=action,
        route_key=node.key,
        route_path=list(node.path),
        matched=[str(matcher) for matcher in node.path_matchers],
        group_by=list(settings.group_by),
        group_labels=group_labels,
        group_key=_bounded(f"{node.key}:{_render_labels(group_labels)}"),
        runbook=settings.runbook,
        page_after=settings.page_after,
        digest=settings.digest,
        page_if_ratio_at_least=ratio,
        reasons=reasons,
        confidence=settings.confidence,
        confidence_set_by=settings.confidence_origin,
    )


def explain(
    node: CompiledRoute, labels: Mapping[str, str], tool_owners: Mapping[str, str]
) -> tuple[str, Action, list[str]]:
    """A matched node's team and action for these labels, and the reasons, in order.

    It reads only the labels in `node.explain_labels` (callers remember answers by them:
    a new label read here must be added there). Each reason depends on one or two label
    values, so they are remembered per node (`route test --from` asks this for thousands
    of label sets); tool_owners is never remembered: a team taken from a label is looked
    up afresh.
    """
    settings = node.settings
    severity = labels.get("severity", "")
    tail = node.tail_memo.get(severity)
    if tail is None:
        tail = _tail(node, labels)
        _remember(node.tail_memo, severity, tail)
    team, action, tail_reasons = tail
    reasons = _path_reasons(node, labels)
    if settings.receiver_from_label is not None:
        team, team_reason = _team(settings, labels, tool_owners)
        reasons.append(team_reason)
    reasons += tail_reasons
    return team, action, reasons


_MEMO_MAX = 512  # per memo: label values repeat; past this it starts over (bounds memory)


def _remember(memo: dict, key: str, value: object) -> None:
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[key] = value


def _tail(node: CompiledRoute, labels: Mapping[str, str]) -> tuple[str, Action, tuple[str, ...]]:
    """Team (unless taken from a label), action and ratio reasons: they depend on severity."""
    settings = node.settings
    team, team_reason = _team(settings, {}, {})
    action, action_reason = _action(settings, labels)
    _, ratio_reasons = _page_ratio(settings)
    own_team = () if settings.receiver_from_label is not None else (team_reason,)
    return team, action, (*own_team, action_reason, *ratio_reasons)


def _path_reasons(node: CompiledRoute, labels: Mapping[str, str]) -> list[str]:
    """Say which route matched, through which matchers, and whether it was a fallback."""
    reasons = []
    for matcher, memo in zip(node.path_matchers, node.reason_memos, strict=True):
        value = labels.get(matcher.name, "")
        reason = memo.get(value)
        if reason is None:
            reason = _matched_reason(matcher, labels)
            _remember(memo, value, reason)
        reasons.append(reason)
    if node.children:
        reasons.append(f"no child route matched: fell back to {node.path[-1]}")
    return reasons


def _matched_reason(matcher: Matcher, labels: Mapping[str, str]) -> str:
    value = labels.get(matcher.name, "")
    if matcher.op is MatchOp.EQUAL and value:
        return f"matched {matcher}"  # the value is in the matcher already
    seen = f'{matcher.name}="{openmetrics_escape(value)}"' if value else f"{matcher.name} not set"
    return f"matched {matcher} ({seen})"


def _team(
    settings: RouteSettings, labels: Mapping[str, str], tool_owners: Mapping[str, str]
) -> tuple[str, str]:
    """The team: tool_owners via receiver_from_label when it applies, else the receiver."""
    receiver = settings.receiver
    default = f"team {receiver}: receiver of {settings.receiver_origin}"
    label = settings.receiver_from_label
    if label is None:
        return receiver, default
    value = labels.get(label, "")
    if not value:
        return receiver, f"{default} (receiver_from_label {label}: label not set)"
    owner = tool_owners.get(value)
    if owner is None:
        return receiver, f"{default} (receiver_from_label {label}: {value!r} not in tool_owners)"
    return owner, f"team {owner}: tool_owners[{value}] via receiver_from_label {label}"


def _action(settings: RouteSettings, labels: Mapping[str, str]) -> tuple[Action, str]:
    if settings.action is not None:
        return settings.action, settings.action_reason
    severity = labels.get("severity", "")
    action = default_action(severity)
    if not severity:
        return action, f"action {action}: default when severity is not set"
    return action, f"action {action}: default for severity={severity}"


def _page_ratio(settings: RouteSettings) -> tuple[float | None, list[str]]:
    """A digest pages when the spike ratio reaches this; 5 unless a route says otherwise."""
    if settings.page_if_ratio_at_least is not None or settings.digest is None:
        return settings.page_if_ratio_at_least, []
    ratio = DEFAULT_DIGEST_PAGE_RATIO
    return ratio, [f"page_if_ratio_at_least {ratio:g}: default for digest"]


def _group_labels(group_by: tuple[str, ...], labels: Mapping[str, str]) -> dict[str, str]:
    """The group's label values; Alertmanager drops empty labels, so they do not count."""
    if group_by == (GROUP_BY_ALL,):
        return {name: value for name, value in sorted(labels.items()) if value}
    return {name: labels[name] for name in sorted(group_by) if labels.get(name)}


def _bounded(key: str, limit: int = GROUP_KEY_MAX) -> str:
    """A group key that fits its column: a longer one keeps its start and ends with a hash of
    the whole, so two long keys never merge into one group."""
    if len(key) <= limit:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: limit - len(digest) - 3]}…#{digest}"


def _render_labels(labels: Mapping[str, str]) -> str:
    """Render labels as Alertmanager's LabelSet.String does: `{a="1", b="2"}`, sorted."""
    pairs = (f'{name}="{openmetrics_escape(value)}"' for name, value in sorted(labels.items()))
    return "{" + ", ".join(pairs) + "}"
