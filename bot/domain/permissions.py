"""Who may do what: one table of actions and one decision, so every service asks the same way.

Scopes, narrowest audience last:
- OPEN: anyone in the workspace (read-only things).
- INCIDENT: the incident's team responders (users or members of its user groups), whoever is on
  call for the team now, anyone paged for the incident, and admins. A team that lists no
  responders lets anyone act on its incidents.
- TEAM: the team's responders and admins only (silences, maintenance, overrides...).
- ADMIN: admins only.

Some actions are also open to the person they concern (`OWN_OK`): a test page to oneself,
closing one's own action item, reading an incident's timeline in its own channel or thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    OPEN = "anyone"
    INCIDENT = "incident"
    TEAM = "team"
    ADMIN = "admin"


class Action(StrEnum):
    """Every action a person can take through the bot, by the name the audit trail records."""

    # on one incident
    ACK = "ack"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    NOTE = "note"
    ROUTE_TO_HUMANS = "route_to_humans"
    RESTORE_AI = "restore_ai"
    RUNBOOK = "runbook"  # start, answer a step, go back, restart; confirmed remediation hooks
    POSTMORTEM = "postmortem"
    ADD_ACTION_ITEM = "action_item"
    # on every incident of a channel's storm (bot/services/storm_actions.py)
    STORM_ACK = "storm_ack"
    STORM_RESOLVE = "storm_resolve"
    STORM_PAGE = "storm_page"
    TRIAGE = "triage"  # Confirm (page) or Dismiss (noise) a triaged incident
    CANCEL_AUTO = "cancel_auto"  # stop a high-confidence automatic runbook in its window
    FEEDBACK = "feedback"  # anyone who may see the incident (privacy.visible_to checks that)
    STATUS_UPDATE = "status_update"  # a stakeholder update: thread, status channel, timeline
    # team-wide
    SILENCE = "silence"
    UNSILENCE = "unsilence"
    MAINTENANCE = "maintenance"
    END_MAINTENANCE = "end_maintenance"
    OVERRIDE = "override"
    TEST_PAGE = "test_page"
    POST_DIGEST = "post_digest"
    CLOSE_ACTION_ITEM = "close_action_item"
    OPEN_FROM_DIGEST = "open_from_digest"
    READ_TIMELINE = "timeline"
    READ_AUDIT = "audit"
    RECORD_CHANGE = "change"
    SHARE = "share"  # a read-only journal link for people outside Slack
    UNSHARE = "unshare"
    PUBLISH = "publish"  # to the status page
    # admins
    UNSCOPED_SILENCE = "unscoped_silence"  # no team matcher, or matchers that match anything
    # read-only
    HELP = "help"
    WHO = "who"
    ROUTE_TEST = "route_test"
    LIST_SILENCES = "silences"
    LIST_ACTION_ITEMS = "actions"
    READ_JOURNAL = "journal"
    # anyone may open an incident: that a stranger can ask for help is the point
    DECLARE = "declare"


RULES: dict[Action, Scope] = {
    Action.ACK: Scope.INCIDENT, Action.RESOLVE: Scope.INCIDENT, Action.ESCALATE: Scope.INCIDENT,
    Action.NOTE: Scope.INCIDENT, Action.ROUTE_TO_HUMANS: Scope.INCIDENT,
    Action.RESTORE_AI: Scope.INCIDENT, Action.RUNBOOK: Scope.INCIDENT,
    Action.POSTMORTEM: Scope.INCIDENT, Action.ADD_ACTION_ITEM: Scope.INCIDENT,
    Action.STORM_ACK: Scope.INCIDENT, Action.STORM_RESOLVE: Scope.INCIDENT,
    Action.STORM_PAGE: Scope.INCIDENT,
    Action.TRIAGE: Scope.INCIDENT, Action.CANCEL_AUTO: Scope.INCIDENT,
    Action.FEEDBACK: Scope.OPEN,
    Action.SILENCE: Scope.TEAM, Action.UNSILENCE: Scope.TEAM, Action.MAINTENANCE: Scope.TEAM,
    Action.END_MAINTENANCE: Scope.TEAM, Action.OVERRIDE: Scope.TEAM,
    Action.TEST_PAGE: Scope.TEAM, Action.POST_DIGEST: Scope.TEAM,
    Action.CLOSE_ACTION_ITEM: Scope.TEAM, Action.OPEN_FROM_DIGEST: Scope.TEAM,
    Action.READ_TIMELINE: Scope.TEAM, Action.READ_AUDIT: Scope.TEAM,
    Action.RECORD_CHANGE: Scope.TEAM, Action.READ_JOURNAL: Scope.OPEN,
    Action.UNSCOPED_SILENCE: Scope.ADMIN,
    Action.SHARE: Scope.TEAM, Action.UNSHARE: Scope.TEAM, Action.PUBLISH: Scope.INCIDENT,
    Action.HELP: Scope.OPEN, Action.WHO: Scope.OPEN, Action.ROUTE_TEST: Scope.OPEN,
    Action.LIST_SILENCES: Scope.OPEN, Action.LIST_ACTION_ITEMS: Scope.OPEN,
    Action.STATUS_UPDATE: Scope.INCIDENT, Action.DECLARE: Scope.OPEN,
}  # fmt: skip

#: Open to the person the action concerns, whatever the scope says.
OWN_OK = frozenset({Action.TEST_PAGE, Action.CLOSE_ACTION_ITEM, Action.READ_TIMELINE})

#: What a refusal says the person tried to do.
VERBS: dict[Action, str] = {
    Action.ACK: "acknowledge", Action.RESOLVE: "resolve", Action.ESCALATE: "escalate",
    Action.NOTE: "add a note to", Action.ROUTE_TO_HUMANS: "route to humans",
    Action.RESTORE_AI: "restore the AI on", Action.RUNBOOK: "walk a runbook on",
    Action.POSTMORTEM: "draft a postmortem for", Action.ADD_ACTION_ITEM: "add an action item to",
    Action.STORM_ACK: "acknowledge every incident of", Action.STORM_RESOLVE:
    "resolve every incident of", Action.STORM_PAGE: "page the team for",
    Action.TRIAGE: "confirm or dismiss", Action.CANCEL_AUTO: "cancel the automatic runbook of",
    Action.FEEDBACK: "give feedback on",
    Action.SILENCE: "silence alerts of", Action.UNSILENCE: "end a silence of",
    Action.MAINTENANCE: "put into maintenance", Action.END_MAINTENANCE: "end maintenance of",
    Action.OVERRIDE: "override who is on call for", Action.TEST_PAGE: "test-page a member of",
    Action.POST_DIGEST: "post a digest to the channel of",
    Action.CLOSE_ACTION_ITEM: "close someone else's action item of",
    Action.OPEN_FROM_DIGEST: "open an incident from the digest of",
    Action.READ_TIMELINE: "read outside its channel the timeline of",
    Action.READ_AUDIT: "read the audit trail of",
    Action.RECORD_CHANGE: "record a change as a responder of",
    Action.READ_JOURNAL: "read the journal of",
    Action.UNSCOPED_SILENCE: "silence every alert of",
    Action.SHARE: "share outside Slack the journal of",
    Action.UNSHARE: "revoke a shared link of",
    Action.PUBLISH: "publish to the status page",
    Action.HELP: "ask for help", Action.WHO: "ask who is on call", Action.ROUTE_TEST: "test routes",
    Action.LIST_SILENCES: "list silences", Action.LIST_ACTION_ITEMS: "list action items",
    Action.STATUS_UPDATE: "post a status update on", Action.DECLARE: "declare an incident for",
}  # fmt: skip


@dataclass(frozen=True)
class Facts:
    """What is true of the actor for this one decision, gathered by the service."""

    target: str  # what it is about, for the message: "platform", "#42 (platform)"
    admin: bool = False
    responder: bool = False  # of the team (or of one of the teams) concerned
    team_has_responders: bool = True
    on_call: bool = False  # for the team, now
    paged: bool = False  # for this incident
    own: bool = False  # about themselves, or in the incident's own channel or thread


@dataclass(frozen=True)
class Allowed:
    action: Action

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True)
class Refused:
    action: Action
    reason: str
    who_may: str

    def __bool__(self) -> bool:
        return False

    @property
    def message(self) -> str:
        return f":no_entry: {self.reason} Only {self.who_may} may."


def scope_of(action: Action, admin_only: Iterable[str] = ()) -> Scope:
    """The rule, raised to ADMIN when the config says so (`permissions.admin_only`)."""
    return Scope.ADMIN if action.value in set(admin_only) else RULES[action]


def decide(action: Action, facts: Facts, admin_only: Iterable[str] = ()) -> Allowed | Refused:
    scope = scope_of(action, admin_only)
    if facts.admin or scope is Scope.OPEN:
        return Allowed(action)
    if action in OWN_OK and facts.own and scope is not Scope.ADMIN:
        return Allowed(action)
    if scope is Scope.INCIDENT and (facts.responder or facts.on_call or facts.paged
                                    or not facts.team_has_responders):
        return Allowed(action)
    if scope is Scope.TEAM and facts.responder:
        return Allowed(action)
    return Refused(action, f"You may not {VERBS[action]} {facts.target}.",
                   who_may(scope, facts.target))


def who_may(scope: Scope, target: str) -> str:
    if scope is Scope.INCIDENT:
        return (f"the responders of {target}, whoever is on call for it or was paged for the "
                "incident, and admins")
    if scope is Scope.TEAM:
        return f"the responders of {target} (teams.<team>.responders) and admins"
    return "admins (`admins:` in oncall.yaml)"


def is_member(user_id: str, groups: Iterable[str], listed: Iterable[str]) -> bool:
    """A user id listed, or one of the user groups the user is in."""
    listed = set(listed)
    return user_id in listed or bool(listed & set(groups))


def may_act(user_id: str, *, responders: Iterable[str], admins: Iterable[str],
            groups: Iterable[str] = (), also: Iterable[str] = ()) -> bool:
    """The INCIDENT rule as one predicate, kept for callers that only need yes or no."""
    responders, groups = list(responders), list(groups)
    facts = Facts(target="", admin=is_member(user_id, groups, admins),
                  responder=is_member(user_id, groups, responders),
                  team_has_responders=bool(responders), on_call=user_id in set(also))
    return bool(decide(Action.ACK, facts))
