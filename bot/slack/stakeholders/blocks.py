"""Pure builders: the Declare incident and Post update modals, and one person's App Home."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.stakeholders import DEFAULT_SEVERITY, SEVERITY_WORDS
from bot.services.home import HomeFacts, HomeIncident
from bot.slack.action_ids import ActionId, IncidentRef
from bot.slack.incident.modals import ModalMeta
from bot.slack.text import escape_mrkdwn, slack_date, truncate_mrkdwn, user_mention


class StakeholderViewId:
    """callback_ids of these modals, shared by the builders and their submission handlers."""

    DECLARE = "declare.submit"
    UPDATE = "status_update.submit"


SHORTCUT_DECLARE = "incident.declare"
SEVERITY_LABELS = {"sev1": "sev1 (critical): page now", "sev2": "sev2 (error): page now",
                   "sev3": "sev3 (warning): post, no page", "sev4": "sev4 (info): triage"}


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)


def declare_modal(teams: list[str]) -> View:
    """Team, severity, summary and (optionally) service: the labels of the declared alert."""
    severity = [Option(value=w, label=SEVERITY_LABELS[w]) for w in SEVERITY_WORDS]
    return View(
        type="modal", callback_id=StakeholderViewId.DECLARE,
        title=PlainTextObject(text="Declare incident"), submit=PlainTextObject(text="Declare"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            SectionBlock(text=_mrkdwn("Opens an incident in the team's channel and pages its "
                                      "on-call for sev1 and sev2.")),
            InputBlock(block_id="team", label=PlainTextObject(text="Team"),
                       element=StaticSelectElement(action_id="value", options=[
                           Option(value=t, label=t[:75]) for t in teams[:100]])),
            InputBlock(block_id="severity", label=PlainTextObject(text="Severity"),
                       element=StaticSelectElement(
                           action_id="value", options=severity,
                           initial_option=severity[list(SEVERITY_WORDS).index(
                               DEFAULT_SEVERITY)])),
            InputBlock(block_id="summary", label=PlainTextObject(text="What is wrong"),
                       element=PlainTextInputElement(action_id="value", max_length=300)),
            InputBlock(block_id="service", label=PlainTextObject(text="Service"),
                       optional=True,
                       element=PlainTextInputElement(action_id="value", max_length=128)),
        ])


def update_modal(incident_id: int, title: str) -> View:
    return View(
        type="modal", callback_id=StakeholderViewId.UPDATE,
        title=PlainTextObject(text="Post update"), submit=PlainTextObject(text="Post"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=ModalMeta(incident_id=incident_id).encode(),
        blocks=[
            SectionBlock(text=_mrkdwn(f"*#{incident_id}* {escape_mrkdwn(title)[:2800]}")),
            InputBlock(block_id="text", label=PlainTextObject(text="Update for stakeholders"),
                       hint=PlainTextObject(text="Posted in the thread and the team's status "
                                                 "channel, and kept on the timeline."),
                       element=PlainTextInputElement(action_id="value", multiline=True,
                                                     max_length=3000)),
        ])


def home_view(facts: HomeFacts) -> View:
    """One person's Home: open incidents (Ack, Resolve, Post update), on call or not, shifts,
    pages this week, and who is on call for each of their teams."""
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text="Your on-call"))]
    blocks += _on_call_section(facts)
    blocks += [DividerBlock(), SectionBlock(text=_mrkdwn(
        f"*Your open incidents* ({len(facts.incidents)})"))]
    if not facts.incidents:
        blocks.append(ContextBlock(elements=[_mrkdwn("Nothing open for you. :sunny:")]))
    for incident in facts.incidents:
        blocks += _incident_blocks(incident)
    blocks += [DividerBlock(), SectionBlock(text=_mrkdwn("*Your teams on call now*\n" + (
        "\n".join(_team_line(team, who) for team, who in facts.teams)
        or "You are not a responder of any team.")))]
    return View(type="home", blocks=blocks[:100])


def _on_call_section(facts: HomeFacts) -> list[Block]:
    now = (f":large_green_circle: You are on call now for "
           f"{', '.join(f'*{escape_mrkdwn(t)}* ({role})' for t, role in facts.on_call_for)}."
           if facts.on_call_for else ":white_circle: You are not on call now.")
    shifts = "\n".join(f"• *{escape_mrkdwn(team)}* {slack_date(s.start)} to {slack_date(s.end)}"
                       for team, s in facts.next_shifts) or "• none scheduled"
    pages = f"Pages this week: *{facts.pages_this_week}*"
    return [SectionBlock(text=_mrkdwn(f"{now}\n*Next shifts*\n{shifts}\n{pages}"))]


def _incident_blocks(incident: HomeIncident) -> list[Block]:
    acked = f", acked by {user_mention(incident.acked_by)}" if incident.acked_by else ""
    line = (f"*#{incident.id}* {truncate_mrkdwn(escape_mrkdwn(incident.title), 200)}\n"
            f"{escape_mrkdwn(incident.team)} · {escape_mrkdwn(incident.severity or '-')} · "
            f"{incident.status}{acked}")
    value = IncidentRef(incident_id=incident.id).encode()
    buttons = []
    if incident.status == "triggered":
        buttons.append(ButtonElement(text=PlainTextObject(text="Ack"), style="primary",
                                     action_id=ActionId.INCIDENT_ACK.value, value=value))
    buttons.append(ButtonElement(text=PlainTextObject(text="Resolve"),
                                 action_id=ActionId.INCIDENT_RESOLVE.value, value=value))
    buttons.append(ButtonElement(text=PlainTextObject(text="Post update"),
                                 action_id=ActionId.INCIDENT_POST_UPDATE.value, value=value))
    return [SectionBlock(text=_mrkdwn(line)),
            ActionsBlock(block_id=f"home-incident-{incident.id}", elements=buttons)]


def _team_line(team: str, who) -> str:
    if who is None or who.primary is None:
        return f"*{escape_mrkdwn(team)}*: nobody scheduled"
    secondary = f", secondary {user_mention(who.secondary)}" if who.secondary else ""
    return (f"*{escape_mrkdwn(team)}*: {user_mention(who.primary)}{secondary} until "
            f"{slack_date(who.shift_end)}")
