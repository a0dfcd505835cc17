"""Checking runbooks: what `oncall-bot runbook lint` and `check` print.

Every problem names its file and, when it has one, its node, so a runbook author can fix
it at 3 p.m. instead of finding out at 3 a.m. Errors make a runbook unsafe or unusable;
warnings are worth fixing but do not stop it from being offered. Reading the files lives
in `runbook_loader` (its problems are `LintProblem`s too); the views in `runbook_show`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bot.domain.runbooks import (
    SLACK_BUTTON_TEXT_MAX,
    ActionNode,
    CheckNode,
    DoneNode,
    Escalate,
    EscalateTo,
    Node,
    Option,
    QuestionNode,
    Remediate,
    Runbook,
    choices,
    confirmation,
    is_terminal,
    successors,
)
from bot.domain.templating import template_problems

__all__ = [
    "Finding",
    "LintProblem",
    "as_problems",
    "graph",
    "lint_runbook",
    "lint_runbooks",
    "reachable",
    "trapped_cycles",
]

Severity = Literal["error", "warning"]
MAX_ANSWERS = 5
MAX_OPTIONS = 25
SECTION_TEXT_MAX = 3000
CONFIRM_TEXT_MAX = 300
HEADER_TEXT_MAX = 150
_WARNINGS = frozenset(
    {"unreachable", "template", "promql-quoting", "too-long", "duplicate-label", "file-name"}
)
_LENGTH_LIMITS = {"title": HEADER_TEXT_MAX, "confirm": CONFIRM_TEXT_MAX}


class LintProblem(BaseModel):
    """One problem: where (file, node), what, and whether it blocks (error) or not (warning)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    node: str | None = None
    message: str
    severity: Severity = "error"
    code: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.node}" if self.node else self.file
        return f"{where}: {self.severity}: {self.message}"


Finding = tuple[str | None, str, str]  # (node, code, message)


def as_problems(file: str, findings: Iterable[Finding]) -> list[LintProblem]:
    """Findings of one file as problems; the code decides error or warning."""
    return [
        LintProblem(
            file=file,
            node=node,
            message=message,
            severity="warning" if code in _WARNINGS else "error",
            code=code,
        )
        for node, code, message in findings
    ]


# -- linting -----------------------------------------------------------------------------


def lint_runbooks(
    runbooks: Sequence[Runbook],
    *,
    known_hooks: set[str] | None = None,
    known_levels: int | None = None,
) -> list[LintProblem]:
    """Check every runbook; `known_*` None skips the checks that need the config."""
    problems = _duplicate_ids(runbooks)
    for runbook in runbooks:
        problems += lint_runbook(runbook, known_hooks=known_hooks, known_levels=known_levels)
    return problems


def lint_runbook(
    runbook: Runbook,
    *,
    known_hooks: set[str] | None = None,
    known_levels: int | None = None,
) -> list[LintProblem]:
    """Check one runbook on its own (duplicate ids need `lint_runbooks`)."""
    findings = [*_runbook_findings(runbook), *_graph_findings(runbook)]
    for node_id, node in runbook.nodes.items():
        findings += _node_findings(node_id, node, runbook, known_hooks, known_levels)
    return as_problems(_file(runbook), findings)


def _file(runbook: Runbook) -> str:
    return runbook.file or f"<runbook {runbook.id}>"


def _duplicate_ids(runbooks: Sequence[Runbook]) -> list[LintProblem]:
    first: dict[str, Runbook] = {}
    problems: list[LintProblem] = []
    for runbook in runbooks:
        if runbook.id in first:
            message = f"runbook id {runbook.id!r} is already used by {_file(first[runbook.id])}"
            problems += as_problems(_file(runbook), [(None, "duplicate-id", message)])
        first.setdefault(runbook.id, runbook)
    return problems


