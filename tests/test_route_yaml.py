"""The route block read as Alertmanager (Go's yaml.v2) reads it: scalars as written, nulls.

Each expectation here was checked with `amtool check-config` / `amtool config routes test`
(Alertmanager 0.25); tests/test_route_parity.py checks such configs against amtool itself.
"""

from __future__ import annotations

import pytest

from bot.config import ConfigError, parse_config
from bot.domain.routing import route

HEAD = """
teams:
  a: {channel: "#a"}
  b: {channel: "#b"}
route:
  receiver: a
  routes:
"""


def load(routes: str):
    return parse_config(HEAD + routes)


def problems_of(routes: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(routes)
    return [str(problem) for problem in caught.value.problems]


def receivers(config, **labels: str) -> list[str]:
    return [decision.receiver for decision in route(config.route, labels)]


def test_match_values_are_strings_exactly_as_written() -> None:
    config = load("    - {match: {x: yes, y: 010, z: 0x1F, w: 1e3, u: true, v: 1.50}, receiver: b}")
    node = config.route.routes[0]
    assert node.match == {"x": "yes", "y": "010", "z": "0x1F", "w": "1e3", "u": "true", "v": "1.50"}
    assert receivers(config, x="yes", y="010", z="0x1F", w="1e3", u="true", v="1.50") == ["b"]
    assert receivers(config, x="true", y="8", z="31", w="1000.0", u="True", v="1.5") == ["a"]


def test_match_re_values_are_strings_exactly_as_written() -> None:
    config = load("    - {match_re: {y: 010|011, z: 0x1F}, receiver: b}\n")
    assert receivers(config, y="011", z="0x1F") == ["b"]
    assert receivers(config, y="9", z="31") == ["a"]


def test_other_route_strings_are_as_written_but_continue_is_a_go_bool() -> None:
    config = load("    - {matchers: ['x=yes'], group_by: [yes, no], continue: yes, receiver: b}\n")
    node = config.route.routes[0]
    assert node.group_by == ["yes", "no"]
    assert node.continue_ is True


def test_a_null_match_value_is_the_empty_string() -> None:
    config = load("    - {match: {x: null, y: ~}, receiver: b}\n")
    assert config.route.routes[0].match == {"x": "", "y": ""}
    assert receivers(config) == ["b"]
    assert receivers(config, x="1") == ["a"]


def test_null_lists_and_null_items_are_what_go_makes_of_them() -> None:
    config = load(
        "    - {matchers: [null, 'x=1'], receiver: b}\n"
        "    - {matchers: null, match: null, match_re: null, routes: null, continue: null}\n"
    )
    assert config.route.routes[0].matchers == ["", "x=1"]
    assert config.route.routes[1].routes == []
    assert receivers(config, x="1") == ["b"]
    assert receivers(config, x="2") == ["a"]  # the second child, inheriting receiver a


def test_a_null_match_re_value_is_refused_as_alertmanager_refuses_it() -> None:
    found = problems_of("    - {match_re: {x: null}, receiver: b}\n")
    assert any("route.routes[0]" in p and 'invalid regexp value for "x"' in p for p in found)


def test_a_null_group_by_item_is_an_invalid_label_name() -> None:
    found = problems_of("    - {group_by: [null], receiver: b}\n")
    assert any("route.routes[0].group_by[0]" in p and 'invalid label name ""' in p for p in found)


def test_a_bad_match_re_gets_alertmanagers_exact_error_at_its_key() -> None:
    found = problems_of("    - {match_re: {x: '(a'}, receiver: b}\n")
    assert any(
        p.startswith("oncall.yaml:8: route.routes[0].match_re")
        and "error parsing regexp: missing closing ): `^(?:(a)$`" in p
        for p in found
    ), found
