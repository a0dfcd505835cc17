"""Per-team privacy: labels a team hides everywhere, and who may see a private team's incidents."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from bot.domain.alerts import alert_title


def visible(values: Mapping[str, str], hidden: Collection[str]) -> dict[str, str]:
    """The labels (or annotations) a team lets its renderings show."""
    return {key: value for key, value in values.items() if key not in hidden}


def visible_title(title: str, labels: Mapping[str, str], annotations: Mapping[str, str],
                  hidden: Collection[str]) -> str:
    """An incident's title without hidden parts (it is built from alertname and summary)."""
    if not {"alertname", "summary"} & set(hidden):
        return title
    return alert_title(visible(labels, hidden), visible(annotations, hidden))


def may_see(user: str, *, private: bool, responders: Collection[str],
            admins: Collection[str] = ()) -> bool:
    """Anyone sees a public team's incidents; a private team's only its responders and admins.

    `responders` holds user ids already expanded from user groups (the service does that).
    """
    return not private or user in responders or user in admins
