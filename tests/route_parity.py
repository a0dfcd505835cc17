"""Generating route trees shaped like real configs, and asking Alertmanager's amtool about them.

Used by tests/test_route_parity.py. Trees are plain dicts whose text leaves may be
`Plain` values: those are written into the YAML as plain scalars exactly as given (`yes`,
`010`, `1e3`), so both sides read the same text and must agree on what it means.

amtool answers one label set per run, so K trees are answered in one run: each tree
becomes a `continue: true` child of one root, its receivers renamed `t<k>-<name>`, and
the receivers amtool prints are split back by that prefix (a wrapper with no matchers
routes exactly like a root).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from bot.config import parse_config
from bot.domain.matchers import Matcher, MatchOp, openmetrics_escape
from bot.domain.routing import RouteNode, route

TEAMS = ("infra", "ml", "payments", "search")
NAMES = ("alertname", "severity", "team", "env", "service", "ns:x")
VALUES = {
    "alertname": ["DiskFull", "HighLatency", "disk_full", "Ωmega", ""],
    "severity": ["critical", "warning", "CRITICAL", "yes", "010", ""],
    "team": ["ml", "infra", "ml-platform", "a,b", 'say "hi"', ""],
    "env": ["prod", "prod-eu", "staging", "1e3", "0x1F", " prod", ""],
    "service": ["api", "ΑΠΙ", "api\\v1", "été", "true", ""],
    "ns:x": ["1", "x", ""],
}
REGEXES = [
    "", ".*", ".+", "crit.*", "(?i)crit.*", "warn|(?i)CRIT", "prod|staging", "prod)|(.*-eu",
    "[a-m].*", "\\w+", "\\d+", "\\pL+", "\\p{Greek}+", "[\\p{Lu}]\\pL*", "(?U)a+", "(?s).*",
    "[[:alpha:]]+", "[^a-z]*", "é.*", "(?i)ÉTÉ", "(ml)-platform", "api\\\\v1", "(?:dev)?",
    "Disk.*|High\\w+", "\\Qa,b\\E", "[ ]prod", "0x[0-9A-F]+", "1e3|true", "x{2,3}", "\\bprod\\b",
]

# How often a label set leaves a label out or sets it empty, like real alerts.
_LABEL_PRESENT = 0.6


@dataclass(frozen=True)
class Plain:
    """A YAML plain scalar written exactly as `text` (Go reads it as that string)."""

    text: str


# -- strategies ----------------------------------------------------------------------------


def _value(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from(VALUES[name])


@st.composite
def matcher_text(draw: st.DrawFn) -> str:
    """One matcher as a person writes it: quoted or bare, spaced or not."""
    name = draw(st.sampled_from(NAMES))
    op = draw(st.sampled_from(list(MatchOp)))
    value = draw(st.sampled_from(REGEXES) if op.is_regex else _value(name))
    quoted = f'"{openmetrics_escape(value)}"'
    bare_ok = re.fullmatch(r"[A-Za-z0-9_.\-]+", value) is not None
    rendered = value if bare_ok and draw(st.booleans()) else quoted
    space = draw(st.sampled_from(["", " ", "  "]))
    return f"{name}{space}{op}{space}{rendered}"


@st.composite
def matcher_line(draw: st.DrawFn) -> str:
    """A `matchers:` entry: one matcher, or several in braces, sometimes a trailing comma."""
    parts = draw(st.lists(matcher_text(), min_size=1, max_size=3))
    if len(parts) == 1 and draw(st.booleans()):
        return parts[0]
    trailing = draw(st.sampled_from(["", ",", ", "]))
    return "{" + draw(st.sampled_from([",", ", "])).join(parts) + trailing + "}"


_LEGACY_NAMES = [name for name in NAMES if ":" not in name]


def _scalar(text: str) -> Any:
    """Write bare what YAML can hold bare (`yes`, `010`), quote the rest."""
    return Plain(text) if re.fullmatch(r"[A-Za-z0-9_.\-]+", text) else text


@st.composite
def route_node(draw: st.DrawFn, depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    kind = draw(st.sampled_from(["matchers", "matchers", "match", "match_re", "none"]))
    if kind == "matchers":
        node["matchers"] = draw(st.lists(matcher_line(), min_size=1, max_size=2))
    elif kind == "match":
        names = draw(st.lists(st.sampled_from(_LEGACY_NAMES), min_size=1, max_size=2, unique=True))
        node["match"] = {name: _scalar(draw(_value(name))) for name in names}
    elif kind == "match_re":
        name = draw(st.sampled_from(_LEGACY_NAMES))
        node["match_re"] = {name: _scalar(draw(st.sampled_from(REGEXES)))}
    if draw(st.integers(0, 9)) < 6:
        node["receiver"] = draw(st.sampled_from(TEAMS))
    if draw(st.integers(0, 9)) < 4:
        node["continue"] = True
    if draw(st.integers(0, 9)) < 3:
        node["group_by"] = draw(st.sampled_from([["alertname"], ["..."], [], ["env", "team"]]))
    if depth < 4 and draw(st.integers(0, 9)) < 4:
        node["routes"] = draw(st.lists(route_node(depth + 1), min_size=1, max_size=3))
    return node


@st.composite
def route_tree(draw: st.DrawFn) -> dict[str, Any]:
    """A root (receiver, group_by) with 1-4 children, nesting up to 4 deep."""
    return {
        "receiver": draw(st.sampled_from(TEAMS)),
        "group_by": ["alertname"],
        "routes": draw(st.lists(route_node(1), min_size=1, max_size=4)),
    }


@st.composite
def label_set(draw: st.DrawFn) -> dict[str, str]:
    labels = {}
    for name in NAMES:
        if draw(st.integers(0, 9)) < _LABEL_PRESENT * 10:
            labels[name] = draw(_value(name))
    return labels


# -- YAML with plain scalars ---------------------------------------------------------------


def to_yaml(data: Any) -> str:
    """Dump `data`, writing every `Plain` exactly as its text, unquoted."""
    plains: dict[str, str] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, Plain):
            token = f"plain{len(plains)}token"
            plains[token] = value.text
            return token
        if isinstance(value, dict):
            return {swap(k): swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(item) for item in value]
        return value

    text = yaml.safe_dump(swap(data), sort_keys=False, allow_unicode=True, width=1000)
    return re.sub(r"plain\d+token", lambda found: plains[found.group(0)], text)


def our_tree(tree: dict[str, Any]) -> RouteNode:
    """The tree as the bot reads it from oncall.yaml (checked: it must be accepted)."""
    teams = "teams:\n" + "".join(f'  {team}: {{channel: "#{team}"}}\n' for team in TEAMS)
    return parse_config(teams + to_yaml({"route": tree})).route


def our_receivers(tree: RouteNode, labels: dict[str, str]) -> list[str]:
    return [decision.receiver for decision in route(tree, labels, {})]


# -- amtool ----------------------------------------------------------------------------------


def find_amtool() -> str | None:
    return shutil.which("amtool")


def combined_config(trees: Sequence[dict[str, Any]]) -> str:
    """K trees as one Alertmanager config: tree k under a `continue: true` wrapper."""
    wrappers = [_wrapper(index, tree) for index, tree in enumerate(trees)]
    receivers = [{"name": "none"}] + [
        {"name": f"t{index}-{team}"} for index in range(len(trees)) for team in TEAMS
    ]
    root = {"receiver": "none", "routes": wrappers}
    return to_yaml({"route": root, "receivers": receivers})


def _wrapper(index: int, tree: dict[str, Any]) -> dict[str, Any]:
    return {**_renamed(tree, f"t{index}-"), "continue": True}


def _renamed(node: dict[str, Any], prefix: str) -> dict[str, Any]:
    renamed = dict(node)
    if "receiver" in node:
        renamed["receiver"] = prefix + node["receiver"]
    if "routes" in node:
        renamed["routes"] = [_renamed(child, prefix) for child in node["routes"]]
    return renamed


def label_args(labels: dict[str, str]) -> list[str]:
    """Labels as amtool arguments, quoted and escaped as Alertmanager renders them."""
    return [str(Matcher(name=n, op=MatchOp.EQUAL, value=v)) for n, v in labels.items()]


def amtool_receivers_per_tree(
    amtool: str, config: Path, labels: dict[str, str], expected: Sequence[Sequence[str]]
) -> list[list[str]] | str:
    """Per tree, the receivers amtool picks; a string when amtool itself failed.

    `--verify.receivers` gets our combined answer, so amtool checks it too (exit 1 if not).
    """
    ours = ",".join(f"t{k}-{name}" for k, names in enumerate(expected) for name in names)
    done = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={config}",
         f"--verify.receivers={ours}", *label_args(labels)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    printed = done.stdout.strip().splitlines()
    if not printed or done.returncode not in (0, 1):
        return f"amtool failed ({done.returncode}): {done.stderr.strip()}"
    per_tree: list[list[str]] = [[] for _ in expected]
    for receiver in printed[0].split(","):
        index, _, name = receiver.partition("-")
        per_tree[int(index[1:])].append(name)
    return per_tree


def amtool_receivers(amtool: str, config: Path, labels: dict[str, str]) -> list[str] | str:
    """The receivers amtool picks for one label set in a plain (unwrapped) config."""
    done = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={config}", *label_args(labels)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    if done.returncode != 0:
        return f"amtool failed: {done.stderr.strip()}"
    return done.stdout.strip().split(",")


def check_configs(amtool: str, configs: Iterable[Path]) -> dict[str, str | None]:
    """`amtool check-config` on many files in one run: file -> None (accepted) or the error."""
    paths = [str(path) for path in configs]
    done = subprocess.run(
        [amtool, "check-config", *paths], capture_output=True, text=True, timeout=120, check=False
    )
    verdicts: dict[str, str | None] = {}
    current = None
    for line in done.stdout.splitlines():
        if line.startswith("Checking '"):
            current = line.split("'")[1]
            verdicts[current] = None if "SUCCESS" in line else line.split("FAILED: ", 1)[-1]
        elif current and verdicts[current] is not None and line.strip() and not line.startswith(
            ("Found:", " - ")
        ):
            verdicts[current] += " " + line.strip()
    return verdicts


def run_parallel(calls: list[Callable[[], Any]], workers: int = 4) -> list[Any]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda call: call(), calls))


# -- configs Alertmanager refuses -------------------------------------------------------------

# (key written on the node, its value, the key path our problem must name under the node)
MUTATIONS: list[tuple[str, Any, str]] = [
    ("matchers", ['x=~"(a"'], "matchers[0]"),
    ("matchers", ["bad-name=x"], "matchers[0]"),
    ("matchers", ["a=b,,c=d"], "matchers[0]"),
    ("matchers", ['x="unterminated'], "matchers[0]"),
    ("matchers", ['x=~"(?<n>a)"'], "matchers[0]"),
    ("matchers", ['x=~"a**"'], "matchers[0]"),
    ("matchers", ['x=~"\\\\C"'], "matchers[0]"),
    ("matchers", ['x=~"[z-a]"'], "matchers[0]"),
    ("match", {"bad-name": "x"}, "match"),
    ("match", {"ns:x": "x"}, "match"),
    ("match_re", {"x": "a{1001}"}, "match_re"),
    ("match_re", {"x": Plain("null")}, "match_re"),
    ("match_re", {"x": "\\p{Kawi}"}, "match_re"),
    ("group_by", ["alertname", "alertname"], "group_by"),
    ("group_by", ["...", "alertname"], "group_by"),
    ("group_by", [Plain("null")], "group_by"),
    ("group_by", ["bad-name"], "group_by"),
    ("group_interval", "0s", "group_interval"),
    ("repeat_interval", "0s", "repeat_interval"),
    ("receiver", "nobody", "receiver"),
]


def node_paths(tree: dict[str, Any], path: str = "route") -> list[tuple[dict[str, Any], str]]:
    """Every non-root node with its config-key path."""
    found = []
    for index, child in enumerate(tree.get("routes", [])):
        where = f"{path}.routes[{index}]"
        found += [(child, where), *node_paths(child, where)]
    return found


@st.composite
def refused_tree(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A generated tree with one thing Alertmanager refuses, and the key at fault."""
    tree = draw(route_tree())
    node, path = draw(st.sampled_from(node_paths(tree)))
    key, value, at = draw(st.sampled_from(MUTATIONS))
    node[key] = value
    return tree, f"{path}.{at}"
