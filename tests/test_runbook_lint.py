"""Runbook lint, loading and showing; every starter runbook loads and lints clean."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.runbook_lint import LintProblem, lint_runbooks, reachable, trapped_cycles
from bot.domain.runbook_loader import load_runbooks, parse_runbook
from bot.domain.runbook_show import mermaid, outline
from bot.domain.runbook_walk import choose, is_finished, runbook_for, start
from bot.domain.runbooks import ActionNode, Option, Remediate, Runbook, is_terminal, successors

RUNBOOKS_DIR = Path(__file__).resolve().parent.parent / "runbooks"
HOOKS = {
    "failover-llm-provider",
    "restart-deployment",
    "rollback-deploy",
    "open-circuit-breaker",
    "rate-limit-tenant",
    "rollback-prompt",
}
STARTERS = {
    "llm-provider-down",
    "latency-p95-slo",
    "eval-regression",
    "error-rate-spike",
    "cost-anomaly",
    "tool-failure",
    "quality-drift",
    "pod-crashloop",
}


def option(label: str, target: str) -> dict[str, str]:
    return {"label": label, "next": target}


def check(*targets: str) -> dict[str, Any]:
    return {"kind": "check", "text": "Look", "options": [option(t, t) for t in targets]}


def done() -> dict[str, Any]:
    return {"kind": "done", "outcome": "Done"}


def runbook(nodes: dict[str, Any], file: str = "runbooks/rb.yaml", **extra: Any) -> Runbook:
    data = {"id": "rb", "title": "RB", "serves": {"alert_types": ["infra"]}, "start": "a"}
    return Runbook.model_validate({**data, "nodes": nodes, **extra}).with_file(file)


def codes(problems: list[LintProblem]) -> list[tuple[str, str | None, str]]:
    return [(p.code, p.node, p.severity) for p in problems]


# -- lint: one test per problem, each naming file and node -----------------------------------


def test_a_clean_runbook_has_no_problems() -> None:
    assert lint_runbooks([runbook({"a": check("b"), "b": done()})]) == []


def test_unknown_node_reference() -> None:
    problems = lint_runbooks([runbook({"a": check("b", "ghost"), "b": done()})])
    assert codes(problems) == [("unknown-node", "a", "error")]
    assert problems[0].file == "runbooks/rb.yaml"
    assert "'ghost'" in problems[0].message
    assert str(problems[0]).startswith("runbooks/rb.yaml: a: error: ")


def test_unreachable_node() -> None:
    problems = lint_runbooks([runbook({"a": check("b"), "b": done(), "orphan": done()})])
    assert codes(problems) == [("unreachable", "orphan", "warning")]


def test_cycle_without_exit_names_the_cycle() -> None:
    nodes = {"a": check("b", "end"), "b": check("c"), "c": check("b"), "end": done()}
    problems = lint_runbooks([runbook(nodes)])
    assert codes(problems) == [("cycle-without-exit", "b", "error")]
    assert "b -> c -> b" in problems[0].message


def test_a_cycle_with_an_exit_is_fine() -> None:
    nodes = {"a": check("b"), "b": check("a", "end"), "end": done()}
    assert lint_runbooks([runbook(nodes)]) == []


def test_a_self_loop_without_exit() -> None:
    problems = lint_runbooks([runbook({"a": check("a")})])
    assert codes(problems) == [("cycle-without-exit", "a", "error")]


def test_button_label_over_75_characters() -> None:
    nodes = {"a": {"kind": "check", "text": "t", "options": [option("x" * 76, "b")]}, "b": done()}
    problems = lint_runbooks([runbook(nodes)])
    assert codes(problems) == [("label-too-long", "a", "error")]
    assert "options[0] label is 76 characters" in problems[0].message


def test_more_than_25_options() -> None:
    options = [option(f"o{i}", "b") for i in range(26)]
    nodes = {"a": {"kind": "check", "text": "t", "options": options}, "b": done()}
    assert codes(lint_runbooks([runbook(nodes)])) == [("too-many-choices", "a", "error")]


def test_more_than_5_answers_even_when_built_without_validation() -> None:
    valid = runbook(
        {
            "a": {
                "kind": "question",
                "prompt": "?",
                "answers": [option("x", "b"), option("y", "b")],
            },
            "b": done(),
        }
    )
    question = valid.nodes["a"]
    answers = [Option(label=f"o{i}", next="b") for i in range(6)]
    many = question.model_copy(update={"answers": answers})
    broken = valid.model_copy(update={"nodes": {**valid.nodes, "a": many}})
    assert ("too-many-choices", "a", "error") in codes(lint_runbooks([broken]))


def test_duplicate_labels_warn() -> None:
    nodes = {
        "a": {"kind": "check", "text": "t", "options": [option("x", "b"), option("x", "b")]},
        "b": done(),
    }
    assert codes(lint_runbooks([runbook(nodes)])) == [("duplicate-label", "a", "warning")]


def remediate(hook: str) -> dict[str, Any]:
    return {"kind": "action", "text": "t", "do": {"remediate": {"hook": hook}}}


def test_unknown_hook_when_hooks_are_known() -> None:
    rb = runbook({"a": remediate("reboot-the-world")})
    problems = lint_runbooks([rb], known_hooks=HOOKS)
    assert codes(problems) == [("unknown-hook", "a", "error")]
    assert "'reboot-the-world'" in problems[0].message
    assert lint_runbooks([rb], known_hooks=None) == []


def test_unknown_escalation_level() -> None:
    rb = runbook({"a": {"kind": "action", "text": "t", "do": {"escalate": {"level": 4}}}})
    assert codes(lint_runbooks([rb], known_levels=3)) == [("unknown-level", "a", "error")]
    assert lint_runbooks([rb], known_levels=4) == []


def test_a_runbook_that_serves_nothing() -> None:
    rb = runbook({"a": done()}, serves={})
    problems = lint_runbooks([rb])
    assert codes(problems) == [("serves-nothing", None, "error")]
    assert problems[0].file == "runbooks/rb.yaml"


def test_duplicate_runbook_ids_name_both_files() -> None:
    first = runbook({"a": done()}, file="runbooks/rb.yaml")
    second = runbook({"a": done()}, file="runbooks/rb.yml")
    problems = lint_runbooks([first, second])
    assert codes(problems) == [("duplicate-id", None, "error")]
    assert problems[0].file == "runbooks/rb.yml"
    assert "runbooks/rb.yaml" in problems[0].message


def test_start_not_a_node() -> None:
    problems = lint_runbooks([runbook({"b": done()}, start="a")])
    assert codes(problems) == [("unknown-start", None, "error")]


def test_template_naming_something_else_warns() -> None:
    nodes = {"a": {"kind": "done", "outcome": "{{ alert.name }} and {{ labels.ok }}"}}
    problems = lint_runbooks([runbook(nodes)])
    assert codes(problems) == [("template", "a", "warning")]
    assert "outcome: {{ alert.name }}" in problems[0].message


def test_a_shell_placeholder_inside_quotes_is_an_error() -> None:
    diagnostic = {"label": "l", "language": "shell", "command": 'echo "{{ labels.x }}"'}
    nodes = {"a": {**check("b"), "diagnostics": [diagnostic]}, "b": done()}
    problems = lint_runbooks([runbook(nodes)])
    assert codes(problems) == [("shell-quoting", "a", "error")]
    assert problems[0].message.startswith("diagnostics[0].command: ")


def test_texts_slack_would_cut_warn() -> None:
    action = {
        "kind": "action",
        "title": "t" * 151,
        "text": "x" * 3001,
        "confirm": "c" * 301,
        "do": {"resolve": {}},
    }
    problems = lint_runbooks([runbook({"a": action})])
    assert codes(problems) == [("too-long", "a", "warning")] * 3
    assert [p.message.split(" is ")[0] for p in problems] == ["title", "text", "confirm"]


def test_file_name_differing_from_id_warns() -> None:
    problems = lint_runbooks([runbook({"a": done()}, file="runbooks/other.yaml")])
    assert codes(problems) == [("file-name", None, "warning")]


def test_a_runbook_built_in_code_is_named_by_id() -> None:
    rb = Runbook.model_validate({"id": "x", "title": "X", "start": "a", "nodes": {"a": done()}})
    assert lint_runbooks([rb])[0].file == "<runbook x>"


# -- lint vs a brute-force reference on random graphs ------------------------------------------

KINDS = ("check", "question", "action", "done")


@st.composite
def graphs(draw: st.DrawFn) -> Runbook:
    """Small random runbooks; some references point at nodes that do not exist."""
    size = draw(st.integers(1, 7))
    names = [f"n{i}" for i in range(size)]
    targets = st.sampled_from([*names, "ghost"])
    nodes: dict[str, Any] = {}
    for name in names:
        kind = draw(st.sampled_from(KINDS))
        if kind == "check":
            nodes[name] = {
                "kind": kind,
                "text": "t",
                "options": [
                    option(f"o{i}", t)
                    for i, t in enumerate(draw(st.lists(targets, min_size=1, max_size=3)))
                ],
            }
        elif kind == "question":
            nodes[name] = {
                "kind": kind,
                "prompt": "p",
                "answers": [
                    option(f"o{i}", t)
                    for i, t in enumerate(draw(st.lists(targets, min_size=2, max_size=3)))
                ],
            }
        elif kind == "action":
            nodes[name] = {
                "kind": kind,
                "text": "t",
                "do": {"resolve": {}},
                "next": draw(st.one_of(st.none(), targets)),
            }
        else:
            nodes[name] = done()
    return runbook(nodes, start=draw(st.sampled_from(names)))


def edges_of(rb: Runbook) -> dict[str, set[str]]:
    return {n: {t for t in successors(node) if t in rb.nodes} for n, node in rb.nodes.items()}


def paths(rb: Runbook) -> dict[tuple[str, str], bool]:
    """Floyd-Warshall: is there a path of length >= 1 from i to j?"""
    edges = edges_of(rb)
    path = {(i, j): j in edges[i] for i in rb.nodes for j in rb.nodes}
    for k, i, j in itertools.product(rb.nodes, repeat=3):
        path[i, j] = path[i, j] or (path[i, k] and path[k, j])
    return path


def reference_reachable(rb: Runbook) -> set[str]:
    path = paths(rb)
    return {rb.start} | {n for n in rb.nodes if path[rb.start, n]}


def reference_trapped(rb: Runbook) -> set[frozenset[str]]:
    path = paths(rb)
    terminal = {n for n, node in rb.nodes.items() if is_terminal(node)}

    def can_end(i: str) -> bool:
        return i in terminal or any(path[i, t] for t in terminal)

    def component(i: str) -> frozenset[str]:
        return frozenset({i} | {j for j in rb.nodes if path[i, j] and path[j, i]})

    return {component(i) for i in rb.nodes if path[i, i] and not can_end(i)}


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_reachability_matches_brute_force(rb: Runbook) -> None:
    assert reachable(rb) == reference_reachable(rb)
    unreachable = {p.node for p in lint_runbooks([rb]) if p.code == "unreachable"}
    assert unreachable == set(rb.nodes) - reference_reachable(rb)


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_cycles_without_exit_match_brute_force(rb: Runbook) -> None:
    found = trapped_cycles(rb)
    assert {frozenset(cycle) for cycle in found} == reference_trapped(rb)
    assert len(found) == len(reference_trapped(rb))
    flagged = [p.node for p in lint_runbooks([rb]) if p.code == "cycle-without-exit"]
    assert flagged == [cycle[0] for cycle in found]


def test_a_long_chain_does_not_hit_the_recursion_limit() -> None:
    size = 5000
    nodes = {f"n{i}": check(f"n{i + 1}") for i in range(size)}
    nodes[f"n{size}"] = check("n0")
    rb = runbook(nodes, start="n0")
    assert [len(cycle) for cycle in trapped_cycles(rb)] == [size + 1]


# -- loading ---------------------------------------------------------------------------------


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """\
id: good
title: Good
serves: {alert_types: [infra]}
start: ask
nodes:
  ask:
    kind: question
    prompt: Up?
    answers:
      - {label: Yes, next: end}
      - {label: No, next: end}
  end: {kind: done, outcome: Fine}
