"""Who may act on a team's incidents."""

from __future__ import annotations

from collections.abc import Iterable


def may_act(user_id: str, *, responders: Iterable[str], admins: Iterable[str],
            groups: Iterable[str] = (), also: Iterable[str] = ()) -> bool:
    """Admins always; a team's responders (users, or members of its user groups); and `also`
    (whoever is on call or was paged for this incident). A team with no responders listed
    lets anyone in its channel act.

    `groups` are the user-group ids (S...) the user belongs to, resolved by the caller.
    """
    responders = set(responders)
    if user_id in set(admins) or user_id in set(also):
        return True
    if not responders:
        return True
    return user_id in responders or bool(responders & set(groups))
