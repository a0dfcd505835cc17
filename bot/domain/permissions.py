"""Who may act on a team's incidents."""

from __future__ import annotations

from collections.abc import Iterable


def may_act(
    user_id: str,
    *,
    responders: Iterable[str],
    admins: Iterable[str],
    group_members: Iterable[str] = (),
) -> bool:
    """A team with no responders listed lets anyone in its channel act; otherwise only its own.

    `responders` may hold user ids (U...) and user-group ids (S...); the caller resolves groups
    into `group_members`.
    """
    responders = list(responders)
    if user_id in admins:
        return True
    if not responders:
        return True
    return user_id in responders or user_id in group_members
