"""The permission walk: every /oncall command, button, modal and shortcut, as four people.

A stranger, a responder of the team, whoever is on call for it (not a responder), and an
admin each try every surface over signed Slack requests; the audit table says whether the
bot refused. A new command, button id, modal or shortcut without a row in SURFACES fails
`test_every_surface_has_a_rule`, so nothing ships without one.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable

import pytest
from sqlmodel import col, func, select

from bot.domain.permissions import RULES, Action, Scope
from bot.services import followups, incidents, runbooks, shares, silences
from bot.slack.action_ids import ActionId, QuietRef
from bot.slack.digest.blocks import DigestLineRef
from bot.slack.feedback.blocks import FeedbackRef
from bot.slack.incident.modals import ModalMeta, ViewId
from bot.slack.runbook.blocks import BACK, CHOOSE_PREFIX, RESTART, StepRef
from bot.store.models import AuditRow, RunbookRun
from commands.parsing import COMMAND_NAMES
from commands.picker import PICK_FOR_TIMELINE, CopiedMessage
from commands.slack import SHORTCUT_ADD_TO_TIMELINE
from tests.appkit import BotUnderTest, eventually, payload, radio, start_bot, text_input

STRANGER, RESPONDER, ONCALL, ADMIN = "U0STRANGER", "U0RESPOND1", "U0ONCALL01", "U0ADMIN001"
ROLES = {"stranger": STRANGER, "responder": RESPONDER, "on-call": ONCALL, "admin": ADMIN}
ALLOWED = {Scope.OPEN: set(ROLES), Scope.INCIDENT: {"responder", "on-call", "admin"},
           Scope.TEAM: {"responder", "admin"}, Scope.ADMIN: {"admin"}}

CONFIG = """
teams:
  platform: {channel: "#platform-oncall", responders: [U0RESPOND1], schedule: platform,
             escalation_policy: standard}
  ai-eng: {channel: "#ai-eng-oncall", responders: [U0AIENG001]}
admins: [U0ADMIN001]
route:
  receiver: platform
  group_by: [alertname]
  routes:
    - {matchers: ['alert_type="model"'], receiver: ai-eng}
schedules:
  platform:
    time_zone: UTC
    start: "2026-11-02 09:00"
    rotation: weekly
    members: [U0ONCALL01]
escalation_policies:
  standard:
    levels:
      - {notify: [primary], after: 0m}
"""

_numbers = itertools.count(1)


@pytest.fixture(scope="module")
async def walk(tmp_path_factory) -> BotUnderTest:
    """One bot for the whole walk; each case opens its own incident."""
    running = await start_bot(f"sqlite:///{tmp_path_factory.mktemp('walk')}/oncall.db",
                              config=CONFIG)
    for user in (*ROLES.values(), "U0OWNER001", "U0COVER001"):
        running.slack.add_user(user, user.lower())
    yield running
    await running.close()
    await running.slack.stop()


async def fresh_incident(bot: BotUnderTest) -> int:
    """The channel's only open incident: the others are resolved first."""
    ctx = bot.parts.services
    for incident in await bot.incidents():
        if incident.status != "resolved":
            await incidents.resolve(ctx, incident.id, ADMIN)
    n = next(_numbers)
    body = payload("alertmanager/firing-model-ftl-p95.json")
    body["alerts"][0]["labels"].update({"alert_type": "infra", "alertname": f"Walk{n}"})
    body["alerts"][0]["fingerprint"] = f"{n:016x}"
    await bot.post_alerts(body)
    await bot.drain()
    return (await bot.incidents())[-1].id


async def admin_run(bot: BotUnderTest, incident_id: int) -> StepRef:
    run = await runbooks.start_run(bot.parts.services, incident_id, ADMIN, "cost-anomaly")
    async with bot.parts.db.reader() as s:
        run = await s.get(RunbookRun, run.id)
    return StepRef(run=run.id, seq=run.seq, node=run.current, option=0)


# -- how each surface is used ------------------------------------------------------------

Run = Callable[[BotUnderTest, str], Awaitable[object]]


def slash(words: str, *, channel: str = "CPLATFORM1", incident: bool = False) -> Run:
    async def run(bot: BotUnderTest, user: str) -> None:
        number = await fresh_incident(bot) if incident else 0
        await bot.slash(words.format(i=number, other=RESPONDER if user != RESPONDER else ONCALL),
                        user=user, channel=channel)
    return run


