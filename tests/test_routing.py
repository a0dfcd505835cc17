"""The route tree: Alertmanager's matching and inheritance, our extensions, and validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.domain.alerts import Action
from bot.domain.routing import (
    RouteNode,
    RouteProblem,
    compile_route,
    default_action,
    labels_read,
    route,
    validate_tree,
)

TEAMS = {"infra", "ml", "payments", "search"}


def tree(**root: Any) -> RouteNode:
    return RouteNode.model_validate({"receiver": "infra", **root})


def keys(
    node: RouteNode, labels: dict[str, str], owners: dict[str, str] | None = None
) -> list[str]:
    return [decision.route_key for decision in route(node, labels, owners or {})]


# -- Alertmanager's Route.Match ------------------------------------------------------------


SIBLINGS = tree(
    routes=[
        {"matchers": ['team="ml"'], "receiver": "ml", "continue": True},
        {"matchers": ['severity="critical"'], "receiver": "payments"},
        {"matchers": ['team=~".+"'], "receiver": "search"},
    ]
)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"team": "ml", "severity": "critical"}, ["root/0", "root/1"]),  # stops after root/1
        ({"team": "ml"}, ["root/0", "root/2"]),  # continue goes on to the next match
        ({"team": "x", "severity": "critical"}, ["root/1"]),  # first match wins
        ({"team": "x"}, ["root/2"]),
        ({}, ["root"]),
    ],
)
def test_siblings_stop_at_the_first_match_unless_continue(
    labels: dict[str, str], expected: list[str]
) -> None:
    assert keys(SIBLINGS, labels) == expected


NESTED = tree(
    routes=[
        {
            "matchers": ['alert_type="model"'],
            "receiver": "ml",
            "routes": [
                {"matchers": ['severity="critical"'], "page_after": "5m"},
                {"matchers": ['env="staging"'], "receiver": "search"},
            ],
        },
        {"matchers": ['alert_type=~"model|infra"'], "receiver": "payments"},
    ]
)


def test_the_deepest_matching_node_wins() -> None:
    [decision] = route(NESTED, {"alert_type": "model", "severity": "critical"}, {})
    assert decision.route_key == "root/0/0"
    assert decision.route_path == ["root", 'alert_type="model"', 'severity="critical"']
    assert decision.matched == ['alert_type="model"', 'severity="critical"']
    assert decision.team == "ml"  # inherited from root/0


def test_a_node_whose_children_all_miss_is_itself_the_match() -> None:
    [decision] = route(NESTED, {"alert_type": "model", "severity": "info"}, {})
    assert decision.route_key == "root/0"
    assert 'no child route matched: fell back to alert_type="model"' in decision.reasons


def test_a_matching_subtree_stops_later_siblings_even_if_only_the_parent_matched() -> None:
    assert keys(NESTED, {"alert_type": "model"}) == ["root/0"]  # root/1 would match too


def test_nothing_matched_falls_back_to_root() -> None:
    [decision] = route(NESTED, {"alertname": "Disk"}, {})
    assert decision.route_key == "root"
    assert decision.route_path == ["root"]
    assert decision.matched == []
    assert "no child route matched: fell back to root" in decision.reasons


def test_continue_inside_a_subtree_only_affects_its_siblings() -> None:
    node = tree(
        routes=[
            {
                "matchers": ["a=1"],
                "routes": [{"matchers": ["b=1"], "continue": True}, {"matchers": ["c=1"]}],
            },
            {"matchers": ["a=1"], "receiver": "ml"},
        ]
    )
    assert keys(node, {"a": "1", "b": "1", "c": "1"}) == ["root/0/0", "root/0/1"]
    assert keys(node, {"a": "1", "b": "1"}) == ["root/0/0"]


def test_a_child_without_matchers_catches_everything() -> None:
    node = tree(routes=[{"receiver": "ml"}, {"matchers": ["a=1"], "receiver": "search"}])
    [decision] = route(node, {"a": "1"}, {})
    assert (decision.route_key, decision.route_path[-1]) == ("root/0", "(any alert)")


def test_root_matchers_are_ignored_root_matches_everything() -> None:
    node = RouteNode.model_construct(receiver="infra", matchers=['team="x"'], routes=[])
    assert keys(node, {"team": "y"}) == ["root"]


# -- inheritance ---------------------------------------------------------------------------


INHERITING = tree(
    group_by=["alertname"],
    group_wait="10s",
    runbook="generic",
    routes=[
        {
            "matchers": ["tier=1"],
            "receiver": "payments",
            "group_by": ["alertname", "service"],
            "repeat_interval": "1h",
            "action": "notify",
            "page_after": "15m",
            "routes": [
                {"matchers": ["sub=empty"], "group_by": []},
                {"matchers": ["sub=all"], "group_by": ["..."], "runbook": "special"},
                {"matchers": ["sub=named"], "group_by": ["cluster"], "receiver": "search"},
            ],
        },
    ],
)


def test_receiver_group_by_and_extensions_are_inherited() -> None:
    [decision] = route(INHERITING, {"tier": "1", "sub": "empty", "alertname": "A"}, {})
    assert decision.team == "payments"
    # `group_by: []` inherits, as in Alertmanager
    assert decision.group_by == ["alertname", "service"]
    assert decision.action is Action.NOTIFY
    assert decision.page_after == timedelta(minutes=15)
    assert decision.runbook == "generic"
    assert "team payments: receiver of route root/0" in decision.reasons
    assert "action notify: set on route root/0" in decision.reasons


def test_timers_are_inherited_from_the_parent_and_defaulted_at_the_root() -> None:
    settings_ = compile_route(INHERITING).children[0].children[0].settings
    assert settings_.group_wait == timedelta(seconds=10)
    assert settings_.group_interval == timedelta(minutes=5)  # Alertmanager's default
    assert settings_.repeat_interval == timedelta(hours=1)


def test_group_by_all_groups_by_every_non_empty_label() -> None:
    labels = {"tier": "1", "sub": "all", "alertname": "A", "empty": ""}
    [decision] = route(INHERITING, labels, {})
    assert decision.group_by == ["..."]
    assert decision.group_labels == {"alertname": "A", "sub": "all", "tier": "1"}
    assert decision.group_key == 'root/0/1:{alertname="A", sub="all", tier="1"}'
    assert decision.runbook == "special"


def test_named_group_by_replaces_the_parents_and_skips_absent_labels() -> None:
    labels = {"tier": "1", "sub": "named", "alertname": "A"}
    [decision] = route(INHERITING, labels, {})
    assert decision.group_by == ["cluster"]
    assert decision.group_labels == {}
    assert decision.group_key == "root/0/2:{}"
    assert decision.team == "search"


def test_group_key_is_deterministic_and_escaped() -> None:
    node = tree(group_by=["b", "a"])
    [decision] = route(node, {"a": 'say "hi"', "b": "2", "c": "3"}, {})
    assert decision.group_key == 'root:{a="say \\"hi\\"", b="2"}'


# -- receiver_from_label -------------------------------------------------------------------


TOOLS = tree(
    routes=[
        {"matchers": ['alert_type="tool"'], "receiver": "ml", "receiver_from_label": "tool_name"}
    ]
)
OWNERS = {"stripe": "payments", "elastic": "search"}


def test_receiver_from_label_looks_the_value_up_in_tool_owners() -> None:
    [decision] = route(TOOLS, {"alert_type": "tool", "tool_name": "stripe"}, OWNERS)
    assert (decision.team, decision.receiver) == ("payments", "ml")
    assert (
        "team payments: tool_owners[stripe] via receiver_from_label tool_name" in decision.reasons
    )


@pytest.mark.parametrize(
    ("labels", "why"),
    [
        ({"alert_type": "tool"}, "label not set"),
        ({"alert_type": "tool", "tool_name": ""}, "label not set"),
        ({"alert_type": "tool", "tool_name": "redis"}, "'redis' not in tool_owners"),
    ],
)
def test_receiver_from_label_falls_back_to_the_receiver(labels: dict[str, str], why: str) -> None:
    [decision] = route(TOOLS, labels, OWNERS)
    assert decision.team == "ml"
    expected = f"team ml: receiver of route root/0 (receiver_from_label tool_name: {why})"
    assert decision.reasons[-2] == expected


# -- actions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "action"),
    [
        *[(s, Action.PAGE) for s in ["critical", "page", "sev1", "sev2", "high", "error", "HIGH"]],
        *[(s, Action.NOTIFY) for s in ["warning", "warn", "sev3", "medium", " Warning "]],
        *[(s, Action.TRIAGE) for s in ["info", "low", "sev4", "none", "", "bogus"]],
    ],
)
def test_default_action_follows_severity(severity: str, action: Action) -> None:
    assert default_action(severity) is action


def test_default_action_is_explained() -> None:
    [decision] = route(tree(), {"severity": "critical"}, {})
    assert decision.action is Action.PAGE
    assert decision.reasons[-1] == "action page: default for severity=critical"
    [decision] = route(tree(), {}, {})
    assert decision.reasons[-1] == "action triage: default when severity is not set"


def test_digest_implies_the_digest_action_with_a_default_page_ratio() -> None:
    node = tree(routes=[{"matchers": ["kind=cost"], "digest": "hourly"}])
    [decision] = route(node, {"kind": "cost", "severity": "critical"}, {})
    assert (decision.action, decision.digest, decision.page_if_ratio_at_least) == (
        Action.DIGEST,
        "hourly",
        5.0,
    )
    assert "action digest: digest hourly set on route root/0" in decision.reasons
    assert "page_if_ratio_at_least 5: default for digest" in decision.reasons


@pytest.mark.parametrize(
    ("parent", "child", "expected"),
    [
        ({"digest": "hourly", "action": "page"}, {}, Action.PAGE),  # explicit action wins
        ({"action": "page"}, {"digest": "hourly"}, Action.DIGEST),  # the nearer setting wins
        ({"digest": "hourly"}, {"action": "notify"}, Action.NOTIFY),
        ({"digest": "hourly", "page_if_ratio_at_least": 3}, {}, Action.DIGEST),
    ],
)
def test_action_and_digest_resolve_nearest_first(
    parent: dict[str, Any], child: dict[str, Any], expected: Action
) -> None:
    node = tree(
        routes=[{"matchers": ["a=1"], **parent, "routes": [{"matchers": ["b=1"], **child}]}]
    )
    [decision] = route(node, {"a": "1", "b": "1"}, {})
    assert decision.action is expected
    assert decision.digest == "hourly"
    assert decision.page_if_ratio_at_least == parent.get("page_if_ratio_at_least", 5.0)


# -- the model -----------------------------------------------------------------------------


def test_unknown_keys_are_errors_that_name_them() -> None:
    with pytest.raises(ValidationError) as caught:
        RouteNode.model_validate({"receiver": "infra", "routes": [{"recevier": "ml"}]})
    assert caught.value.errors()[0]["loc"] == ("routes", 0, "recevier")


def test_bad_matchers_are_load_errors_at_their_key() -> None:
    with pytest.raises(ValidationError) as caught:
        RouteNode.model_validate({"receiver": "infra", "routes": [{"matchers": ["team ml"]}]})
    error = caught.value.errors()[0]
    assert error["loc"] == ("routes", 0, "matchers", 0)
    assert "bad matcher format 'team ml'" in error["msg"]


def test_yaml_shaped_input_is_accepted() -> None:
    node = RouteNode.model_validate(
        {"receiver": "infra", "continue": False, "match": {"code": 500}, "group_wait": "30s"}
    )
    assert node.match == {"code": "500"}  # Alertmanager reads numbers as strings here
    assert node.continue_ is False
    assert node.group_wait == timedelta(seconds=30)
    assert node.model_dump(mode="json", by_alias=True, exclude_defaults=True) == {
        "receiver": "infra",
        "match": {"code": "500"},
        "group_wait": "30s",
    }


def test_compiled_trees_are_cached_and_accepted_by_route() -> None:
    compiled = compile_route(NESTED)
    assert compile_route(NESTED) is compiled
    assert [d.route_key for d in route(compiled, {"alert_type": "model"}, {})] == ["root/0"]


def test_a_copy_with_changes_is_compiled_afresh() -> None:
    compile_route(NESTED)
    changed = NESTED.model_copy(update={"routes": []})
    assert keys(changed, {"alert_type": "model"}) == ["root"]


# -- validate_tree -------------------------------------------------------------------------


def problems(node: RouteNode, owners: dict[str, str] | None = None) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in validate_tree(node, TEAMS, owners or {})]


def test_a_good_tree_has_no_problems() -> None:
    assert problems(NESTED, OWNERS) == []
    assert problems(INHERITING) == []


def test_root_rules() -> None:
    node = RouteNode.model_validate({"matchers": ["a=1"], "match": {"b": "2"}, "continue": True})
    found = dict(problems(node))
    assert found["route.receiver"] == "the root route must name a receiver"
    assert "must not have matchers" in found["route.matchers"]
    assert "must not have matchers" in found["route.match"]
    assert found["route.continue"] == "the root route cannot have continue"


def test_problems_carry_config_key_paths() -> None:
    node = tree(
        routes=[
            {"matchers": ["a=1"]},
            {"matchers": ["a=2"], "routes": [{"receiver": "nobody"}]},
            {
                "matchers": ["a=3"],
                "mute_time_intervals": ["weekends"],
                "active_time_intervals": ["office"],
                "group_by": ["...", "alertname"],
                "group_interval": "0s",
            },
            {"group_by": ["alertname", "alertname", "bad-name"], "receiver_from_label": "x-y"},
        ]
    )
    assert problems(node, {"stripe": "finance"}) == [
        (
            "route.routes[1].routes[0].receiver",
            "receiver 'nobody' is not a team (teams: infra, ml, payments, search)",
        ),
        (
            "route.routes[2].group_by",
            "cannot have wildcard group_by (`...`) and other labels at the same time",
        ),
        ("route.routes[2].group_interval", "group_interval cannot be zero"),
        ("route.routes[2].mute_time_intervals", TIME_INTERVALS),
        ("route.routes[2].active_time_intervals", TIME_INTERVALS),
        ("route.routes[3].receiver_from_label", "'x-y' is not a valid label name"),
        ("route.routes[3].group_by[1]", 'duplicated label "alertname" in group_by'),
        ("route.routes[3].group_by[2]", 'invalid label name "bad-name" in group_by list'),
        ("tool_owners.stripe", "team 'finance' is not defined under teams"),
    ]


TIME_INTERVALS = "not supported: the bot cannot honour time intervals; mute at Alertmanager instead"


def test_bad_matchers_in_an_unvalidated_tree_are_reported_at_their_index() -> None:
    child = RouteNode.model_construct(
        matchers=['a="1"', 'b=~"("'], match={"bad-key": "x"}, match_re={"c": "[z-a]"}
    )
    node = RouteNode.model_construct(receiver="infra", routes=[child])
    found = problems(node)
    assert [path for path, _ in found] == [
        "route.routes[0].matchers[1]",
        "route.routes[0].match.bad-key",
        "route.routes[0].match_re.c",
    ]
    assert "missing closing )" in found[0][1]


def test_problems_render_as_path_then_message() -> None:
    assert str(RouteProblem(path="route.receiver", message="missing")) == "route.receiver: missing"


# -- properties ----------------------------------------------------------------------------

LABELS = {
    "team": ["ml", "infra", ""],
    "severity": ["critical", "warning", ""],
    "env": ["prod", "dev"],
}
MATCHER_POOL = [
    'team="ml"',
    'team!="infra"',
    'severity=~"crit.*|warning"',
    'env!~"prod"',
    'severity=""',
    'team=~".+"',
]
label_sets = st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in LABELS.items()})


def route_trees(allow_continue: bool) -> st.SearchStrategy[dict[str, Any]]:
    def node(
        children: st.SearchStrategy[list[dict[str, Any]]],
    ) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {
                "matchers": st.lists(st.sampled_from(MATCHER_POOL), max_size=2),
                "continue": st.booleans() if allow_continue else st.just(False),
                "receiver": st.sampled_from(sorted(TEAMS)),
                "routes": children,
            }
        )

    leaf = node(st.just([]))
    subtree = st.recursive(leaf, lambda inner: node(st.lists(inner, max_size=3)), max_leaves=12)
    return st.lists(subtree, max_size=4).map(lambda routes: {"receiver": "infra", "routes": routes})


@settings(max_examples=200)
@given(spec=route_trees(allow_continue=False), labels=label_sets)
def test_without_continue_there_is_exactly_one_decision(
    spec: dict[str, Any], labels: dict[str, str]
) -> None:
    assert len(route(RouteNode.model_validate(spec), labels, {})) == 1


@settings(max_examples=200)
@given(spec=route_trees(allow_continue=True), labels=label_sets)
def test_every_decision_is_a_distinct_node_whose_whole_path_matched(
    spec: dict[str, Any], labels: dict[str, str]
) -> None:
    decisions = route(RouteNode.model_validate(spec), labels, {})
    assert decisions
    assert len({d.route_key for d in decisions}) == len(decisions)
    for decision in decisions:
        assert len(decision.route_path) == decision.route_key.count("/") + 1
        assert all(f"matched {m} " in " ".join(decision.reasons) for m in decision.matched)


# -- labels_read: what a decision cache may key on ------------------------------------------


@settings(max_examples=200)
@given(spec=route_trees(allow_continue=True), labels=label_sets, extra=label_sets)
def test_labels_no_route_reads_never_change_a_decision(
    spec: dict[str, Any], labels: dict[str, str], extra: dict[str, str]
) -> None:
    """Ingest caches decisions by the labels `labels_read` names: any other label may differ
    (a storm's pods, instances) and the decisions must be exactly the same."""
    node = RouteNode.model_validate(spec)
    read = labels_read(node)
    if read is None:
        return
    unread = {k: v for k, v in extra.items() if k not in read and k not in labels}
    unread["pod"] = "pod-7"
    owners = {"stripe": "payments"}
    assert route(node, {**labels, **unread}, owners) == route(node, labels, owners)


def test_labels_read_names_matchers_grouping_and_severity_or_none_for_group_by_all() -> None:
    node = tree(group_by=["alertname"], routes=[
        {"matchers": ['alert_type="tool"'], "receiver": "ml", "receiver_from_label": "tool"}])
    assert labels_read(node) == {"alertname", "alert_type", "tool", "severity"}
    assert labels_read(tree(group_by=["..."])) is None
