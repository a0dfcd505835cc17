"""Parity with Alertmanager 0.25 itself, on thousands of generated cases and a fixed corpus.

* Generated: hypothesis draws route trees shaped like real configs (nesting 1-4 deep,
  `continue`, legacy and new matchers in every syntax, regexes with classes, flags,
  alternation and unicode, YAML scalars such as `yes` and `010`) and label sets (absent,
  empty, unicode, quoted values). For every (tree, label set) the receivers our `route()`
  picks, in order, must equal what `amtool config routes test --verify.receivers` picks.
  Many trees share one amtool run (see tests/route_parity.py), so thousands of cases
  take seconds. Set ONCALL_PARITY_EXAMPLES to run more.
* Corpus: tests/payloads/route_parity_corpus.yaml holds hand-written trees for each
  known difference, with the receivers amtool gave; they are checked without amtool and,
  when amtool is installed, re-checked against it so the corpus cannot rot.
* Refusals: configs Alertmanager refuses (`amtool check-config`) must be refused by
  `parse_config`, with a message at the config key at fault; configs it accepts, accepted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot.config import ConfigError, parse_config
from tests.harness import servers_required
from tests.route_parity import (
    TEAMS,
    amtool_receivers,
    amtool_receivers_per_tree,
    check_configs,
    combined_config,
    find_amtool,
    label_set,
    our_receivers,
    our_tree,
    refused_tree,
    route_tree,
    run_parallel,
    to_yaml,
)

# Each example runs amtool: no time limit, the same examples every run, report without shrinking.
AMTOOL_RUNS = settings(deadline=None, derandomize=True, database=None,
                       phases=[Phase.explicit, Phase.generate],
                       suppress_health_check=list(HealthCheck))
CORPUS = Path(__file__).parent / "payloads" / "route_parity_corpus.yaml"
EXAMPLES = int(os.environ.get("ONCALL_PARITY_EXAMPLES", "5"))
TREES_PER_BATCH = 16
LABEL_SETS_PER_BATCH = 50  # 5 x 16 x 50 = 4,000 generated cases by default


@pytest.fixture(scope="module")
def amtool() -> str:
    found = find_amtool()
    if found:
        return found
    reason = "amtool not on PATH: install the Debian package prometheus-alertmanager"
    if servers_required():
        pytest.fail(f"{reason} (ONCALL_REQUIRE_SERVERS=1)", pytrace=False)
    pytest.skip(reason)


def compare(amtool: str, config_dir: Path, trees: list[dict[str, Any]],
            label_sets: list[dict[str, str]]) -> tuple[int, list[str]]:
    """(cases compared, descriptions of those that differ)."""
    ours_trees = [our_tree(tree) for tree in trees]
    config = config_dir / "combined.yml"
    config.write_text(combined_config(trees), encoding="utf-8")
    expected = [[our_receivers(tree, labels) for tree in ours_trees] for labels in label_sets]
    theirs = run_parallel([
        lambda labels=labels, ours=ours: amtool_receivers_per_tree(amtool, config, labels, ours)
        for labels, ours in zip(label_sets, expected, strict=True)
    ])
    differ = []
    for labels, ours, their in zip(label_sets, expected, theirs, strict=True):
        if isinstance(their, str):
            differ.append(f"labels {labels}: {their}")
            continue
        differ += [
            f"labels {labels}: ours {o}, amtool {t}\n{to_yaml({'route': trees[k]})}"
            for k, (o, t) in enumerate(zip(ours, their, strict=True)) if o != t
        ]
    return len(label_sets) * len(trees), differ


@settings(AMTOOL_RUNS, max_examples=EXAMPLES)
@given(
    trees=st.lists(route_tree(), min_size=TREES_PER_BATCH, max_size=TREES_PER_BATCH),
    label_sets=st.lists(label_set(), min_size=LABEL_SETS_PER_BATCH,
                        max_size=LABEL_SETS_PER_BATCH),
)
def test_generated_trees_route_as_alertmanager_routes_them(
    amtool: str, tmp_path: Path, trees: list[dict[str, Any]], label_sets: list[dict[str, str]]
) -> None:
    count, differ = compare(amtool, tmp_path, trees, label_sets)
    assert not differ, f"{len(differ)} of {count} differ:\n" + "\n".join(differ[:3])


# -- the fixed corpus ---------------------------------------------------------------------


def corpus() -> list[dict[str, Any]]:
    return yaml.safe_load(CORPUS.read_text(encoding="utf-8"))


def corpus_ids() -> list[str]:
    return [entry["name"] for entry in corpus()]


@pytest.mark.parametrize("entry", corpus(), ids=corpus_ids())
def test_corpus_routes_as_recorded(entry: dict[str, Any]) -> None:
    """No amtool needed: the receivers amtool gave when the case was recorded."""
    tree = our_tree_from_text(entry["route"])
    for case in entry["cases"]:
        assert our_receivers(tree, case["labels"]) == case["receivers"], case


def our_tree_from_text(route_text: str):
    config = parse_config(team_block() + route_text)
    return config.route


def team_block() -> str:
    return "teams:\n" + "".join(f'  {team}: {{channel: "#{team}"}}\n' for team in TEAMS)


def test_corpus_still_agrees_with_amtool(amtool: str, tmp_path: Path) -> None:
    asked = []
    for index, entry in enumerate(corpus()):
        config = tmp_path / f"corpus{index}.yml"
        config.write_text(entry["route"] + receivers_block(), encoding="utf-8")
        asked += [(entry["name"], case, config) for case in entry["cases"]]
    answers = run_parallel([
        lambda case=case, config=config: amtool_receivers(amtool, config, case["labels"])
        for _, case, config in asked
    ])
    differ = [(name, case, got) for (name, case, _), got in zip(asked, answers, strict=True)
              if got != case["receivers"]]
    assert not differ, differ


def receivers_block() -> str:
    return "receivers:\n" + "".join(f"  - name: {team}\n" for team in TEAMS)


# -- refusals -------------------------------------------------------------------------------

ROOT_REFUSALS = [
    ("route:\n  receiver: infra\n  matchers: ['a=b']\n", "route.matchers"),
    ("route:\n  receiver: infra\n  continue: true\n", "route.continue"),
    ("route:\n  group_by: [alertname]\n", "route.receiver"),
]


@settings(AMTOOL_RUNS, max_examples=2)
@given(cases=st.lists(refused_tree(), min_size=40, max_size=40))
def test_refuses_what_alertmanager_refuses_naming_the_key(
    amtool: str, tmp_path: Path, cases: list[tuple[dict[str, Any], str]]
) -> None:
    texts = [(to_yaml({"route": tree}), key) for tree, key in cases] + ROOT_REFUSALS
    files = []
    for index, (text, _) in enumerate(texts):
        path = tmp_path / f"refused{index}.yml"
        path.write_text(text + receivers_block(), encoding="utf-8")
        files.append(path)
    verdicts = check_configs(amtool, files)
    for (text, key), path in zip(texts, files, strict=True):
        theirs = verdicts[str(path)]
        assert theirs is not None, f"amtool accepted a mutation meant to be refused:\n{text}"
        ours = our_problems(text)
        assert any(problem.key.startswith(key) for problem in ours), (key, theirs, ours, text)
        if theirs.startswith("error parsing regexp"):  # Go's own words, at our key
            assert any(theirs in problem.message for problem in ours), (theirs, ours)


def our_problems(route_text: str) -> list[Any]:
    try:
        parse_config(team_block() + route_text)
    except ConfigError as error:
        return error.problems
    return []
