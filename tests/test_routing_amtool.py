"""Parity with Alertmanager itself: a route block routes here as `amtool` says it routes there.

Seeded random route trees (matchers in every syntax, legacy match/match_re, continue,
inheritance, our extension keys) are written as real Alertmanager configs, and for each
label set the receivers our `route()` picks, in order, must equal what
`amtool config routes test` prints. Go regex semantics and what Go refuses are checked
the same way. amtool is one process per label set, so calls run a few at a time.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.domain.matchers import (
    Matcher,
    MatcherError,
    MatchOp,
    openmetrics_escape,
    parse_matchers,
)
from bot.domain.routing import RouteNode, route, validate_tree
from tests.harness import servers_required

pytestmark = pytest.mark.alertmanager

SEED = int(os.environ.get("ONCALL_PARITY_SEED", "20250425"))  # set it to explore other trees
TREES = 24
LABEL_SETS_PER_TREE = 12
TEAMS = ["infra", "ml", "payments", "search"]
EXTENSION_KEYS = {
    "receiver_from_label",
    "action",
    "page_after",
    "runbook",
    "digest",
    "page_if_ratio_at_least",
}
VALUES = {
    "alertname": ["DiskFull", "HighLatency", "ModelDrift", "disk_full"],
    "severity": ["critical", "warning", "info", "CRITICAL"],
    "team": ["ml", "infra", "payments", "ml-platform"],
    "env": ["prod", "staging", "prod-eu", "dev"],
    "tool_name": ["stripe", "elastic", "redis"],
}
REGEXES = {
    "alertname": ["Disk.*", "(?i)disk.*", "High\\w+|ModelDrift", ".*Full", "[A-Z][a-z]+"],
    "severity": ["crit.*", "(?i)critical", "critical|warning", "warn|(?i)CRIT.*", ".+"],
    "team": ["ml.*", "ml|infra", "(ml)-platform", "[a-m].*", ""],
    "env": ["prod.*", "prod|staging", "prod)|(.*-eu", "\\w+", "(?:dev)?"],
    "tool_name": ["stripe|elastic", ".*", "s.*", "r\\w{4}"],
}


@pytest.fixture(scope="module")
def amtool() -> str:
    """amtool's path; skip without it, or fail when ONCALL_REQUIRE_SERVERS=1 (CI)."""
    found = shutil.which("amtool")
    if found:
        return found
    reason = "amtool not on PATH: install the Debian package prometheus-alertmanager"
    if servers_required():
        pytest.fail(f"{reason} (ONCALL_REQUIRE_SERVERS=1)", pytrace=False)
    pytest.skip(reason)


# -- generating trees and label sets ---------------------------------------------------


def random_matcher(rng: random.Random) -> tuple[str, MatchOp, str]:
    name = rng.choice(sorted(VALUES))
    op = rng.choice(list(MatchOp))
    pool = REGEXES[name] if op.is_regex else [*VALUES[name], ""]
    return name, op, rng.choice(pool)


def matcher_line(rng: random.Random) -> str:
    """One `matchers:` entry, written in one of the syntaxes Alertmanager accepts."""
    parts = [random_matcher(rng) for _ in range(rng.choice([1, 1, 2]))]
    rendered = [render(name, op, value, rng) for name, op, value in parts]
    if len(rendered) > 1 or rng.random() < 0.2:
        return "{" + ", ".join(rendered) + "}"
    return rendered[0]


def render(name: str, op: MatchOp, value: str, rng: random.Random) -> str:
    quoted = str(Matcher(name=name, op=op, value=value))
    bare = value and value.replace("_", "").replace("-", "").isalnum()
    if bare and rng.random() < 0.4:
        return f"{name} {op} {value}" if rng.random() < 0.5 else f"{name}{op}{value}"
    return quoted


