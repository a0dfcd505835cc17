"""`route test` answers, shared by the CLI (and later /oncall route test)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from bot.config import OncallConfig
from bot.domain.routing import route


def parse_label_args(args: list[str]) -> dict[str, str]:
    labels = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep or not name:
            raise ValueError(f"{arg!r}: expected LABEL=VALUE, e.g. alert_type=model")
        labels[name] = value.strip('"')
    return labels


def describe(config: OncallConfig, labels: dict[str, str]) -> dict:
    """{"matches": [...]} in Alertmanager's order, one entry per matched route."""
    return {"matches": [
        {"team": d.team, "channel": config.channel_of(d.team), "action": d.action.value,
         "route_path": d.route_path, "reasons": d.reasons}
        for d in route(config.route, labels, config.tool_owners)]}


def answer_lines(config: OncallConfig, lines: Iterable[str]) -> Iterator[str]:
    """One JSON answer per JSON line of labels; a bad line gets an error answer, in order."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            labels = json.loads(line)
            if not isinstance(labels, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
                raise ValueError("expected a JSON object of string labels")
        except ValueError as exc:
            yield json.dumps({"line": number, "error": str(exc)})
            continue
        yield json.dumps(describe(config, labels))
