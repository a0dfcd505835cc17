"""Checks on the `route` block of oncall.yaml, run when the config is loaded and checked.

Alertmanager's rules for a route tree (the root names a receiver, has no matchers and no
continue; matchers and group_by labels are valid; timers are not zero), plus ours:
receivers are teams, time intervals are refused, tool_owners name known teams. Each
problem is reported at its config-key path. `bot.domain.routing` re-exports
`validate_tree`, `RouteProblem` and `GROUP_BY_ALL`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel

from bot.domain.matchers import (
    MatcherError,
    go_quote,
    is_label_name,
    matchers_from_route,
    parse_matchers,
)

if TYPE_CHECKING:
    from bot.domain.routing import RouteNode

__all__ = ["GROUP_BY_ALL", "RouteProblem", "validate_tree"]

# Alertmanager's group_by wildcard: group by every label. Defined here, not in routing
# (which imports this module), so the two modules do not import each other.
GROUP_BY_ALL = "..."
_TIME_INTERVALS_UNSUPPORTED = (
    "not supported: the bot cannot honour time intervals; mute at Alertmanager instead"
)


class RouteProblem(BaseModel):
    """A route tree problem, at a config-key path such as `route.routes[2].matchers[0]`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def validate_tree(
    tree: RouteNode, teams: Collection[str], tool_owners: Mapping[str, str]
) -> list[RouteProblem]:
    """List every problem of a route tree, each at its config-key path, for `oncall-bot check`."""
    problems = list(_root_problems(tree))
    for node, path in _walk(tree, "route"):
        problems += _node_problems(node, path, teams)
    problems += _tool_owner_problems(tool_owners, teams)
    return problems


def _walk(node: RouteNode, path: str) -> Iterator[tuple[RouteNode, str]]:
    yield node, path
    for index, child in enumerate(node.routes):
        yield from _walk(child, f"{path}.routes[{index}]")


def _root_problems(root: RouteNode) -> Iterator[RouteProblem]:
    """Alertmanager's rules for the root: a receiver, no matchers, no continue."""
    if not root.receiver:
        yield RouteProblem(path="route.receiver", message="the root route must name a receiver")
    for key in ("matchers", "match", "match_re"):
        if getattr(root, key):
            yield RouteProblem(
                path=f"route.{key}",
                message="the root route must not have matchers: it catches every alert",
            )
    if root.continue_:
        yield RouteProblem(path="route.continue", message="the root route cannot have continue")


def _node_problems(node: RouteNode, path: str, teams: Collection[str]) -> list[RouteProblem]:
    return [
        *_receiver_problems(node, path, teams),
        *_matcher_problems(node, path),
        *_group_by_problems(node, path),
        *_timer_problems(node, path),
        *_time_interval_problems(node, path),
    ]


def _receiver_problems(
    node: RouteNode, path: str, teams: Collection[str]
) -> Iterator[RouteProblem]:
    if node.receiver and node.receiver not in teams:
        known = ", ".join(sorted(teams)) or "none"
        yield RouteProblem(
            path=f"{path}.receiver",
            message=f"receiver {node.receiver!r} is not a team (teams: {known})",
        )
    label = node.receiver_from_label
    if label is not None and not is_label_name(label):
        yield RouteProblem(
            path=f"{path}.receiver_from_label", message=f"{label!r} is not a valid label name"
        )


def _matcher_problems(node: RouteNode, path: str) -> Iterator[RouteProblem]:
    """Re-check matchers (a tree built without validation may hold bad ones)."""
    for index, line in enumerate(node.matchers):
        yield from _problem_if_invalid(f"{path}.matchers[{index}]", parse_matchers, line)
    for name, value in node.match.items():
        yield from _problem_if_invalid(f"{path}.match.{name}", _check_legacy, name, value)
    for name, value in node.match_re.items():
        yield from _problem_if_invalid(f"{path}.match_re.{name}", _check_legacy, name, value, True)


def _check_legacy(name: str, value: str, regex: bool = False) -> None:
    matchers_from_route([], {} if regex else {name: value}, {name: value} if regex else {})


def _problem_if_invalid(
    path: str, check: Callable[..., object], *args: object
) -> Iterator[RouteProblem]:
    try:
        check(*args)
    except MatcherError as exc:
        yield RouteProblem(path=path, message=str(exc))


def _group_by_problems(node: RouteNode, path: str) -> Iterator[RouteProblem]:
    """Alertmanager's group_by rules: valid names, no duplicates, `...` only on its own."""
    labels = node.group_by or []
    if GROUP_BY_ALL in labels and len(labels) > 1:
        yield RouteProblem(
            path=f"{path}.group_by",
            message="cannot have wildcard group_by (`...`) and other labels at the same time",
        )
    for index, label in enumerate(labels):
        where = f"{path}.group_by[{index}]"
        if label != GROUP_BY_ALL and not is_label_name(label):
            message = f"invalid label name {go_quote(label)} in group_by list"
            yield RouteProblem(path=where, message=message)
        elif label in labels[:index]:
            message = f"duplicated label {go_quote(label)} in group_by"
            yield RouteProblem(path=where, message=message)


def _timer_problems(node: RouteNode, path: str) -> Iterator[RouteProblem]:
    for key in ("group_interval", "repeat_interval"):
        if getattr(node, key) == timedelta(0):
            yield RouteProblem(path=f"{path}.{key}", message=f"{key} cannot be zero")


def _time_interval_problems(node: RouteNode, path: str) -> Iterator[RouteProblem]:
    for key in ("mute_time_intervals", "active_time_intervals"):
        if getattr(node, key):
            yield RouteProblem(path=f"{path}.{key}", message=_TIME_INTERVALS_UNSUPPORTED)


def _tool_owner_problems(
    tool_owners: Mapping[str, str], teams: Collection[str]
) -> Iterator[RouteProblem]:
    for tool, team in tool_owners.items():
        if team not in teams:
            yield RouteProblem(
                path=f"tool_owners.{tool}", message=f"team {team!r} is not defined under teams"
            )