"""


def test_load_reads_every_yaml_file_in_order(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", GOOD)
    write(tmp_path, "also.yml", GOOD.replace("id: good", "id: also"))
    write(tmp_path, "notes.txt", "not a runbook")
    runbooks, problems = load_runbooks(tmp_path)
    assert problems == []
    assert [rb.id for rb in runbooks] == ["also", "good"]
    assert runbooks[1].file == str(tmp_path / "good.yaml")


def test_yes_and_no_stay_labels(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", GOOD)
    [rb], _ = load_runbooks(tmp_path)
    assert [a.label for a in rb.nodes["ask"].answers] == ["Yes", "No"]  # type: ignore[union-attr]


def test_a_yaml_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "id: x\nnodes: [unclosed\n")
    write(tmp_path, "good.yaml", GOOD)
    runbooks, problems = load_runbooks(tmp_path)
    assert [rb.id for rb in runbooks] == ["good"]
    assert codes(problems) == [("yaml", None, "error")]
    assert problems[0].file == str(path)
    assert "line 3" in problems[0].message


def test_a_duplicated_node_id_is_an_error_not_a_silent_overwrite(tmp_path: Path) -> None:
    text = GOOD + "  end: {kind: done, outcome: Other}\n"
    _, problems = load_runbooks(write(tmp_path, "good.yaml", text).parent)
    assert codes(problems) == [("yaml", None, "error")]
    assert "duplicate key 'end'" in problems[0].message


def test_schema_errors_name_the_node(tmp_path: Path) -> None:
    text = GOOD.replace("      - {label: No, next: end}\n", "      - {label: No, next: end}\n" * 5)
    text = text.replace("end: {kind: done, outcome: Fine}", "end: {kind: finished}")
    runbooks, problems = load_runbooks(write(tmp_path, "good.yaml", text).parent)
    assert runbooks == []
    assert [(p.file, p.node, p.code) for p in problems] == [
        (str(tmp_path / "good.yaml"), "ask", "schema"),
        (str(tmp_path / "good.yaml"), "end", "schema"),
    ]
    assert problems[0].message.startswith("answers: List should have at most 5 items")
    assert "'finished'" in problems[1].message


def test_schema_errors_outside_nodes_name_the_key() -> None:
    _, problems = parse_runbook({"id": "x", "start": "a", "nodes": {"a": done()}}, "x.yaml")
    assert [(p.node, p.message) for p in problems] == [(None, "title: Field required")]
    bad_do = {"kind": "action", "text": "t", "do": {"remediate": {}}}
    _, problems = parse_runbook(
        {"id": "x", "title": "X", "start": "a", "nodes": {"a": bad_do}}, "x.yaml"
    )
    assert [(p.node, p.message) for p in problems] == [("a", "do.remediate.hook: Field required")]


@pytest.mark.parametrize("text", ["- a list\n", "just text\n", ""])
def test_a_file_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    _, problems = load_runbooks(write(tmp_path, "x.yaml", text).parent)
    assert codes(problems) == [("schema", None, "error")]


def test_a_missing_directory_is_a_problem(tmp_path: Path) -> None:
    runbooks, problems = load_runbooks(tmp_path / "nope")
    assert runbooks == []
    assert codes(problems) == [("load", None, "error")]


# -- showing ---------------------------------------------------------------------------------


SMALL = Runbook.model_validate(
    {
        "id": "demo",
        "title": "Demo",
        "serves": {"alert_types": ["provider"], "alertnames": ["ProviderDown"]},
        "start": "look",
        "nodes": {
            "look": {
                "kind": "check",
                "text": "Is {{ labels.provider }} down?",
                "diagnostics": [
                    {
                        "label": "Errors",
                        "language": "promql",
                        "command": 'sum(rate(e{p="{{ labels.provider }}"}[5m]))',
                    }
                ],
                "links": [{"label": "Status", "url": "https://status.example.com"}],
                "options": [option("Down", "ask"), option("Up", "end")],
            },
            "ask": {
                "kind": "question",
                "prompt": 'Secondary "healthy"?',
                "answers": [option("Yes", "fail-over"), option("Not sure", "look")],
            },
            "fail-over": {
                "kind": "action",
                "title": "Fail over",
                "text": "Move traffic",
                "do": {"remediate": {"hook": "failover", "never_auto": True}},
                "next": "end",
            },
            "end": {"kind": "done", "outcome": "Traffic is healthy"},
        },
    }
)


def test_outline_golden() -> None:
    assert (
        outline(SMALL)
        == """\
