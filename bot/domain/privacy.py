"""Per-team privacy: labels a team hides everywhere, and who may see a private team's incidents."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from bot.domain.alerts import alert_title


def visible(values: Mapping[str, str], hidden: Collection[str]) -> dict[str, str]:
    """The labels (or annotations) a team lets its renderings show."""
    return {key: value for key, value in values.items() if key not in hidden}


def visible_reasons(reasons: list[str], hidden: Collection[str]) -> list[str]:
    """Routing reasons (or route path steps) with those that name a hidden label replaced:
    `matched customer="acme"` would show the value."""
    if not hidden:
        return reasons
    names = re.compile(r"\b(?:" + "|".join(re.escape(h) for h in sorted(hidden)) + r")\b")
    return ["(hidden label)" if names.search(reason) else reason for reason in reasons]


def visible_rationale(rationale: Mapping[str, object], hidden: Collection[str]) -> dict:
    """A routing rationale as stored on a timeline row (reasons, route_path, matched,
    group_labels): steps that name a hidden label replaced, hidden group labels left out."""
    if not hidden:
        return dict(rationale)
    shown = dict(rationale)
    for key in ("reasons", "route_path", "matched"):
        if isinstance(shown.get(key), list):
            shown[key] = visible_reasons(shown[key], hidden)
    if isinstance(shown.get("group_labels"), dict):
        shown["group_labels"] = visible(shown["group_labels"], hidden)
    return shown


def visible_title(title: str, labels: Mapping[str, str], annotations: Mapping[str, str],
                  hidden: Collection[str]) -> str:
    """An incident's title without hidden parts (it is built from alertname and summary)."""
    if not {"alertname", "summary"} & set(hidden):
        return title
    return alert_title(visible(labels, hidden), visible(annotations, hidden))


def may_see(user: str, *, private: bool, responders: Collection[str],
            admins: Collection[str] = (), groups: Collection[str] = ()) -> bool:
    """Anyone sees a public team's incidents; a private team's only its responders (users, or
    members of its responder user groups: `groups` are the user's) and admins."""
    if not private or user in admins:
        return True
    return user in responders or bool(set(responders) & set(groups))
