"""The /oncall slash command: words typed in Slack -> a typed command, or an error to show.

Texts are written as Slack sends them with `should_escape: true` (`&amp;`, `<@U..|name>`).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.matchers import Matcher, MatchOp
from commands.parsing import (
    COMMAND_NAMES,
    AckCommand,
    ActionCommand,
    ActionsCommand,
    Command,
    CommandAdapter,
    DigestCommand,
    DoneCommand,
    EscalateCommand,
    HelpCommand,
    MaintenanceCommand,
    Mention,
    MentionKind,
    NoteCommand,
    OverrideCommand,
    ParseError,
    PostmortemCommand,
    ResolveCommand,
    RouteTestCommand,
    RunbookCommand,
    SilenceCommand,
    SilencesCommand,
    TestPageCommand,
    TimelineCommand,
    UnsilenceCommand,
    WhoCommand,
    find_mentions,
    parse,
    parse_mention,
    strip_bot_mention,
)
from commands.usage import (
    GENERAL_USAGE,
    USAGES,
    Usage,
    help_text,
    manifest_usage_hint,
    usage_line,
)

TODAY = date(2025, 7, 2)  # a Wednesday
ALICE = "U024BE7LH"
H = timedelta(hours=1)


_COMMAND_TYPES = get_args(get_args(Command)[0])  # the models in the discriminated union


def eq(name: str, value: str) -> Matcher:
    return Matcher(name=name, op=MatchOp.EQUAL, value=value)


def regex(name: str, value: str) -> Matcher:
    return Matcher(name=name, op=MatchOp.REGEX, value=value)


def silence(*matchers: Matcher, duration: timedelta = H, comment: str | None = None) -> object:
    return SilenceCommand(matchers=matchers, duration=duration, comment=comment)


def action(text: str, due: date | None = None) -> ActionCommand:
    return ActionCommand(owner_id=ALICE, text=text, due=due)


def read(text: str) -> object:
    return parse(text, today=TODAY)


# -- good forms ----------------------------------------------------------------------------

GOOD = [
    # help, and what empty text means
    ("", HelpCommand()),
    ("   \n ", HelpCommand()),
    ("help", HelpCommand()),
    ("HELP Silence", HelpCommand(topic="silence")),
    ("help route test", HelpCommand(topic="route")),
    # who
    ("who", WhoCommand()),
    ("who voice", WhoCommand(team="voice")),
    ("  WHO   voice  ", WhoCommand(team="voice")),
    # ack, and incident references
    ("ack", AckCommand()),
    ("ack #42", AckCommand(incident=42)),
    ("ack 42", AckCommand(incident=42)),
    ("Ack #007", AckCommand(incident=7)),
    # resolve / escalate: optional incident, optional free text
    ("resolve", ResolveCommand()),
    ("resolve #42", ResolveCommand(incident=42)),
    (
        "resolve #42 rolled back the deploy",
        ResolveCommand(incident=42, note="rolled back the deploy"),
    ),
    ("resolve fixed it", ResolveCommand(note="fixed it")),
    ("resolve 3rd restart worked", ResolveCommand(note="3rd restart worked")),
    # a bare number before free text is text: only `#N` names an incident there
    ("resolve 13 nodes replaced", ResolveCommand(note="13 nodes replaced")),
    ("note 2 pods restarted", NoteCommand(text="2 pods restarted")),
    ("escalate 5 minutes and no answer", EscalateCommand(reason="5 minutes and no answer")),
    ("resolve #13 nodes replaced", ResolveCommand(incident=13, note="nodes replaced")),
    ('resolve #4 "rolled back"', ResolveCommand(incident=4, note="rolled back")),
    (
        "escalate #7 no answer from primary",
        EscalateCommand(incident=7, reason="no answer from primary"),
    ),
    ("escalate", EscalateCommand()),
    # note: free text keeps its spacing, apostrophes, inner quotes and mentions
    ("note #42 restarted the pods", NoteCommand(incident=42, text="restarted the pods")),
    ("note it's fine now", NoteCommand(text="it's fine now")),
    ("note #3 line one\n  line two", NoteCommand(incident=3, text="line one\n  line two")),
    ('note "#42 was a dupe"', NoteCommand(text="#42 was a dupe")),
    ('note he said "wait" twice', NoteCommand(text='he said "wait" twice')),
    ("note ping <@U024BE7LH|alice>", NoteCommand(text="ping <@U024BE7LH|alice>")),
    (
        "note see <https://grafana.example.com/d/x|the dashboard>",
        NoteCommand(text="see the dashboard"),
    ),
    # timeline
    ("timeline", TimelineCommand()),
    ("timeline #4", TimelineCommand(incident=4)),
    ("timeline #4 page 2", TimelineCommand(incident=4, page=2)),
    ("timeline PAGE 3", TimelineCommand(page=3)),
    # runbook
    ("runbook gpu-oom", RunbookCommand(runbook="gpu-oom")),
    ("runbook gpu-oom #42", RunbookCommand(runbook="gpu-oom", incident=42)),
    ("runbook #42 gpu-oom", RunbookCommand(runbook="gpu-oom", incident=42)),
    # silence: Alertmanager matchers, with spaces inside quotes and braces
    (
        'silence alertname="FTLHigh" service=~"voice.*" for 2h30m deploy in progress',
        silence(
            eq("alertname", "FTLHigh"),
            regex("service", "voice.*"),
            duration=2.5 * H,
            comment="deploy in progress",
        ),
    ),
    ('silence {alertname="x"} for 1h', silence(eq("alertname", "x"))),
    (
        'silence {alertname="FTL High", severity!="info"} FOR 90m',
        silence(
            eq("alertname", "FTL High"),
            Matcher(name="severity", op=MatchOp.NOT_EQUAL, value="info"),
            duration=1.5 * H,
        ),
    ),
    ('silence alertname="for" for 1d', silence(eq("alertname", "for"), duration=24 * H)),
    (
        "silence alertname=x,team=voice for 1w",
        silence(eq("alertname", "x"), eq("team", "voice"), duration=7 * 24 * H),
    ),
    ("silence alertname='FTL High' for 1h", silence(eq("alertname", "FTL High"))),
    (
        'silence alertname="x" for 2h 30m because',
        silence(eq("alertname", "x"), duration=2.5 * H, comment="because"),
    ),
    ('silence alertname="x" for 2H', silence(eq("alertname", "x"), duration=2 * H)),
    (
        'silence alertname="x" for 1h "for real"',
        silence(eq("alertname", "x"), duration=H, comment="for real"),
    ),
    # smart quotes (macOS) are straightened first
    ("silence alertname=“FTL High” for 1h", silence(eq("alertname", "FTL High"))),
    ("silence alertname=‘FTL High’ for 1h", silence(eq("alertname", "FTL High"))),
    ("note “quoted”", NoteCommand(text="quoted")),
    ("note don’t page", NoteCommand(text="don't page")),
    # Slack's HTML escaping is undone after splitting into words
    (
        'silence service=~"a&lt;b|c&amp;d" for 1h x &gt; y',
        silence(regex("service", "a<b|c&d"), comment="x > y"),
    ),
    ("note a &amp;lt; b", NoteCommand(text="a &lt; b")),
    ("note {oops} and { more", NoteCommand(text="{oops} and { more")),
    ('silence url="<http://x.io|x.io>" for 1h', silence(eq("url", "x.io"))),
    # silences / unsilence
    ("silences", SilencesCommand()),
    ("unsilence 7", UnsilenceCommand(silence_id="7")),
    ("unsilence 2f4c-11ee", UnsilenceCommand(silence_id="2f4c-11ee")),
    # maintenance
    (
        "maintenance voice for 1h db upgrade",
        MaintenanceCommand(team="voice", duration=H, comment="db upgrade"),
    ),
    ('maintenance "voice ai" for 30m', MaintenanceCommand(team="voice ai", duration=H / 2)),
    # override: mention with or without a name, or a raw member ID
    (
        "override <@U024BE7LH|alice> for 8h voice",
        OverrideCommand(user_id=ALICE, duration=8 * H, team="voice"),
    ),
    ("override <@U024BE7LH> for 8h", OverrideCommand(user_id=ALICE, duration=8 * H)),
    ("override U024BE7LH for 1d", OverrideCommand(user_id=ALICE, duration=24 * H)),
    ("override <@W0123ABCD|bob> for 1h", OverrideCommand(user_id="W0123ABCD", duration=H)),
    # digest
    ("digest cost", DigestCommand(kind="cost")),
    ("digest NOISE", DigestCommand(kind="noise")),
    # test-page
    ("test-page", TestPageCommand()),
    ("test-page <@U024BE7LH|alice>", TestPageCommand(user_id=ALICE)),
    # action: due dates resolve against the injected today (a Wednesday)
    ("action <@U024BE7LH> add a GPU alert", action("add a GPU alert")),
    (
        "action <@U024BE7LH> add a GPU alert due friday",
        action("add a GPU alert", due=date(2025, 7, 4)),
    ),
    ("action <@U024BE7LH> x due Wed", action("x", due=date(2025, 7, 9))),
    ("action <@U024BE7LH> x due today", action("x", due=TODAY)),
    ("action <@U024BE7LH> x due tomorrow", action("x", due=date(2025, 7, 3))),
    ("action <@U024BE7LH> x due +3d", action("x", due=date(2025, 7, 5))),
    ("action <@U024BE7LH> x due +2w", action("x", due=date(2025, 7, 16))),
    ("action <@U024BE7LH> x due 2025-08-01", action("x", due=date(2025, 8, 1))),
    ("action <@U024BE7LH> fix it due to OOM", action("fix it due to OOM")),
    ('action <@U024BE7LH> "pay dues" due mon', action("pay dues", due=date(2025, 7, 7))),
    # actions / done / postmortem
    ("actions", ActionsCommand()),
    ("actions #3", ActionsCommand(incident=3)),
    ("done 12", DoneCommand(action_id=12)),
    ("done #12", DoneCommand(action_id=12)),
    ("postmortem", PostmortemCommand()),
    ("postmortem 42", PostmortemCommand(incident=42)),
    # route test
    (
        'route test alertname="FTL High" service=voice',
        RouteTestCommand(labels={"alertname": "FTL High", "service": "voice"}),
    ),
    (
        "route TEST tool_name='web search' url=a=b",
        RouteTestCommand(labels={"tool_name": "web search", "url": "a=b"}),
    ),
    ("route test severity=", RouteTestCommand(labels={"severity": ""})),
]


@pytest.mark.parametrize(("text", "expected"), GOOD, ids=[text[:40] for text, _ in GOOD])
def test_good_forms(text: str, expected: object) -> None:
    assert read(text) == expected


# -- bad forms: (text, words the message must hold, suggestion) -----------------------------

BAD = [
    # unknown subcommands, with a guess when one is close
    ("akc", "`akc` is not an /oncall command", "did you mean `ack`?"),
    ("silense alertname=x for 1h", "not an /oncall command", "did you mean `silence`?"),
    ("testpage", "not an /oncall command", "did you mean `test-page`?"),
    ("xyzzy", "not an /oncall command", None),
    ("help silnce", "There is no `silnce` command", "did you mean `silence`?"),
    # incident references
    ("ack #x", "`#x` is not an incident number", None),
    ("ack #", "`#` is not an incident number", None),
    ("ack #0", "`#0` is not an incident number", None),
    ("ack #99999999999999999999", "is not an incident number", None),
    ("resolve #4x2 done", "`#4x2` is not an incident number", None),
    ("ack 42 now", "Unexpected `now`", None),
    ("postmortem #42 #43", "Unexpected `#43`", None),
    ("who voice search", "Unexpected `search`", None),
    # missing arguments
    ("note", "Missing TEXT", None),
    ("note #42", "Missing TEXT", None),
    ('note #42 ""', "Missing TEXT", None),
    ("timeline page", "Missing page number", None),
    ("timeline page x", "`x` is not a page number", None),
    ("timeline #4 2", "Unexpected `2`", None),
    ("runbook", "Missing runbook NAME", None),
    ("runbook #42", "Missing runbook NAME", None),
    ("unsilence", "Missing silence ID", None),
    ("silences all", "Unexpected `all`", None),
    ("done", "Missing ACTION_ID", None),
    ("done abc", "`abc` is not an action number", None),
    ("digest", "Missing digest kind", None),
    ("digest cots", "`cots` is not a digest", "did you mean `cost`?"),
    ("route", "`route` has one subcommand", None),
    ("route test", "Missing LABEL=VALUE", None),
    # silence: the `for`, the duration, the matchers
    ('silence alertname="x" 2h', "Missing `for DURATION`", None),
    ("silence for 2h", "Missing MATCHERS before `for`", None),
    ('silence alertname="x" for', "Missing DURATION after `for`", None),
    ('silence alertname="x" for 2x', "`2x` is not a duration", None),
    ('silence alertname="x" for 1.5h', "`1.5h` is not a duration", None),
    ('silence alertname="x" for 30m2h', "`30m2h` is not a duration", None),
    ('silence alertname="x" for 0', "longer than zero", None),
    ('silence alertname="x" for 300y', "`300y` is not a duration", None),
    ('silence alertname=~"(" for 1h', 'Bad matcher `alertname=~"("`: error parsing regexp', None),
    ("silence 1alertname=x for 1h", "Bad matcher `1alertname=x`", None),
    ("silence alertname for 1h", "Bad matcher `alertname`", None),
    ('silence alertname="x for 1h', "Bad matcher", None),
    ("silence {} for 1h", "Bad matcher `{}`", None),
    ('silence alertname=~".*" for 1h', "would silence every alert", None),
    ('silence alertname="" for 1h', "would silence every alert", None),
    ("silence a&amp;b=x for 1h", "Bad matcher `a&amp;b=x`", None),
    ('silence a=~"' + "(" * 1000 + ")" * 1000 + '" for 1h', "nests too deeply", None),
    ("note " + "x" * 4000, "a command can be at most 4000", None),
    # maintenance and override
    ("maintenance for 1h", "Missing TEAM before `for`", None),
    ("maintenance voice 1h", "Missing `for DURATION`", None),
    ("maintenance voice search for 1h", "Unexpected `search`: give one TEAM", None),
    ("maintenance voice for soon", "`soon` is not a duration", None),
    ("override for 8h", "Missing @user before `for`", None),
    ("override <@U024BE7LH> 8h", "Missing `for DURATION`", None),
    ("override @alice for 8h", "`@alice` is not a person", None),
    ("override alice for 8h", "`alice` is not a person", None),
    ("override <!subteam^S0614TZR7|@sre> for 8h", "is a user group, not a person", None),
    ("override <#C024BE7LR|ops> for 8h", "is a channel, not a person", None),
    ("override <@U024BE7LH> <@W0123ABCD> for 8h", "give one @user before `for`", None),
    ("override <@U024BE7LH> for 8h voice extra", "Unexpected `extra`", None),
    ("override <@U024BE7LH> for 8 hours", "`8` is not a duration", None),
    # test-page and action
    ("test-page alice", "`alice` is not a person", None),
    ("action", "Missing @owner", None),
    ("action <@U024BE7LH>", "Missing TEXT", None),
    ("action <@U024BE7LH> due friday", "Missing TEXT", None),
    ("action fix it", "`fix` is not a person", None),
    ("action <@U024BE7LH> x due someday", "`someday` is not a due date", None),
    ("action <@U024BE7LH> x due 2025-02-30", "`2025-02-30` is not a due date", None),
    ("action <@U024BE7LH> x due 2025-07-01", "The due date 2025-07-01 is in the past", None),
    ("action <@U024BE7LH> x due +99999d", "`+99999d` is not a due date", None),
    # route test
    ("route tset a=b", "`route` has one subcommand", None),
    ("route test alertname", "`alertname` is not LABEL=VALUE", None),
    ("route test 1a=b", "`1a=b` is not LABEL=VALUE", None),
    ("route test a=1 a=2", "Label `a` is given twice", None),
]


@pytest.mark.parametrize(("text", "message", "suggestion"), BAD, ids=[t[:40] for t, _, _ in BAD])
def test_bad_forms(text: str, message: str, suggestion: str | None) -> None:
    result = read(text)
    assert isinstance(result, ParseError)
    assert message in result.message
    assert result.suggestion == suggestion


@pytest.mark.parametrize(
    ("text", "usage"),
    [
        ("ack #x", "/oncall ack [#N]"),
        ('silence a="b" for 2x', "/oncall silence MATCHERS for DURATION [COMMENT...]"),
        ("Override @alice for 1h", "/oncall override @user for DURATION [TEAM]"),
        ("xyzzy", GENERAL_USAGE),
    ],
)
def test_errors_carry_the_usage_line_of_their_subcommand(text: str, usage: str) -> None:
    result = read(text)
    assert isinstance(result, ParseError)
    assert result.usage == usage


def test_error_text_is_ready_for_slack() -> None:
    result = read("akc")
    assert isinstance(result, ParseError)
    assert result.as_text() == (
        f"`akc` is not an /oncall command. Did you mean `ack`?\nUsage: `{GENERAL_USAGE}`"
    )
    group = read("override <!subteam^S0614TZR7|@sre> for 8h")
    assert isinstance(group, ParseError)
    assert "`&lt;!subteam^S0614TZR7|@sre&gt;`" in group.message  # mrkdwn-escaped


def test_long_input_is_shortened_in_errors() -> None:
    result = read("x" * 500)
    assert isinstance(result, ParseError)
    assert len(result.message) < 80


def test_a_bad_duration_is_named_with_an_example() -> None:
    result = read('silence alertname="x" for 5mins')
    assert isinstance(result, ParseError)
    assert "`5mins`" in result.message
    assert "2h30m" in result.message


# -- Slack mentions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@U024BE7LH|alice>", Mention(kind=MentionKind.USER, id=ALICE, label="alice")),
        ("<@U024BE7LH>", Mention(kind=MentionKind.USER, id=ALICE)),
        (" <@W0123ABCD> ", Mention(kind=MentionKind.USER, id="W0123ABCD")),
        ("<#C024BE7LR|ops>", Mention(kind=MentionKind.CHANNEL, id="C024BE7LR", label="ops")),
        ("<#C024BE7LR>", Mention(kind=MentionKind.CHANNEL, id="C024BE7LR")),
        (
            "<!subteam^S0614TZR7|@sre>",
            Mention(kind=MentionKind.USER_GROUP, id="S0614TZR7", label="@sre"),
        ),
        ("<@U024BE7LH|r&amp;d>", Mention(kind=MentionKind.USER, id=ALICE, label="r&d")),
        ("<https://example.com|example>", None),
        ("<!here>", None),
        ("@alice", None),
        ("U024BE7LH", None),
        ("<@U024BE7LH> and more", None),
    ],
)
def test_parse_mention(text: str, expected: Mention | None) -> None:
    assert parse_mention(text) == expected


def test_find_mentions_in_order() -> None:
    text = "cc <@U024BE7LH|alice> <!subteam^S0614TZR7|@sre> in <#C024BE7LR|ops>"
    assert [(found.kind, found.id) for found in find_mentions(text)] == [
        (MentionKind.USER, ALICE),
        (MentionKind.USER_GROUP, "S0614TZR7"),
        (MentionKind.CHANNEL, "C024BE7LR"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@UBOT123> ack", "ack"),
        ("<@UBOT123|oncall>   resolve #42 done ", "resolve #42 done"),
        ("hey <@UBOT123> ack #4", "ack #4"),
        ("<@U024BE7LH> <@UBOT123> ack", "ack"),
        ("<@UBOT123>", ""),
        ("ack #4", "ack #4"),
        ("<@UBOT1234> ack", "<@UBOT1234> ack"),  # another bot, not ours
    ],
)
def test_strip_bot_mention(text: str, expected: str) -> None:
    assert strip_bot_mention(text, "UBOT123") == expected


def test_an_app_mention_in_a_thread_reads_like_the_slash_command() -> None:
    assert read(strip_bot_mention("<@UBOT123> ack", "UBOT123")) == AckCommand()


# -- usage texts -------------------------------------------------------------------------------


def test_every_subcommand_has_one_usage_line_a_parser_and_a_model() -> None:
    assert [usage.name for usage in USAGES] == list(COMMAND_NAMES)
    assert [model.model_fields["name"].default for model in _COMMAND_TYPES] == list(COMMAND_NAMES)
    assert len(set(COMMAND_NAMES)) == len(COMMAND_NAMES)
    assert all(usage_line(name).startswith(f"/oncall {name}") for name in COMMAND_NAMES)


@pytest.mark.parametrize("usage", USAGES, ids=[usage.name for usage in USAGES])
def test_every_usage_example_parses_as_its_subcommand(usage: Usage) -> None:
    # In Slack, `@alice` picked from the list arrives as a mention token.
    result = read(usage.example.replace("@alice", "<@U024BE7LH|alice>"))
    assert not isinstance(result, ParseError), result
    assert result.name == usage.name


def test_help_lists_every_command_and_explains_one() -> None:
    text = help_text()
    assert all(f"`{usage.line}`" in text for usage in USAGES)
    assert help_text("silence").startswith("`/oncall silence MATCHERS for DURATION [COMMENT...]`")
    assert "Example: `/oncall silence alertname=" in help_text("silence")
    assert help_text("nonsense") == text


def test_manifest_usage_hint_fits_slack_limit() -> None:
    hint = manifest_usage_hint()
    assert len(hint) <= 1000
    assert all(name in hint for name in COMMAND_NAMES)


# -- properties --------------------------------------------------------------------------------

_VOCABULARY = [
    *COMMAND_NAMES, "for", "due", "page", "test", "#", "#42", "42", "0", "2h", "30m", "1.5h",
    '"', "'", "“", "’", "{", "}", "<", ">", "&amp;", "&lt;", "<@U024BE7LH|alice>", "<@U0>",
    "<#C024BE7LR|ops>", "<!subteam^S0614TZR7|@sre>", "<http://x.io|x>", 'a="b c"', "a=~'(x'",
    "{a=\"x\", b!~\"y\"}", "a=", "=", "\\", "friday", "+3d", "2025-13-40", "9" * 30, "\n", "é",
]  # fmt: skip


@given(st.text())
def test_parse_never_raises_on_any_text(text: str) -> None:
    assert isinstance(parse(text, today=TODAY), (ParseError, *_COMMAND_TYPES))


@given(st.lists(st.sampled_from(_VOCABULARY) | st.text(max_size=5), max_size=8), st.dates())
def test_parse_never_raises_on_command_like_text(words: list[str], today: date) -> None:
    result = parse(" ".join(words), today=today)
    assert isinstance(result, (ParseError, *_COMMAND_TYPES))


def slack_escape(text: str) -> str:
    """What Slack does to typed text before sending it (should_escape: true)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_NO_QUOTES = st.characters(exclude_characters="\"'“”‘’", exclude_categories=("Cs",))