demo: Demo
serves: alert_types provider; alertnames ProviderDown

look (check): Is {{ labels.provider }} down?
    [promql] Errors: sum(rate(e{p="{{ labels.provider }}"}[5m]))
    link Status: https://status.example.com
  - Down ->
    ask (question): Secondary "healthy"?
      - Yes ->
        fail-over (action): Fail over
            do: run hook failover
            confirm: This will run hook failover now. Continue? A person must confirm this; \
it never runs automatically.
          - Run hook failover ->
            end (done): Traffic is healthy
      - Not sure -> (see look)
  - Up -> (see end)
"""
    )


def test_outline_lists_unreachable_and_missing_nodes() -> None:
    rb = runbook({"a": check("ghost"), "orphan": done()})
    assert outline(rb).endswith(
        "a (check): Look\n  - ghost -> (missing ghost)\n\nunreachable:\norphan (done): Done\n"
    )


def test_mermaid_golden() -> None:
    assert (
        mermaid(SMALL)
        == """\
flowchart TD
    n_look["Is #123;#123; labels.provider #125;#125; down?"]
    n_ask{"Secondary #quot;healthy#quot;?"}
    n_fail_over[["Fail over"]]
    n_end(["Traffic is healthy"])
    n_look -->|"Down"| n_ask
    n_look -->|"Up"| n_end
    n_ask -->|"Yes"| n_fail_over
    n_ask -->|"Not sure"| n_look
    n_fail_over -->|"Run hook failover"| n_end