def _runbook_findings(runbook: Runbook) -> Iterator[Finding]:
    if not runbook.serves.alert_types and not runbook.serves.alertnames:
        yield None, "serves-nothing", "serves no alert_types or alertnames: no alert offers it"
    if runbook.start not in runbook.nodes:
        known = ", ".join(runbook.nodes)
        yield None, "unknown-start", f"start {runbook.start!r} is not a node (nodes: {known})"
    if runbook.file and Path(runbook.file).stem != runbook.id:
        message = f"file name differs from id {runbook.id!r}: name the file {runbook.id}.yaml"
        yield None, "file-name", message


def _graph_findings(runbook: Runbook) -> Iterator[Finding]:
    if runbook.start in runbook.nodes:
        seen = reachable(runbook)
        for node_id in runbook.nodes:
            if node_id not in seen:
                yield node_id, "unreachable", f"not reachable from start {runbook.start!r}"
    for cycle in trapped_cycles(runbook):
        loop = " -> ".join([*cycle, cycle[0]])
        message = f"cycle with no way out: {loop} never reaches a done node or a final action"
        yield cycle[0], "cycle-without-exit", message


def _node_findings(
    node_id: str,
    node: Node,
    runbook: Runbook,
    known_hooks: set[str] | None,
    known_levels: int | None,
) -> list[Finding]:
    found = [
        *_reference_findings(node, runbook),
        *_choice_findings(node),
        *_action_findings(node, known_hooks, known_levels),
        *_template_findings(node),
        *_length_findings(node),
    ]
    return [(node_id, code, message) for code, message in found]


def _reference_findings(node: Node, runbook: Runbook) -> Iterator[tuple[str, str]]:
    for choice in choices(node):
        if choice.next is not None and choice.next not in runbook.nodes:
            yield "unknown-node", f"{choice.label!r} leads to {choice.next!r}, which is not a node"


def _option_lists(node: Node) -> list[tuple[str, list[Option], int]]:
    if isinstance(node, CheckNode):
        return [("options", node.options, MAX_OPTIONS)]
    if isinstance(node, QuestionNode):
        return [("answers", node.answers, MAX_ANSWERS)]
    return []


def _choice_findings(node: Node) -> Iterator[tuple[str, str]]:
    """Slack's limits on buttons: 75 characters of text; our 5 answers, its 25 per block."""
    for field, options, most in _option_lists(node):
        if len(options) > most:
            yield "too-many-choices", f"{len(options)} {field}; Slack shows at most {most}"
        labels = [option.label for option in options]
        for index, label in enumerate(labels):
            if len(label) > SLACK_BUTTON_TEXT_MAX:
                yield (
                    "label-too-long",
                    (
                        f"{field}[{index}] label is {len(label)} characters; "
                        f"Slack buttons show at most {SLACK_BUTTON_TEXT_MAX}"
                    ),
                )
            if label in labels[:index]:
                yield "duplicate-label", f"{field}[{index}] repeats the label {label!r}"


def _action_findings(
    node: Node, known_hooks: set[str] | None, known_levels: int | None
) -> Iterator[tuple[str, str]]:
    if not isinstance(node, ActionNode):
        return
    match node.do:
        case Remediate(remediate=remediate) if known_hooks is not None:
            if remediate.hook not in known_hooks:
                known = ", ".join(sorted(known_hooks)) or "none"
                yield "unknown-hook", f"hook {remediate.hook!r} is not configured (hooks: {known})"
        case Escalate(escalate=EscalateTo(level=int() as level)) if known_levels is not None:
            if level > known_levels:
                yield (
                    "unknown-level",
                    (
                        f"escalation level {level} does not exist "
                        f"(the escalation policy has {known_levels} levels)"
                    ),
                )


# -- templates ---------------------------------------------------------------------------