def random_node(rng: random.Random, depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    roll = rng.random()
    if roll < 0.6:
        node["matchers"] = [matcher_line(rng) for _ in range(rng.choice([1, 1, 2]))]
    elif roll < 0.75:
        name, _, _ = random_matcher(rng)
        node["match"] = {name: rng.choice(VALUES[name])}
    elif roll < 0.9:
        name, _, _ = random_matcher(rng)
        node["match_re"] = {name: rng.choice(REGEXES[name])}
    add_options(node, rng)
    if depth < 3 and rng.random() < 0.5:
        node["routes"] = [random_node(rng, depth + 1) for _ in range(rng.randint(1, 3))]
    return node


def add_options(node: dict[str, Any], rng: random.Random) -> None:
    """Receiver, continue, group_by, timers and our extensions, each some of the time."""
    options: list[tuple[float, str, Callable[[], Any]]] = [
        (0.6, "receiver", lambda: rng.choice(TEAMS)),
        (0.35, "continue", lambda: True),
        (0.3, "group_by", lambda: rng.choice([["alertname"], ["..."], [], ["env", "team"]])),
        (0.2, "group_wait", lambda: rng.choice(["10s", "1m"])),
        (0.2, "receiver_from_label", lambda: "tool_name"),
        (0.2, "action", lambda: rng.choice(["page", "notify", "digest"])),
        (0.1, "digest", lambda: "hourly"),
        (0.1, "page_after", lambda: "5m"),
        (0.1, "runbook", lambda: "disk-full"),
    ]
    for chance, key, value in options:
        if rng.random() < chance:
            node[key] = value()


def random_tree(rng: random.Random) -> dict[str, Any]:
    routes = [random_node(rng, 1) for _ in range(rng.randint(1, 4))]
    return {"receiver": rng.choice(TEAMS), "group_by": ["alertname"], "routes": routes}


def random_labels(rng: random.Random) -> dict[str, str]:
    names = rng.sample(sorted(VALUES), rng.randint(0, len(VALUES)))
    return {name: rng.choice([*VALUES[name], ""]) for name in names}


def alertmanager_config(spec: dict[str, Any], receivers: Iterable[str]) -> str:
    """The same route block as a real Alertmanager config, minus our extension keys."""
    return yaml.safe_dump(
        {"route": without_extensions(spec), "receivers": [{"name": r} for r in receivers]}
    )


def without_extensions(node: dict[str, Any]) -> dict[str, Any]:
    kept = {key: value for key, value in node.items() if key not in EXTENSION_KEYS}
    if "routes" in kept:
        kept["routes"] = [without_extensions(child) for child in kept["routes"]]
    return kept


# -- running amtool ----------------------------------------------------------------------


def label_args(labels: dict[str, str]) -> list[str]:
    """Labels as amtool arguments, quoted and escaped as Alertmanager renders them."""
    return [
        str(Matcher(name=name, op=MatchOp.EQUAL, value=value)) for name, value in labels.items()
    ]


def amtool_receivers(amtool: str, config: Path, labels: dict[str, str]) -> str:
    done = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={config}", *label_args(labels)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        return f"<amtool failed: {done.stderr.strip()}>"
    return done.stdout.strip()


def config_accepted(amtool: str, config: Path) -> bool:
    done = subprocess.run(
        [amtool, "check-config", str(config)], capture_output=True, text=True, timeout=30
    )
    return done.returncode == 0


def run_all(calls: list[Callable[[], Any]]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda call: call(), calls))


# -- the parity tests ----------------------------------------------------------------------