"""
    )


def test_mermaid_ids_are_sanitised_and_unique() -> None:
    rb = runbook(
        {"a": check("a-b", "a_b", "end"), "a-b": check("end"), "a_b": check("end"), "end": done()}
    )
    text = mermaid(rb)
    assert "    n_a_b[" in text and "    n_a_b_2[" in text
    assert "    n_end([" in text  # `end` alone would close a Mermaid subgraph


# -- the starter runbooks --------------------------------------------------------------------


@pytest.fixture(scope="module")
def starters() -> list[Runbook]:
    runbooks, problems = load_runbooks(RUNBOOKS_DIR)
    assert problems == []
    return runbooks


def test_all_starter_runbooks_load_and_lint_clean(starters: list[Runbook]) -> None:
    assert {rb.id for rb in starters} >= STARTERS
    assert lint_runbooks(starters, known_hooks=HOOKS, known_levels=3) == []


def test_starter_runbooks_cover_every_alert_type(starters: list[Runbook]) -> None:
    served = {t for rb in starters for t in rb.serves.alert_types}
    assert served >= {"provider", "infra", "model", "quality", "tool", "cost"}


def hooks_of(rb: Runbook) -> dict[str, bool]:
    return {
        node.do.remediate.hook: node.do.remediate.never_auto
        for node in rb.nodes.values()
        if isinstance(node, ActionNode) and isinstance(node.do, Remediate)
    }


def test_rolling_back_a_prompt_is_never_automatic(starters: list[Runbook]) -> None:
    uses = [hooks_of(rb)["rollback-prompt"] for rb in starters if "rollback-prompt" in hooks_of(rb)]
    assert uses and all(uses)
    every_hook = set().union(*(hooks_of(rb) for rb in starters))
    assert every_hook == HOOKS


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"alertname": "HealthcareFTLP95High", "alert_type": "model"}, "latency-p95-slo"),
        ({"alertname": "ToolCallFailures", "alert_type": "tool"}, "tool-failure"),
        ({"alertname": "LLMCostSpike", "alert_type": "cost"}, "cost-anomaly"),
        ({"alertname": "VectorDBPodCrashLooping", "alert_type": "infra"}, "pod-crashloop"),
        ({"alertname": "Anything", "alert_type": "provider"}, "llm-provider-down"),
        ({"alertname": "Anything", "alert_type": "quality"}, "quality-drift"),
        ({"alertname": "EvalPassRateDrop", "alert_type": "model"}, "eval-regression"),
        ({"alertname": "ErrorRateSpike"}, "error-rate-spike"),
    ],
)
def test_the_example_alerts_find_their_runbook(
    starters: list[Runbook], labels: dict[str, str], expected: str
) -> None:
    found = runbook_for(starters, labels, None)
    assert found is not None and found.id == expected


def test_a_provider_outage_walk_fails_over_and_resolves(starters: list[Runbook]) -> None:
    rb = next(rb for rb in starters if rb.id == "llm-provider-down")
    walk = start(rb)
    for node_id, index in [
        ("scope", 0),
        ("secondary", 0),
        ("failover", 0),
        ("watch", 0),
        ("resolve", 0),
    ]:
        walk = choose(rb, walk, node_id, index, "U1")
    assert is_finished(rb, walk)
    assert [step.answer for step in walk.path][2] == "Run hook failover-llm-provider"


def test_every_starter_outline_and_flowchart_renders(starters: list[Runbook]) -> None:
    heading = re.compile(r"\s*([\w.-]+) \((?:check|question|action|done)\): ")
    for rb in starters:
        shown = [heading.match(line) for line in outline(rb).splitlines()]
        assert sorted(found[1] for found in shown if found) == sorted(rb.nodes)  # each once
        chart = mermaid(rb)
        assert chart.startswith("flowchart TD\n")
        assert chart.count(" -->") == sum(len(successors(n)) for n in rb.nodes.values())
