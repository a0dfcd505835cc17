"""SQL tables. Times are UTC-aware; JSON columns hold label maps and rationale."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint, false
from sqlmodel import Field, SQLModel


def _json(nullable: bool = False) -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=nullable))


class AlertRow(SQLModel, table=True):
    """One alert identity (source, fingerprint, startsAt); redeliveries update it in place."""

    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint("source", "fingerprint", "starts_at", name="uq_alert_identity"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    fingerprint: str = Field(max_length=128)
    starts_at: datetime
    status: str = Field(max_length=16)
    labels: dict[str, str] = _json()
    annotations: dict[str, str] = _json()
    ends_at: datetime | None = None
    generator_url: str = Field(default="", max_length=4096)
    first_seen: datetime
    last_seen: datetime
    deliveries: int = 1
    silenced_by: int | None = None  # the silence holding it back, until it ends
    # The values as the sender sent them, before redaction; only with redact.store_original.
    # Never rendered: nothing that builds a message, page or webhook reads this column.
    original: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class IncidentRow(SQLModel, table=True):
    """An incident: one Alertmanager group (route node + group labels) while it is open."""

    __tablename__ = "incident"

    id: int | None = Field(default=None, primary_key=True)
    # Equal to group_key while open, NULL after: a unique column that allows one open incident
    # per group on SQLite and PostgreSQL alike (NULLs never collide).
    open_key: str | None = Field(default=None, unique=True, max_length=1024)
    group_key: str = Field(index=True, max_length=1024)
    route_key: str = Field(max_length=512)
    team: str = Field(max_length=128)
    channel: str = Field(max_length=128)
    action: str = Field(max_length=16)
    severity: str = Field(default="", max_length=32)
    title: str = Field(max_length=512)
    alert_type: str = Field(default="", max_length=64)
    service: str = Field(default="", max_length=128)
    runbook: str | None = Field(default=None, max_length=128)
    status: str = Field(max_length=16, index=True)
    opened_at: datetime
    acked_at: datetime | None = None
    acked_by: str | None = Field(default=None, max_length=32)
    resolved_at: datetime | None = None
    resolved_by: str | None = Field(default=None, max_length=32)
    rationale: dict[str, Any] = _json()
    truncated_at_source: int = 0
    started_at: datetime | None = None  # earliest startsAt: page_after counts from here
    policy: str | None = Field(default=None, max_length=128)
    escalation_step: int = 0  # steps of the flattened policy already notified
    next_step_at: datetime | None = Field(default=None, index=True)
    next_step_kind: str | None = Field(default=None, max_length=16)  # page|escalate|ack_timeout
    first_paged_at: datetime | None = None
    unowned: bool = False
    humans_mode: bool = False
    humans_by: str | None = Field(default=None, max_length=32)
    humans_at: datetime | None = None
    handoff_error: str | None = Field(default=None, max_length=512)
    auto_resolved_in_hold: bool = False
    reopened_at: datetime | None = None
    # Confidence (0011): a triage waiting for Confirm/Dismiss until triage_due_at, and a
    # high-confidence automatic runbook waiting out its cancel window until auto_due_at.
    triage_state: str | None = Field(default=None, max_length=16)  # pending|confirmed|dismissed|…
    triage_due_at: datetime | None = Field(default=None, index=True)
    auto_state: str | None = Field(default=None, max_length=16)  # pending|cancelled|started
    auto_due_at: datetime | None = Field(default=None, index=True)
    # Context at open: the services whose changes the message lists (the incident's and its
    # dependencies') and the window; see bot/services/context_facts.py.
    context: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    tier: str | None = Field(default=None, max_length=64)  # the support tier that applied
    # A tier that notified outside its hours pages at this time if the incident is still open.
    tier_page_at: datetime | None = Field(default=None, index=True)
    # Bumped by every state transition: the compare-and-set that decides concurrent clicks
    # (on two replicas) is UPDATE ... WHERE id = ? AND version = <the version read>.
    version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class IncidentAlert(SQLModel, table=True):
    """Alerts and incidents link many-to-many: with `continue`, one alert joins several."""

    __tablename__ = "incident_alert"

    incident_id: int = Field(foreign_key="incident.id", primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", primary_key=True)


class TimelineEvent(SQLModel, table=True):
    """The contemporaneous record: every transition, click and delivery outcome."""

    __tablename__ = "timeline_event"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    at: datetime
    kind: str = Field(max_length=32)
    actor: str | None = Field(default=None, max_length=64)
    text: str = Field(default="", max_length=4000)
    data: dict[str, Any] = _json()
    # True: `text` is Slack mrkdwn made by the bot (its own mentions live, everything from a
    # person or an alert escaped by bot.domain.text). False: plain text, escaped when shown.
    mrkdwn: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class OutboxIntent(SQLModel, table=True):
    """A Slack call (or webhook) to make, durable until the far side said ok."""

    __tablename__ = "outbox_intent"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    lane: str = Field(max_length=128, index=True)
    # Set while pending so a second sync of the same incident coalesces into this one.
    pending_key: str | None = Field(default=None, unique=True, max_length=256)
    payload: dict[str, Any] = _json()
    state: str = Field(default="pending", max_length=16, index=True)
    due_at: datetime = Field(index=True)
    attempts: int = 0
    maybe_sent: bool = False
    last_error: str | None = Field(default=None, max_length=512)
    claimed_until: datetime | None = None
    created_at: datetime
    done_at: datetime | None = None


#: SlackMessage.kind of an incident's own message in its team channel (threads hang off it).
ALERT_MESSAGE = "alert"


class SlackMessage(SQLModel, table=True):
    """Every message the bot posted, so it can be found and updated later."""

    __tablename__ = "slack_message"
    __table_args__ = (
        UniqueConstraint("incident_id", "kind", "recipient", name="uq_slack_message_role"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    kind: str = Field(max_length=32)
    recipient: str = Field(default="", max_length=64)
    channel_id: str = Field(max_length=32)
    ts: str = Field(max_length=32)
    thread_ts: str | None = Field(default=None, max_length=32)
    intent_id: int | None = None
    posted_at: datetime


class ProcessedEvent(SQLModel, table=True):
    """Slack event ids already handled: Slack retries deliveries it thinks failed."""

    __tablename__ = "processed_event"

    key: str = Field(primary_key=True, max_length=128)
    at: datetime


class PageRow(SQLModel, table=True):
    """Who was notified for an incident, at which step, and what stood in the way.

    `outcome` is sent, skipped (nobody to reach: a role nobody holds, an empty user group) or
    failed (a pager or DM that did not go out, or a DM that cannot wake anyone); `error` says
    why, so nobody believes a page went out that did not.
    """

    __tablename__ = "page"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    step: int
    level: int
    target_kind: str = Field(max_length=16)  # user|usergroup|channel|pager
    target: str = Field(max_length=128)
    at: datetime
    dnd_until: datetime | None = None
    error: str | None = Field(default=None, max_length=512)
    outcome: str = Field(default="sent", max_length=16,
                         sa_column_kwargs={"server_default": "sent"})


class OverrideRow(SQLModel, table=True):
    """Someone takes (part of) a shift: it wins over the rotation while it lasts."""

    __tablename__ = "schedule_override"

    id: int | None = Field(default=None, primary_key=True)
    schedule: str = Field(max_length=128, index=True)
    user: str = Field(max_length=32)
    role: str = Field(default="primary", max_length=16)
    start: datetime
    end: datetime
    created_by: str | None = Field(default=None, max_length=32)
    created_at: datetime


class HeartbeatRow(SQLModel, table=True):
    """The dead-man's switch: when the always-firing alert was last seen (None: never, since
    the bot started watching for it at `watching_since`)."""

    __tablename__ = "heartbeat"

    name: str = Field(primary_key=True, max_length=128)
    last_seen: datetime | None = None
    watching_since: datetime | None = None
    missing_since: datetime | None = None  # set while the owners have been paged


class RunbookRun(SQLModel, table=True):
    """A walk through a runbook for an incident; `seq` counts transitions (compare-and-set)."""

    __tablename__ = "runbook_run"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    runbook_id: str = Field(max_length=128)
    current: str = Field(max_length=128)
    path: list[dict[str, str]] = Field(default_factory=list,
                                       sa_column=Column(JSON, nullable=False))
    finished: bool = False
    seq: int = 0
    started_by: str = Field(max_length=32)
    started_at: datetime
    updated_at: datetime


class DigestItemRow(SQLModel, table=True):
    """A cost alert held for the hourly digest: one per alert and digest route, not per repeat.

    `fired_at` is when the bot first received it, so an item always lands in a window not yet
    sent; repeats refresh the readings (value, baseline, ratio) and `still_firing`.
    """

    __tablename__ = "digest_item"
    __table_args__ = (
        UniqueConstraint("alert_id", "route_key", name="uq_digest_item_alert_route"),
    )

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    route_key: str = Field(max_length=512)
    team: str = Field(max_length=128, index=True)
    service: str = Field(default="", max_length=128)
    model: str = Field(default="", max_length=128)
    alertname: str = Field(default="", max_length=256)
    value: float | None = None
    baseline: float | None = None
    ratio: float | None = None
    fired_at: datetime = Field(index=True)
    last_seen: datetime
    still_firing: bool = True
    flagged: bool = False  # no readable ratio: digested, and shown as such
    reason: str = Field(default="", max_length=256)  # how the ratio was read, or why not
    paged_at: datetime | None = None  # its ratio reached the route's line: paged at once


class DigestRun(SQLModel, table=True):
    """A digest window claimed for sending: the unique key is what makes it go out once."""

    __tablename__ = "digest_run"
    __table_args__ = (
        UniqueConstraint("kind", "team", "window_start", name="uq_digest_run_window"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # cost | noise
    team: str = Field(max_length=128)  # a team, or "*" for one review of every team
    window_start: datetime
    window_end: datetime
    sent_at: datetime  # when the message was queued (the intent's created_at)
    intent_id: int | None = None


class HomeViewer(SQLModel, table=True):
    """Someone who opened the bot's App Home: their Home is re-published when their incidents
    change (nobody else's is, so a busy team does not publish views no one reads)."""

    __tablename__ = "home_viewer"

    user_id: str = Field(primary_key=True, max_length=32)
    opened_at: datetime
    teams: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class InstallInfo(SQLModel, table=True):
    """One row: when this install first started. No noise review covers a week before it."""

    __tablename__ = "install_info"

    id: int = Field(default=1, primary_key=True)
    first_started_at: datetime


class SilenceRow(SQLModel, table=True):
    """Alerts matching these matchers are stored and counted but not posted until it ends."""

    __tablename__ = "silence"

    id: int | None = Field(default=None, primary_key=True)
    matchers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    starts_at: datetime
    ends_at: datetime = Field(index=True)
    comment: str = Field(default="", max_length=1000)
    created_by: str = Field(max_length=32)
    team: str | None = Field(default=None, max_length=128)  # None: made by an admin, unscoped
    suppressed: int = 0
    released_at: datetime | None = None  # held alerts were routed after it ended


class MaintenanceRow(SQLModel, table=True):
    """While it lasts, a team's pages become notifications without mentions."""

    __tablename__ = "maintenance"

    id: int | None = Field(default=None, primary_key=True)
    team: str = Field(max_length=128, index=True)
    starts_at: datetime
    ends_at: datetime = Field(index=True)
    comment: str = Field(default="", max_length=1000)
    created_by: str = Field(max_length=32)
    released_at: datetime | None = None


class ActionItemRow(SQLModel, table=True):
    """A postmortem follow-up with an owner and maybe a due date."""

    __tablename__ = "action_item"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    owner: str = Field(max_length=32)
    text: str = Field(max_length=2000)
    due: date | None = None
    done_at: datetime | None = None
    created_by: str = Field(max_length=32)
    created_at: datetime


class AuditRow(SQLModel, table=True):
    """Append-only: every state change and every refusal, who, what, on what, before and after.

    Nothing in the bot updates or deletes a row except the retention job (`audit.retention`).
    """

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(max_length=64, index=True)  # a user id, or "system"/"cli"
    action: str = Field(max_length=64)
    outcome: str = Field(default="done", max_length=16)  # done | refused
    team: str | None = Field(default=None, max_length=128, index=True)
    target: str = Field(default="", max_length=256)  # "incident:42", "silence:3", "team:ai"
    incident_id: int | None = Field(default=None, index=True)
    before: dict[str, Any] = _json()
    after: dict[str, Any] = _json()
    detail: str = Field(default="", max_length=2000)


class FeedbackRow(SQLModel, table=True):
    """A person's verdict on how an incident was handled: one per person and incident, changeable.

    Written by the feedback row's buttons and by triage's Confirm (real) and Dismiss (noise);
    read by the noise review, learned reliability, context rules (`recent_noise`) and replay.
    """

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("incident_id", "user_id", name="uq_feedback_person"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    user_id: str = Field(max_length=32)
    verdict: str = Field(max_length=32)  # a bot.domain.feedback.Verdict value
    rule: str = Field(default="", max_length=256, index=True)  # the alert rule (alertname)
    route_key: str = Field(default="", max_length=512)
    team: str = Field(default="", max_length=128)
    source: str = Field(default="button", max_length=16)  # button | triage
    at: datetime = Field(index=True)


class StormRow(SQLModel, table=True):
    """A channel in storm mode: one live summary instead of one post per incident.

    `active_channel` equals `channel` while the storm lasts and is NULL after: a unique column
    that lets only one storm per channel be active, so two workers (or replicas) racing to
    enter storm mode make one storm (the loser's conditional insert inserts nothing).
    """

    __tablename__ = "storm"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=128, index=True)
    active_channel: str | None = Field(default=None, unique=True, max_length=128)
    started_at: datetime
    last_joined_at: datetime
    ended_at: datetime | None = None
    summary_channel_id: str | None = Field(default=None, max_length=32)
    summary_ts: str | None = Field(default=None, max_length=32)
    summary_updated_at: datetime | None = None  # last post or edit: edits are spaced
    update_every_s: float = 5.0  # storm.update_every when the storm began
    # Final figures written when the storm ends: incidents, resolved on their own, still open.
    counts: dict[str, Any] = _json()


class StormMember(SQLModel, table=True):
    """An incident folded into a storm; `listed` once a thread reply of the summary names it."""

    __tablename__ = "storm_member"

    storm_id: int = Field(foreign_key="storm.id", primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", primary_key=True, index=True)
    joined_at: datetime
    listed: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class ChangeRow(SQLModel, table=True):
    """Something that changed in a service (a deploy, a prompt, a model, a flag...), by whom.

    Written by POST /changes, the GitHub deployment_status webhook and `/oncall change`; read
    by the incident message (Recent changes), context rules (`after_change`), the journal and
    the postmortem.
    """

    __tablename__ = "change_event"

    id: int | None = Field(default=None, primary_key=True)
    service: str = Field(max_length=128, index=True)
    kind: str = Field(max_length=32)
    version: str = Field(default="", max_length=256)
    author: str = Field(default="", max_length=128)
    url: str = Field(default="", max_length=2048)
    summary: str = Field(default="", max_length=1000)
    source: str = Field(default="api", max_length=16)  # api | github | slack
    at: datetime = Field(index=True)
    received_at: datetime


class RateBudget(SQLModel, table=True):
    """A token bucket of a Slack rate-limit scope shared by every replica (workspace-wide
    method budgets such as chat.update or dnd.info): tokens left as of `updated` (epoch s)."""

    __tablename__ = "rate_budget"

    key: str = Field(primary_key=True, max_length=128)
    tokens: float
    updated: float


class ShareLink(SQLModel, table=True):
    """A read-only link to an incident's or a service's journal: only the token's hash is kept.

    `teams` bounds a service journal to the teams its sharer responds for; a link stops
    working at `expires_at` or when revoked; `views` counts the pages served.
    """

    __tablename__ = "share_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=16)  # incident | service
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    service: str | None = Field(default=None, max_length=128)
    teams: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=32)
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = Field(default=None, max_length=32)
    views: int = 0
    last_viewed_at: datetime | None = None


class StatusPublication(SQLModel, table=True):
    """An incident a person chose to publish to the status page, and what the page has seen.

    `provider_id` is the status-page incident once created; `sent_state` and `sent_update_id`
    say which state and which status update the provider last received.
    """

    __tablename__ = "status_publication"

    incident_id: int = Field(foreign_key="incident.id", primary_key=True)
    published_by: str = Field(max_length=32)
    published_at: datetime
    provider_id: str | None = Field(default=None, max_length=128)
    sent_state: str | None = Field(default=None, max_length=32)
    sent_update_id: int | None = None