def click(action_id: str) -> Run:
    async def run(bot: BotUnderTest, user: str) -> None:
        await bot.click(action_id, await fresh_incident(bot), user=user)
    return run


def click_value(action_id: str, value: Callable[[BotUnderTest], Awaitable[str]]) -> Run:
    async def run(bot: BotUnderTest, user: str) -> None:
        await bot.click(action_id, 1, user=user, value=await value(bot))
    return run


async def _silence_value(bot: BotUnderTest) -> str:
    from bot.domain.matchers import parse_matchers
    made = await silences.create_silence(bot.parts.services, parse_matchers(
        '{team="platform",alertname="Walk"}'), _hour(), "", ADMIN)
    return QuietRef(id=made.id).encode()


async def _maintenance_value(bot: BotUnderTest) -> str:
    made = await silences.create_maintenance(bot.parts.services, "platform", _hour(), "", ADMIN)
    return QuietRef(id=made.id).encode()


async def _digest_value(bot: BotUnderTest) -> str:
    return DigestLineRef(team="platform", service="s", model="m", since=0, until=3600).encode()


async def _feedback(bot: BotUnderTest, user: str) -> None:
    """The feedback row (one walk stands for its five buttons) shows once someone acked."""
    incident_id = await fresh_incident(bot)
    await incidents.acknowledge(bot.parts.services, incident_id, ADMIN)
    await bot.click(FEEDBACK_NOISE, incident_id, user=user,
                    value=FeedbackRef(incident_id=incident_id, verdict="noise").encode())


FEEDBACK_NOISE = "feedback.noise"


def _step(action_id: str) -> Run:
    async def run(bot: BotUnderTest, user: str) -> None:
        incident_id = await fresh_incident(bot)
        ref = await admin_run(bot, incident_id)
        await bot.click(action_id, incident_id, user=user, value=ref.encode())
    return run


def _hour():
    from datetime import timedelta
    return timedelta(hours=1)


async def _unsilence(bot: BotUnderTest, user: str) -> None:
    ref = QuietRef.decode(await _silence_value(bot))
    await bot.slash(f"unsilence {ref.id}", user=user)


async def _done(bot: BotUnderTest, user: str) -> None:
    incident_id = await fresh_incident(bot)
    item = await followups.add_action(bot.parts.services, "U0OWNER001", "follow up", None,
                                      incident_id, ADMIN)
    await bot.slash(f"done {item.id}", user=user)


async def _unshare(bot: BotUnderTest, user: str) -> None:
    incident_id = await fresh_incident(bot)
    bot.parts.services.public_url = "https://oncall.example.com"
    await shares.share_incident(bot.parts.services, incident_id, ADMIN)
    await bot.slash(f"unshare #{incident_id}", user=user)


def submit(callback_id: str, values: dict, mode: str = "") -> Run:
    async def run(bot: BotUnderTest, user: str) -> None:
        meta = ModalMeta(incident_id=await fresh_incident(bot), mode=mode).encode()
        await bot.submit_view(callback_id, meta, values, user=user)
    return run


async def _pick_for_timeline(bot: BotUnderTest, user: str) -> None:
    incident_id = await fresh_incident(bot)
    told = len(bot.slack.calls_to("chat.postEphemeral"))
    copied = CopiedMessage(channel="C0ELSEWHERE", ts="1700000000.000100", author="U0OWNER001",
                           text="customers report errors")
    await bot.submit_view(PICK_FOR_TIMELINE, copied.model_dump_json(),
                          {"incident": {"type": "static_select",
                                        "selected_option": {"value": str(incident_id)}}},
                          user=user)
    await eventually(lambda: len(bot.slack.calls_to("chat.postEphemeral")) > told)


async def _shortcut(bot: BotUnderTest, user: str) -> None:
    incident_id = await fresh_incident(bot)
    thread_ts = (await bot.message_of(incident_id)).ts
    told = len(bot.slack.calls_to("chat.postEphemeral"))
    message = {"type": "message", "user": "U0OWNER001", "ts": "1700000000.000900",
               "thread_ts": thread_ts, "text": "error rate back to normal"}
    await bot.shortcut(SHORTCUT_ADD_TO_TIMELINE, message, user=user, channel="CPLATFORM1")
    await eventually(lambda: len(bot.slack.calls_to("chat.postEphemeral")) > told)


