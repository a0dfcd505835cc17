"""Which team a silence is for, and whether its matchers are too broad for anyone but an admin.

A silence is scoped to a team by an equality matcher on the `team` label (`team="platform"`),
which matches the alerts routed to that team (or labelled with it).
It is broad when nothing besides that scope narrows it: every other matcher matches any value
(`=~".*"`, `=~".+"`, `!=""`, `!~""`), or there is no other matcher.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.domain.matchers import Matcher, MatchOp

TEAM_LABEL = "team"
_ANY = {".*", ".+", "(.*)", "(.+)", ".*?", ".+?", "(?s).*", "(?s).+", ""}


@dataclass(frozen=True)
class SilenceScope:
    team: str | None  # None: no single known team
    broad: bool


def silence_scope(matchers: Sequence[Matcher], teams: Iterable[str]) -> SilenceScope:
    teams = set(teams)
    scoped = [m for m in matchers if is_team_scope(m, m.value) and m.value in teams]
    team = scoped[0].value if len({m.value for m in scoped}) == 1 else None
    rest = [m for m in matchers if m not in scoped]
    return SilenceScope(team=team, broad=all(_matches_anything(m) for m in rest))


def is_team_scope(matcher: Matcher, team: str | None) -> bool:
    return matcher.name == TEAM_LABEL and matcher.op is MatchOp.EQUAL and matcher.value == team


def silences(matchers: Iterable[Matcher], team: str | None, labels: Mapping[str, str],
             routed_to: Iterable[str]) -> bool:
    """Every matcher matches; a silence's `team="X"` scope also matches an alert routed to X
    that carries no `team` label (ingest and `route test` must agree on this)."""
    scoped = team is not None and team in set(routed_to)
    return all(m.matches(labels) or (scoped and is_team_scope(m, team)) for m in matchers)


def _matches_anything(matcher: Matcher) -> bool:
    if matcher.op is MatchOp.REGEX:
        return matcher.value in _ANY - {""}
    if matcher.op in (MatchOp.NOT_EQUAL, MatchOp.NOT_REGEX):
        return matcher.value == ""
    return False
