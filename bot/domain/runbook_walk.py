"""Walking a runbook one step at a time, and picking the runbook an alert offers.

A walk is the pure state of one responder group going through a runbook; services
persist it, Slack renders it. The schema lives in `runbooks`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from bot.domain.errors import NothingToDo
from bot.domain.runbooks import DoneNode, Node, Runbook, RunbookError, StaleStep, choices

__all__ = [
    "Step",
    "Walk",
    "back",
    "choose",
    "current_node",
    "find_runbook",
    "is_finished",
    "restart",
    "runbook_for",
    "start",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


# -- walking -----------------------------------------------------------------------------


class Step(_Model):
    """One answered step: which node, which button, who clicked."""

    node: str
    answer: str
    actor: str


class Walk(_Model):
    """Where a walk through one runbook stands; `finished` after a final action is confirmed."""

    runbook: str
    current: str
    path: tuple[Step, ...] = ()
    finished: bool = False


def start(runbook: Runbook) -> Walk:
    return Walk(runbook=runbook.id, current=runbook.start)


def current_node(runbook: Runbook, walk: Walk) -> Node:
    """The node the walk stands on; stale when the runbook changed under the walk."""
    _same_runbook(runbook, walk)
    node = runbook.nodes.get(walk.current)
    if node is None:
        raise StaleStep(
            f"Runbook {runbook.id} no longer has step {walk.current!r}; restart the runbook."
        )
    return node


def choose(runbook: Runbook, walk: Walk, node_id: str, option_index: int, actor: str) -> Walk:
    """Apply one click; a click on any step but the current one is stale and changes nothing."""
    if walk.finished or node_id != walk.current:
        raise StaleStep("Someone already answered this step; the runbook has moved on.")
    options = choices(current_node(runbook, walk))
    if not 0 <= option_index < len(options):
        raise StaleStep("This button is out of date; the runbook changed. Use the newest message.")
    choice = options[option_index]
    if choice.next is not None and choice.next not in runbook.nodes:
        raise RunbookError(f"Runbook {runbook.id}: {choice.label!r} leads to unknown step.")
    step = Step(node=node_id, answer=choice.label, actor=actor)
    return walk.model_copy(
        update={
            "current": choice.next or walk.current,
            "path": (*walk.path, step),
            "finished": choice.next is None,
        }
    )


def back(walk: Walk, *, node_id: str | None = None) -> Walk:
    """Step back one answer (an action already run is not undone, only the cursor moves)."""
    if node_id is not None and node_id != walk.current:
        raise StaleStep("Someone already moved this runbook; use the newest message.")
    if not walk.path:
        raise NothingToDo("This is the first step; there is nothing to go back to.")
    last = walk.path[-1]
    return walk.model_copy(update={"current": last.node, "path": walk.path[:-1], "finished": False})


def restart(runbook: Runbook, walk: Walk) -> Walk:
    """Start over from the first step (the timeline keeps what was done)."""
    _same_runbook(runbook, walk)
    return start(runbook)


def is_finished(runbook: Runbook, walk: Walk) -> bool:
    """True once a done node is reached or a final action was confirmed."""
    return walk.finished or isinstance(runbook.nodes.get(walk.current), DoneNode)


def _same_runbook(runbook: Runbook, walk: Walk) -> None:
    if walk.runbook != runbook.id:
        raise RunbookError(f"This walk belongs to runbook {walk.runbook}, not {runbook.id}.")


# -- linking -----------------------------------------------------------------------------


def find_runbook(runbooks: Iterable[Runbook], runbook_id: str | None) -> Runbook | None:
    return next((runbook for runbook in runbooks if runbook.id == runbook_id), None)


def runbook_for(
    runbooks: Sequence[Runbook], labels: Mapping[str, str], route_runbook: str | None
) -> Runbook | None:
    """The route's runbook, else the alert's `runbook` label, else one serving it by name/type.

    An alertname match beats an alert_type match: it is the more specific claim.
    """
    chosen = find_runbook(runbooks, route_runbook) or find_runbook(runbooks, labels.get("runbook"))
    if chosen is not None:
        return chosen
    alertname, alert_type = labels.get("alertname"), labels.get("alert_type")
    by_name = (r for r in runbooks if alertname and alertname in r.serves.alertnames)
    by_type = (r for r in runbooks if alert_type and alert_type in r.serves.alert_types)
    return next(by_name, None) or next(by_type, None)