def test_route_picks_the_receivers_alertmanager_picks(amtool: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    cases: list[tuple[dict[str, Any], Path, dict[str, str]]] = []
    for index in range(TREES):
        spec = random_tree(rng)
        config = tmp_path / f"tree{index}.yml"
        config.write_text(alertmanager_config(spec, TEAMS))
        cases += [(spec, config, random_labels(rng)) for _ in range(LABEL_SETS_PER_TREE)]
    theirs = run_all([lambda c=case: amtool_receivers(amtool, c[1], c[2]) for case in cases])
    mismatches = [
        describe(spec, labels, ours, their)
        for (spec, _, labels), their in zip(cases, theirs, strict=True)
        if (ours := our_receivers(spec, labels)) != their
    ]
    assert not mismatches, f"{len(mismatches)} of {len(cases)} differ:\n" + "\n".join(
        mismatches[:3]
    )


def our_receivers(spec: dict[str, Any], labels: dict[str, str]) -> str:
    tree = RouteNode.model_validate(spec)
    assert validate_tree(tree, set(TEAMS), {}) == []
    return ",".join(decision.receiver for decision in route(tree, labels, {}))


def describe(spec: dict[str, Any], labels: dict[str, str], ours: str, theirs: str) -> str:
    return f"labels {labels}: ours {ours!r}, amtool {theirs!r}\n{yaml.safe_dump(spec)}"


REGEX_CASES = [
    "(?i)critical",
    "warn|(?i)crit",
    "(?i)a(?-i)b",
    "(a(?i)b)c",
    "foo",
    "foo$",
    "(?m)foo$\\n",
    "x)|(y",
    "\\d+",
    "\\w+",
    "\\s",
    "[\\D]+",
    "[[:alpha:]]+",
    "[[:^digit:]]",
    "\\Qa.b\\E",
    "\\x41\\x{42}\\103",
    "a{,3}",
    "a{2,3}",
    "^*a",
    ".",
    "(?s).",
    "[^a]",
    "(?P<svc>api)-.*",
    "[]a]+",
    "[a-]+",
    "\\bfoo\\b.*",
    "(?i)[^a]",
    "(?i)é",
    "",
    ".*",
    "\\B",
    "(ab)+(?i)?c",
    "[[:alpha:]]+(?s)?(a|b)\\n",
    "(?i)\\W",
    "(?i)\\w+",
    "[a\\W]+",
    "[^a\\W]+",
    "(?i)[[:^upper:]]",
]
REGEX_VALUES = [
    "",
    "critical",
    "CRITICAL",
    "CRIT",
    "Ab",
    "AB",
    "aBc",
    "aBC",
    "foo",
    "foo\n",
    "x-anything",
    "anything-y",
    "123",
    "١٢٣",
    "héllo",
    "\u00a0",
    " ",
    "abcXYZ",
    "a",
    "A",
    "5",
    "a.b",
    "axb",
    "ABC",
    "a{,3}",
    "aaa",
    "\n",
    "api-1",
    "]a",
    "-a",
    "foo bar",
    "É",
    "C",
    "abC",
    "a\n",
    "k",
    "\u212a",
    "ſ",
    "-",
    "a-",
    "bc",
]


def test_regexes_match_what_go_matches(amtool: str, tmp_path: Path) -> None:
    routes = [
        {"matchers": [f'v=~"{openmetrics_escape(regex)}"'], "continue": True, "receiver": f"r{i}"}
        for i, regex in enumerate(REGEX_CASES)
    ]
    receivers = ["none", *(f"r{index}" for index in range(len(REGEX_CASES)))]
    config = tmp_path / "regexes.yml"
    config.write_text(alertmanager_config({"receiver": "none", "routes": routes}, receivers))
    theirs = run_all(
        [lambda v=value: amtool_receivers(amtool, config, {"v": v}) for value in REGEX_VALUES]
    )
    ours = [regex_receivers(value) for value in REGEX_VALUES]
    differ = [(v, o, t) for v, o, t in zip(REGEX_VALUES, ours, theirs, strict=True) if o != t]
    assert not differ, "\n".join(f"value {v!r}: ours {o}, amtool {t}" for v, o, t in differ)


def regex_receivers(value: str) -> str:
    matching = [
        f"r{index}"
        for index, regex in enumerate(REGEX_CASES)
        if Matcher(name="v", op=MatchOp.REGEX, value=regex).matches({"v": value})
    ]
    return ",".join(matching) or "none"


VALIDITY_CASES = [
    ("regex", "\\pL+"),
    ("regex", "\\p{Greek}"),
    ("regex", "(?U)a+"),
    ("regex", "\\C"),  # RE2 in C++ takes these four; Go 1.19 refuses them
    ("regex", "(?<n>a)"),
    ("regex", "(?P<naïve>a)"),
    ("regex", "\\p{Kawi}"),
    # regexes (as `v=~"..."` matchers)
    ("regex", "a**"),
    ("regex", "a*+"),
    ("regex", "a{2}{3}"),
    ("regex", "(?=a)"),
    ("regex", "(?<n>a)"),
    ("regex", "(?x)a"),
    ("regex", "(?i-)a"),
    ("regex", "(a)\\1"),
    ("regex", "\\Z"),
    ("regex", "\\z"),
    ("regex", "[\\b]"),
    ("regex", "a{1001}"),
    ("regex", "a{1000}"),
    ("regex", "[z-a]"),
    ("regex", "[[:nope:]]"),
    ("regex", "(?P<n>a)(?P<n>b)"),
    ("regex", "(?P<1a>b)"),
    ("regex", "(a"),
    ("regex", "x)|(y"),
    ("regex", "[a"),
    ("regex", "^*"),
    ("regex", "\\8"),
    ("regex", "\\012"),
    ("regex", "(?i)(?m)(?s)a"),
    ("regex", "x(?s){2}"),  # a repetition after a bare flag applies to the atom before it
    ("regex", "a*(?i)*"),
    # whole matcher lines
    ("line", "job="),
    ("line", "tricky=~~~"),
    ("line", 'job="value'),
    ("line", "a=b,,c=d"),
    ("line", "{a=b, c!=d, }"),
    ("line", '"foo="bar""'),
    ("line", "bad-name=x"),
    ("line", "a=\\"),
]


def test_refuses_exactly_what_alertmanager_refuses(amtool: str, tmp_path: Path) -> None:
    configs = []
    for index, (kind, text) in enumerate(VALIDITY_CASES):
        line = text if kind == "line" else f'v=~"{openmetrics_escape(text)}"'
        config = tmp_path / f"valid{index}.yml"
        route_ = {"receiver": "a", "routes": [{"matchers": [line]}]}
        config.write_text(alertmanager_config(route_, ["a"]))
        configs.append((line, config))
    theirs = run_all([lambda c=config: config_accepted(amtool, c) for _, config in configs])
    ours = [accepts(line) for line, _ in configs]
    differ = [line for (line, _), o, t in zip(configs, ours, theirs, strict=True) if o != t]
    assert not differ, f"we and Alertmanager disagree on: {differ}"


def accepts(line: str) -> bool:
    try:
        parse_matchers(line)
    except MatcherError:
        return False
    return True