def _templates(node: Node) -> Iterator[tuple[str, str, str]]:
    """(field, template, where it lands): text, a code language, or a url."""
    match node:
        case CheckNode():
            yield "text", node.text, "text"
            for index, diagnostic in enumerate(node.diagnostics):
                where = f"diagnostics[{index}]"
                yield f"{where}.label", diagnostic.label, "text"
                yield f"{where}.command", diagnostic.command, diagnostic.language
            for index, link in enumerate(node.links):
                yield f"links[{index}].url", link.url, "url"
        case QuestionNode():
            yield "prompt", node.prompt, "text"
        case ActionNode():
            yield "text", node.text, "text"
            yield "confirm", confirmation(node), "text"
        case DoneNode():
            yield "outcome", node.outcome, "text"


def _template_findings(node: Node) -> Iterator[tuple[str, str]]:
    for field, template, lands in _templates(node):
        for code, message in template_problems(template, lands):
            yield code, f"{field}: {message}"


def _length_findings(node: Node) -> Iterator[tuple[str, str]]:
    """Texts Slack would cut: section 3,000, confirm dialog 300, header 150 characters."""
    texts = [("title", node.title or "")] + [(field, text) for field, text, _ in _templates(node)]
    for field, text in texts:
        most = _LENGTH_LIMITS.get(field, SECTION_TEXT_MAX)
        if len(text) > most:
            yield "too-long", f"{field} is {len(text)} characters; Slack shows at most {most}"


# -- graph -------------------------------------------------------------------------------


def graph(runbook: Runbook) -> dict[str, list[str]]:
    """Node id -> the known nodes it leads to (unknown references are lint's other problem)."""
    return {
        node_id: [target for target in successors(node) if target in runbook.nodes]
        for node_id, node in runbook.nodes.items()
    }


def _closure(
    edges: Mapping[str, Iterable[str]], roots: Iterable[str], avoid: Set[str] = frozenset()
) -> set[str]:
    """Every node reachable from `roots` (roots included) without passing through `avoid`."""
    seen = set(roots)
    queue = deque(seen)
    while queue:
        for target in edges.get(queue.popleft(), ()):
            if target not in seen and target not in avoid:
                seen.add(target)
                queue.append(target)
    return seen


def reachable(runbook: Runbook) -> set[str]:
    """The nodes a walk can reach from start (empty when start is not a node)."""
    if runbook.start not in runbook.nodes:
        return set()
    return _closure(graph(runbook), [runbook.start])


def _reverse(edges: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    reverse: dict[str, list[str]] = {node: [] for node in edges}
    for node, targets in edges.items():
        for target in targets:
            reverse[target].append(node)
    return reverse


def trapped_cycles(runbook: Runbook) -> list[list[str]]:
    """Strongly connected sets with a cycle from which no terminal node is reachable."""
    edges = graph(runbook)
    terminals = [node_id for node_id, node in runbook.nodes.items() if is_terminal(node)]
    can_end = _closure(_reverse(edges), terminals)
    order = {node_id: index for index, node_id in enumerate(runbook.nodes)}
    trapped = []
    for component in _components(edges):
        cyclic = len(component) > 1 or component[0] in edges[component[0]]
        if cyclic and not can_end.intersection(component):
            trapped.append(sorted(component, key=order.__getitem__))
    return sorted(trapped, key=lambda cycle: order[cycle[0]])


def _components(edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Strongly connected components (Kosaraju, iterative: no recursion limit on big graphs)."""
    reverse = _reverse(edges)
    assigned: set[str] = set()
    components = []
    for root in reversed(_postorder(edges)):
        if root not in assigned:
            component = _closure(reverse, [root], avoid=assigned)
            assigned |= component
            components.append(list(component))
    return components


def _postorder(edges: Mapping[str, Sequence[str]]) -> list[str]:
    seen: set[str] = set()
    order: list[str] = []
    for root in edges:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(edges[root]))]
        while stack:
            node, targets = stack[-1]
            target = next((t for t in targets if t not in seen), None)
            if target is None:
                stack.pop()
                order.append(node)
            else:
                seen.add(target)
                stack.append((target, iter(edges[target])))
    return order