#: surface -> (the action it performs, its scope as the README's matrix states it, how to use it)
SURFACES: dict[str, tuple[Action, Scope, Run]] = {
    # /oncall subcommands
    "help": (Action.HELP, Scope.OPEN, slash("help")),
    "who": (Action.WHO, Scope.OPEN, slash("who")),
    "ack": (Action.ACK, Scope.INCIDENT, slash("ack #{i}", incident=True)),
    "resolve": (Action.RESOLVE, Scope.INCIDENT, slash("resolve #{i} fixed", incident=True)),
    "escalate": (Action.ESCALATE, Scope.INCIDENT, slash("escalate #{i} help", incident=True)),
    "note": (Action.NOTE, Scope.INCIDENT, slash("note #{i} restarted", incident=True)),
    "timeline": (Action.READ_TIMELINE, Scope.TEAM,
                 slash("timeline #{i}", channel="C0ELSEWHERE", incident=True)),
    "runbook": (Action.RUNBOOK, Scope.INCIDENT,
                slash("runbook cost-anomaly #{i}", incident=True)),
    "silence": (Action.SILENCE, Scope.TEAM,
                slash('silence team="platform" alertname="Walk" for 1h deploy')),
    "silences": (Action.LIST_SILENCES, Scope.OPEN, slash("silences")),
    "unsilence": (Action.UNSILENCE, Scope.TEAM, _unsilence),
    "maintenance": (Action.MAINTENANCE, Scope.TEAM, slash("maintenance platform for 1h db")),
    "override": (Action.OVERRIDE, Scope.TEAM,
                 slash("override <@U0ONCALL01|oncall> for 1h platform")),
    "digest": (Action.POST_DIGEST, Scope.TEAM, slash("digest noise platform")),
    "test-page": (Action.TEST_PAGE, Scope.TEAM, slash("test-page <@{other}|someone>")),
    "action": (Action.ADD_ACTION_ITEM, Scope.INCIDENT,
               slash("action <@U0OWNER001> add an alert", incident=True)),
    "actions": (Action.LIST_ACTION_ITEMS, Scope.OPEN, slash("actions")),
    "done": (Action.CLOSE_ACTION_ITEM, Scope.TEAM, _done),
    "postmortem": (Action.POSTMORTEM, Scope.INCIDENT, slash("postmortem #{i}", incident=True)),
    "route": (Action.ROUTE_TEST, Scope.OPEN, slash('route test alertname="X"')),
    "audit": (Action.READ_AUDIT, Scope.TEAM, slash("audit")),
    "change": (Action.RECORD_CHANGE, Scope.TEAM, slash('change voice-agent flag "flipped"')),
    "journal": (Action.READ_JOURNAL, Scope.OPEN, slash("journal voice-agent")),
    "page": (Action.DECLARE, Scope.OPEN, slash("page platform sev3 walk declares")),
    "update": (Action.STATUS_UPDATE, Scope.INCIDENT,
               slash("update #{i} walk update", incident=True)),
    "share": (Action.SHARE, Scope.TEAM, slash("share #{i}", incident=True)),
    "unshare": (Action.UNSHARE, Scope.TEAM, _unshare),
    "publish": (Action.PUBLISH, Scope.INCIDENT, slash("publish #{i}", incident=True)),
    # buttons
    ActionId.INCIDENT_ACK: (Action.ACK, Scope.INCIDENT, click(ActionId.INCIDENT_ACK)),
    ActionId.INCIDENT_RESOLVE: (Action.RESOLVE, Scope.INCIDENT,
                                click(ActionId.INCIDENT_RESOLVE)),
    ActionId.INCIDENT_ESCALATE: (Action.ESCALATE, Scope.INCIDENT,
                                 click(ActionId.INCIDENT_ESCALATE)),
    ActionId.INCIDENT_ROUTE_TO_HUMANS: (Action.ROUTE_TO_HUMANS, Scope.INCIDENT,
                                        click(ActionId.INCIDENT_ROUTE_TO_HUMANS)),
    ActionId.INCIDENT_RESTORE_AI: (Action.RESTORE_AI, Scope.INCIDENT,
                                   click(ActionId.INCIDENT_RESTORE_AI)),
    ActionId.INCIDENT_RUNBOOK_START: (Action.RUNBOOK, Scope.INCIDENT,
                                      click(ActionId.INCIDENT_RUNBOOK_START)),
    ActionId.TRIAGE_CONFIRM: (Action.TRIAGE, Scope.INCIDENT, click(ActionId.TRIAGE_CONFIRM)),
    ActionId.TRIAGE_DISMISS: (Action.TRIAGE, Scope.INCIDENT, click(ActionId.TRIAGE_DISMISS)),
    ActionId.AUTO_RUNBOOK_CANCEL: (Action.CANCEL_AUTO, Scope.INCIDENT,
                                   click(ActionId.AUTO_RUNBOOK_CANCEL)),
    ActionId.INCIDENT_WHY: (Action.ROUTE_TEST, Scope.OPEN, click(ActionId.INCIDENT_WHY)),
    ActionId.INCIDENT_POST_UPDATE: (Action.STATUS_UPDATE, Scope.INCIDENT,
                                    click(ActionId.INCIDENT_POST_UPDATE)),
    ActionId.INCIDENT_PUBLISH: (Action.PUBLISH, Scope.INCIDENT,
                                click(ActionId.INCIDENT_PUBLISH)),
    ActionId.DIGEST_OPEN_INCIDENT: (Action.OPEN_FROM_DIGEST, Scope.TEAM,
                                    click_value(ActionId.DIGEST_OPEN_INCIDENT, _digest_value)),
    ActionId.SILENCE_END: (Action.UNSILENCE, Scope.TEAM,
                           click_value(ActionId.SILENCE_END, _silence_value)),
    ActionId.MAINTENANCE_END: (Action.END_MAINTENANCE, Scope.TEAM,
                               click_value(ActionId.MAINTENANCE_END, _maintenance_value)),
    f"{CHOOSE_PREFIX}0": (Action.RUNBOOK, Scope.INCIDENT, _step(f"{CHOOSE_PREFIX}0")),
    BACK: (Action.RUNBOOK, Scope.INCIDENT, _step(BACK)),
    RESTART: (Action.RUNBOOK, Scope.INCIDENT, _step(RESTART)),
    FEEDBACK_NOISE: (Action.FEEDBACK, Scope.OPEN, _feedback),
    # modals
    ViewId.ESCALATE: (Action.ESCALATE, Scope.INCIDENT,
                      submit(ViewId.ESCALATE, {"how": radio("next")})),
    ViewId.HANDOFF: (Action.ROUTE_TO_HUMANS, Scope.INCIDENT,
                     submit(ViewId.HANDOFF, {"reason": text_input("x")}, mode="humans")),
    ViewId.RESOLVE: (Action.RESOLVE, Scope.INCIDENT,
                     submit(ViewId.RESOLVE, {"reason": text_input("fixed")})),
    PICK_FOR_TIMELINE: (Action.NOTE, Scope.INCIDENT, _pick_for_timeline),
    # shortcuts
    SHORTCUT_ADD_TO_TIMELINE: (Action.NOTE, Scope.INCIDENT, _shortcut),
}