@given(st.text(_NO_QUOTES, min_size=1).filter(str.strip))
def test_note_text_comes_back_as_typed(text: str) -> None:
    assert read(f"note #1 {slack_escape(text)}") == NoteCommand(incident=1, text=text.strip())


@given(
    st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]*", fullmatch=True),
    st.text(st.characters(exclude_characters="“”‘’", exclude_categories=("Cs",)), min_size=1),
)
def test_a_rendered_matcher_reads_back_as_itself(name: str, value: str) -> None:
    matcher = eq(name, value)
    result = read(f"silence {slack_escape(str(matcher))} for 1h")
    assert isinstance(result, SilenceCommand), result
    assert result.matchers == (matcher,)


@pytest.mark.parametrize("text", [text for text, _ in GOOD])
def test_commands_survive_a_json_round_trip(text: str) -> None:
    command = read(text)
    assert CommandAdapter.validate_json(CommandAdapter.dump_json(command)) == command  # type: ignore[arg-type]


def test_the_app_manifest_hints_every_command() -> None:
    """What Slack shows while typing /oncall names every subcommand the bot has."""
    import yaml

    manifest = yaml.safe_load((Path(__file__).parents[1] / "app_manifest.yaml").read_text())
    [command] = manifest["features"]["slash_commands"]
    named = command["usage_hint"].split("]")[0].strip("[").split("|")
    assert set(named) == set(COMMAND_NAMES)
