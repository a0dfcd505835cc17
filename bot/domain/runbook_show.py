"""Showing runbooks: what `oncall-bot runbook show` prints (a text outline or Mermaid)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.domain.runbooks import (
    ActionNode,
    CheckNode,
    Node,
    Runbook,
    Serves,
    choices,
    confirmation,
    describe,
    summary,
)

__all__ = ["mermaid", "outline"]


def outline(runbook: Runbook) -> str:
    """An indented outline for a terminal: each node once, later mentions as `-> (see X)`."""
    lines = [f"{runbook.id}: {runbook.title}", _serves_line(runbook.serves), ""]
    seen: set[str] = set()
    _outline_node(runbook, runbook.start, "", seen, lines)
    rest = [node_id for node_id in runbook.nodes if node_id not in seen]
    if rest:
        lines += ["", "unreachable:"]
    for node_id in rest:
        if node_id not in seen:
            _outline_node(runbook, node_id, "", seen, lines)
    return "\n".join(lines) + "\n"


def _serves_line(serves: Serves) -> str:
    types = ", ".join(serves.alert_types) or "-"
    names = ", ".join(serves.alertnames) or "-"
    return f"serves: alert_types {types}; alertnames {names}"


def _outline_node(runbook: Runbook, node_id: str, pad: str, seen: set[str], out: list[str]) -> None:
    node = runbook.nodes.get(node_id)
    if node is None:
        out.append(f"{pad}(missing {node_id})")
        return
    seen.add(node_id)
    out.append(f"{pad}{node_id} ({node.kind}): {summary(node, limit=100)}")
    out.extend(f"{pad}    {line}" for line in _details(node))
    for choice in choices(node):
        target = choice.next
        if target is None:
            out.append(f"{pad}  - {choice.label} -> (end)")
        elif target in seen or target not in runbook.nodes:
            word = "see" if target in seen else "missing"
            out.append(f"{pad}  - {choice.label} -> ({word} {target})")
        else:
            out.append(f"{pad}  - {choice.label} ->")
            _outline_node(runbook, target, pad + "    ", seen, out)


def _details(node: Node) -> list[str]:
    """The lines under a node's heading: commands, links, the action's effect."""
    if isinstance(node, CheckNode):
        lines = [f"[{d.language}] {d.label}: {_one_line(d.command)}" for d in node.diagnostics]
        return lines + [f"link {link.label}: {link.url}" for link in node.links]
    if isinstance(node, ActionNode):
        return [f"do: {describe(node.do)}", f"confirm: {confirmation(node)}"]
    return []


def _one_line(text: str) -> str:
    return " ".join(text.split())


def mermaid(runbook: Runbook) -> str:
    """A Mermaid `flowchart TD`: shapes per kind, button labels on edges, safe ids."""
    ids = _mermaid_ids(runbook.nodes)
    lines = ["flowchart TD"]
    lines += [f"    {ids[node_id]}{_shape(node)}" for node_id, node in runbook.nodes.items()]
    for node_id, node in runbook.nodes.items():
        for choice in choices(node):
            if choice.next in ids:
                label = _mermaid_text(choice.label)
                lines.append(f'    {ids[node_id]} -->|"{label}"| {ids[choice.next]}')
    return "\n".join(lines) + "\n"


_SHAPES = {"check": '["{}"]', "question": '{{"{}"}}', "action": '[["{}"]]', "done": '(["{}"])'}


def _shape(node: Node) -> str:
    return _SHAPES[node.kind].format(_mermaid_text(summary(node)))


def _mermaid_ids(node_ids: Iterable[str]) -> dict[str, str]:
    """Mermaid ids from node ids: word characters only, prefixed (`end` breaks a flowchart)."""
    ids: dict[str, str] = {}
    for node_id in node_ids:
        base = "n_" + re.sub(r"\W", "_", node_id, flags=re.ASCII)
        candidate, suffix = base, 2
        while candidate in ids.values():
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        ids[node_id] = candidate
    return ids


_MERMAID_ENTITIES = {
    "#": "#35;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "|": "#124;",
    "{": "#123;",
    "}": "#125;",
    "`": "#96;",
}


def _mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label: entity codes for the characters it parses."""
    return "".join(_MERMAID_ENTITIES.get(char, char) for char in _one_line(text))