def test_every_surface_has_a_rule():
    """Commands from the parser, buttons from ActionId and the runbook step ids, modals from
    ViewId and the picker, the shortcut: each has a row, and the row agrees with RULES."""
    enumerated = (set(COMMAND_NAMES) | {a.value for a in ActionId}
                  | {f"{CHOOSE_PREFIX}0", BACK, RESTART, FEEDBACK_NOISE}
                  | {v for k, v in vars(ViewId).items() if k.isupper()}
                  | {PICK_FOR_TIMELINE, SHORTCUT_ADD_TO_TIMELINE})
    assert enumerated == {str(name) for name in SURFACES}
    for name, (action, scope, _) in SURFACES.items():
        assert RULES[action] is scope, name
    assert set(RULES) == set(Action)


async def _refusals(bot: BotUnderTest, user: str) -> int:
    async with bot.parts.db.reader() as s:
        return (await s.exec(select(func.count()).select_from(AuditRow).where(
            AuditRow.actor == user, AuditRow.outcome == "refused"))).one()


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("surface", [str(name) for name in SURFACES])
async def test_walk(walk: BotUnderTest, surface: str, role: str):
    action, scope, run = SURFACES[surface]
    user = ROLES[role]
    before = await _refusals(walk, user)

    await run(walk, user)
    await walk.drain()

    refused = await _refusals(walk, user) > before
    assert refused == (role not in ALLOWED[scope]), f"{surface} as {role}"
    if refused:
        async with walk.parts.db.reader() as s:
            row = (await s.exec(select(AuditRow).where(AuditRow.actor == user)
                                .order_by(col(AuditRow.id).desc()))).first()
        assert row.action == action.value and row.outcome == "refused"
