"""Storm mode, pure: when a channel floods, what its one summary says and lists.

A storm folds every new incident of a channel into one message. This module counts them
(by team, alertname, severity, alert_type), picks the ones to name (most severe, newest),
cuts the list of all incidents into a few long thread replies, and finds the labels every
alert of the storm shares (the matchers of **Silence this storm**). No I/O here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from bot.domain.text import escape_mrkdwn

#: Higher is worse; anything unknown ranks below info.
SEVERITY_RANK = {"critical": 5, "page": 5, "high": 4, "error": 4, "warning": 3, "medium": 3,
                 "low": 2, "info": 1, "none": 0}
#: Labels shown beside an incident's title in the thread list.
KEY_LABELS = ("alertname", "severity", "alert_type", "service", "tool_name", "model",
              "provider", "instance")
#: Labels never offered in a storm's silence: they name one alert, not the storm.
NOT_SHARED = frozenset({"instance", "pod", "fingerprint"})
OPEN = ("triggered", "acknowledged")


class StormEntry(BaseModel):
    """One incident as the storm sees it."""

    model_config = ConfigDict(frozen=True)

    incident_id: int
    title: str
    team: str
    severity: str = ""
    alert_type: str = ""
    alertname: str = ""
    labels: dict[str, str] = {}
    status: str = "triggered"
    opened_at: datetime
    resolved_by: str | None = None  # None with status resolved: it resolved on its own


class StormSummary(BaseModel):
    """What the summary message shows, computed from the storm's members."""

    storm_id: int
    channel: str
    started_at: datetime
    ended_at: datetime | None
    total: int
    open: int
    acknowledged: int
    resolved: int
    resolved_on_their_own: int
    by_team: list[tuple[str, int]]
    by_alertname: list[tuple[str, int]]
    by_severity: list[tuple[str, int]]
    by_alert_type: list[tuple[str, int]]
    most_severe: list[StormEntry]
    newest: list[StormEntry]

    @property
    def finished(self) -> bool:
        return self.ended_at is not None


def severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity.lower(), -1)


def summarize(storm_id: int, channel: str, started_at: datetime, ended_at: datetime | None,
              entries: Sequence[StormEntry], named: int = 3, top: int = 5) -> StormSummary:
    """Count the storm's incidents and pick the few to name (`named`) and the top `top` of
    each count (the rest is summed as "other" by the renderer)."""
    def count(values: Iterable[str]) -> list[tuple[str, int]]:
        counted = Counter(v or "(none)" for v in values)
        return sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))

    open_ = [e for e in entries if e.status in OPEN]
    severe = sorted(open_ or entries, key=lambda e: (-severity_rank(e.severity),
                                                     -e.opened_at.timestamp(), -e.incident_id))
    newest = sorted(entries, key=lambda e: (e.opened_at, e.incident_id), reverse=True)
    resolved = [e for e in entries if e.status == "resolved"]
    return StormSummary(
        storm_id=storm_id, channel=channel, started_at=started_at, ended_at=ended_at,
        total=len(entries), open=sum(e.status == "triggered" for e in entries),
        acknowledged=sum(e.status == "acknowledged" for e in entries),
        resolved=len(resolved),
        resolved_on_their_own=sum(e.resolved_by is None for e in resolved),
        by_team=count(e.team for e in entries)[:top],
        by_alertname=count(e.alertname for e in entries)[:top],
        by_severity=count(e.severity for e in entries)[:top],
        by_alert_type=count(e.alert_type for e in entries)[:top],
        most_severe=severe[:named], newest=newest[:named])


def list_line(entry: StormEntry) -> str:
    """`#42 title (alertname=X, severity=critical, ...)`, escaped: alert text cannot ping."""
    title = entry.title[:150]
    labels = ", ".join(f"{k}={entry.labels[k]}" for k in KEY_LABELS if entry.labels.get(k)
                       and not (k == "alertname" and title.startswith(entry.labels[k])))
    title = escape_mrkdwn(title)  # (the alertname a title starts with is not said twice)
    return f"#{entry.incident_id} {title}" + (f" ({escape_mrkdwn(labels)})" if labels else "")


def thread_chunks(entries: Sequence[StormEntry], max_chars: int) -> list[list[StormEntry]]:
    """Cut the list into replies of at most `max_chars` each (one line per incident), so a
    thousand incidents take a handful of posts, not a thousand."""
    chunks: list[list[StormEntry]] = []
    size = max_chars + 1
    for entry in entries:
        length = len(list_line(entry)) + 1
        if size + length > max_chars:
            chunks.append([])
            size = 0
        chunks[-1].append(entry)
        size += length
    return chunks


def shared_labels(label_sets: Iterable[dict[str, str]]) -> dict[str, str]:
    """The labels (name and value) that every alert of the storm carries alike."""
    shared: dict[str, str] | None = None
    for labels in label_sets:
        if shared is None:
            shared = {k: v for k, v in labels.items() if k not in NOT_SHARED}
        else:
            shared = {k: v for k, v in shared.items() if labels.get(k) == v}
        if not shared:
            return {}
    return dict(sorted((shared or {}).items()))


def silence_matchers(shared: dict[str, str], team: str | None) -> list[str]:
    """Matchers of the storm's silence: the shared labels, scoped to the team (a silence
    without a team matcher is an admin's; see bot/domain/quiet_scope.py)."""
    matchers = [f'{name}="{value}"' for name, value in shared.items() if name != "team"]
    if team:
        matchers.insert(0, f'team="{team}"')
    return matchers
