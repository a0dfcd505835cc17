"""Runbooks: the schema, templating and escaping, walking, and picking a runbook for an alert."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.domain.errors import NothingToDo
from bot.domain.runbook_walk import (
    Step,
    Walk,
    back,
    choose,
    current_node,
    is_finished,
    restart,
    runbook_for,
    start,
)
from bot.domain.runbooks import (
    ActionNode,
    AutomaticRemediationRefused,
    CheckNode,
    Choice,
    DoneNode,
    Escalate,
    Notify,
    QuestionNode,
    Remediate,
    Resolve,
    RouteToHumans,
    Runbook,
    RunbookError,
    StaleStep,
    assert_manual,
    choices,
    confirmation,
    is_terminal,
    summary,
)
from bot.domain.templating import (
    escape_mrkdwn,
    make_context,
    placeholder_names,
    render,
    render_url,
    template_problems,
    unknown_placeholders,
)


def node(data: dict[str, Any]) -> Any:
    """Parse one node the way a runbook file does."""
    return Runbook.model_validate(
        {"id": "t", "title": "T", "start": "n", "nodes": {"n": data}}
    ).nodes["n"]


def make_runbook(**overrides: Any) -> Runbook:
    data: dict[str, Any] = {
        "id": "provider",
        "title": "Provider down",
        "serves": {"alert_types": ["provider"]},
        "start": "look",
        "nodes": {
            "look": {
                "kind": "check",
                "text": "Is the provider down?",
                "options": [{"label": "Down", "next": "ask"}, {"label": "Up", "next": "ok"}],
            },
            "ask": {
                "kind": "question",
                "prompt": "Secondary healthy?",
                "answers": [{"label": "Yes", "next": "fix"}, {"label": "No", "next": "page"}],
            },
            "fix": {
                "kind": "action",
                "text": "Fail over",
                "do": {"remediate": {"hook": "failover-llm-provider"}},
                "next": "ok",
            },
            "page": {"kind": "action", "text": "Page", "do": {"escalate": {"level": 2}}},
            "ok": {"kind": "done", "outcome": "Healthy"},
        },
    }
    return Runbook.model_validate({**data, **overrides})


# -- schema ------------------------------------------------------------------------------


def test_a_check_node_holds_diagnostics_links_and_options() -> None:
    check = node(
        {
            "kind": "check",
            "text": "Look",
            "diagnostics": [
                {"label": "Errors", "language": "promql", "command": "sum(rate(x[5m]))"},
                {"label": "Pods", "command": "kubectl get pods"},
            ],
            "links": [{"label": "Status", "url": "https://status.openai.com"}],
            "options": [{"label": "Down", "next": "n"}],
        }
    )
    assert isinstance(check, CheckNode)
    assert [d.language for d in check.diagnostics] == ["promql", "shell"]
    assert choices(check) == [Choice(label="Down", next="n")]


def test_a_question_node_takes_two_to_five_answers() -> None:
    answers = [{"label": f"a{i}", "next": "n"} for i in range(5)]
    question = node({"kind": "question", "prompt": "Which?", "answers": answers})
    assert isinstance(question, QuestionNode)
    assert [choice.label for choice in choices(question)] == ["a0", "a1", "a2", "a3", "a4"]


@pytest.mark.parametrize("count", [0, 1, 6])
def test_a_question_with_too_few_or_too_many_answers_is_rejected(count: int) -> None:
    answers = [{"label": f"a{i}", "next": "n"} for i in range(count)]
    with pytest.raises(ValidationError, match="answers"):
        node({"kind": "question", "prompt": "Which?", "answers": answers})


@pytest.mark.parametrize(
    ("do", "kind", "button"),
    [
        ({"escalate": {"level": 2}}, Escalate, "Escalate to level 2"),
        ({"escalate": {"target": "ai-eng"}}, Escalate, "Escalate to ai-eng"),
        ({"route_to_humans": {}}, RouteToHumans, "Route conversations to human agents"),
        ({"route_to_humans": None}, RouteToHumans, "Route conversations to human agents"),
        ({"resolve": {"note": "fixed"}}, Resolve, "Resolve the incident"),
        ({"notify": {"channel": "#platform-oncall"}}, Notify, "Notify #platform-oncall"),
        ({"notify": {"usergroup": "S0123ABC"}}, Notify, "Notify user group S0123ABC"),
        ({"remediate": {"hook": "rollback-deploy"}}, Remediate, "Run hook rollback-deploy"),
    ],
)
def test_an_action_node_does_one_thing(do: dict[str, Any], kind: type, button: str) -> None:
    action = node({"kind": "action", "text": "Act", "do": do})
    assert isinstance(action, ActionNode)
    assert isinstance(action.do, kind)
    assert choices(action) == [Choice(label=button, next=None)]
    assert is_terminal(action)


@pytest.mark.parametrize(
    "do",
    [
        {"remediate": {"hook": "a"}, "resolve": {}},  # two effects
        {"reboot": {}},  # unknown effect
        {},
        {"escalate": {"level": 2, "target": "x"}},  # both
        {"escalate": {}},  # neither
        {"escalate": {"level": 0}},
        {"notify": {"channel": "platform"}},  # no '#'
        {"notify": {"usergroup": "U123"}},  # a user, not a group
        {"remediate": {"hook": "bad hook"}},
        {"remediate": {"hook": "x", "auto": True}},  # unknown key
    ],
)
def test_a_malformed_action_is_rejected(do: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        node({"kind": "action", "text": "Act", "do": do})


def test_a_done_node_ends_the_walk() -> None:
    done = node({"kind": "done", "outcome": "All good"})
    assert isinstance(done, DoneNode)
    assert choices(done) == []
    assert is_terminal(done)


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "wait", "text": "x"},  # unknown kind
        {"text": "x", "options": [{"label": "a", "next": "n"}]},  # no kind
        {"kind": "check", "text": "x", "options": []},  # a check needs an option
        {"kind": "check", "text": "x", "options": [{"label": "a", "next": "n"}], "extra": 1},
        {"kind": "done"},  # no outcome
        {
            "kind": "check",
            "text": "x",
            "links": [{"label": "l", "url": "javascript:alert(1)"}],
            "options": [{"label": "a", "next": "n"}],
        },
        {
            "kind": "check",
            "text": "x",
            "diagnostics": [{"label": "l", "language": "python", "command": "x"}],
            "options": [{"label": "a", "next": "n"}],
        },
    ],
)
def test_bad_nodes_are_rejected(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        node(data)


def test_unknown_runbook_keys_and_bad_ids_are_rejected() -> None:
    with pytest.raises(ValidationError, match="owner"):
        make_runbook(owner="me")
    with pytest.raises(ValidationError, match="not an id"):
        make_runbook(id="has space")


def test_confirmation_defaults_to_naming_the_effect() -> None:
    never_auto = node(
        {
            "kind": "action",
            "text": "x",
            "do": {"remediate": {"hook": "rollback-prompt", "never_auto": True}},
        }
    )
    assert confirmation(never_auto) == (
        "This will run hook rollback-prompt now. Continue? "
        "A person must confirm this; it never runs automatically."
    )
    resolve = node({"kind": "action", "text": "x", "do": {"resolve": {"note": "fixed it"}}})
    assert confirmation(resolve) == "This will resolve the incident now. Continue? Note: fixed it"
    own = node({"kind": "action", "text": "x", "confirm": "Sure?", "do": {"route_to_humans": {}}})
    assert confirmation(own) == "Sure?"


def test_a_long_button_label_is_cut_to_slack_limit() -> None:
    action = node({"kind": "action", "text": "x", "do": {"escalate": {"target": "t" * 100}}})
    label = choices(action)[0].label
    assert len(label) == 75
    assert label.endswith("…")


def test_summary_prefers_the_title_then_the_first_line() -> None:
    assert summary(node({"kind": "done", "title": "Short", "outcome": "Long text"})) == "Short"
    assert summary(node({"kind": "done", "outcome": "First\nsecond"})) == "First"
    assert summary(node({"kind": "done", "outcome": "x" * 80}), limit=10) == "xxxxxxxxx…"


# -- human in the loop -------------------------------------------------------------------


def test_a_never_auto_remediation_refuses_any_automatic_path() -> None:
    action = node(
        {
            "kind": "action",
            "text": "x",
            "do": {"remediate": {"hook": "rollback-prompt", "never_auto": True}},
        }
    )
    with pytest.raises(AutomaticRemediationRefused, match="rollback-prompt"):
        assert_manual(action, automatic=True)
    assert_manual(action, automatic=False)


def test_other_nodes_may_run_automatically() -> None:
    assert_manual(
        node({"kind": "action", "text": "x", "do": {"remediate": {"hook": "h"}}}), automatic=True
    )
    assert_manual(node({"kind": "done", "outcome": "x"}), automatic=True)


# -- templating --------------------------------------------------------------------------

CONTEXT = make_context(
    {
        "service": "checkout",
        "pod": "x; rm -rf /",
        "quote": 'a"b\\c',
        "tenant": "O'Brien",
        "mention": "<!channel> & co",
    },
    {"summary": "p95 above 800 ms"},
)


def test_a_shell_value_with_metacharacters_is_quoted() -> None:
    command = render(
        "kubectl logs {{ labels.pod }} -n prod", CONTEXT, for_code=True, language="shell"
    )
    assert command == "kubectl logs 'x; rm -rf /' -n prod"
    assert shlex.split(command) == ["kubectl", "logs", "x; rm -rf /", "-n", "prod"]


def test_a_plain_shell_value_is_left_alone() -> None:
    context = make_context({"pod": "api-7f9c:8080/v1=a.b_c"})
    assert render("x {{labels.pod}}", context, for_code=True, language="shell") == (
        "x api-7f9c:8080/v1=a.b_c"
    )


def test_promql_values_escape_backslash_and_double_quote() -> None:
    query = render('up{job="{{ labels.quote }}"}', CONTEXT, for_code=True, language="promql")
    assert query == 'up{job="a\\"b\\\\c"}'


def test_sql_values_double_single_quotes() -> None:
    sql = render("WHERE t = '{{ labels.tenant }}'", CONTEXT, for_code=True, language="sql")
    assert sql == "WHERE t = 'O''Brien'"


def test_text_values_get_slack_escaping() -> None:
    text = render("*{{ labels.mention }}*: {{ annotations.summary }}", CONTEXT, for_code=False)
    assert text == "*&lt;!channel&gt; &amp; co*: p95 above 800 ms"
    assert escape_mrkdwn("a<b>&") == "a&lt;b&gt;&amp;"


def test_the_template_text_itself_is_not_escaped() -> None:
    assert render("<https://x|dash> {{ labels.service }}", CONTEXT, for_code=False) == (
        "<https://x|dash> checkout"
    )


def test_a_missing_value_renders_as_a_visible_marker_escaped_for_its_place() -> None:
    template = "{{ labels.namespace }}"
    assert render(template, CONTEXT, for_code=False) == "&lt;missing labels.namespace&gt;"
    assert render(template, CONTEXT, for_code=True, language="shell") == (
        "'<missing labels.namespace>'"
    )
    assert render(template, CONTEXT, for_code=True, language="text") == (
        "<missing labels.namespace>"
    )


@pytest.mark.parametrize(
    "template",
    [
        "{{ service }}",
        "{{ labels }}",
        "{{ labels.a.b }}",
        "{{ labels['service'] }}",
        "{{ labels.service | upper }}",
        "{{ env.HOME }}",
        "{{ labels.__class__ }}",
    ],
)
def test_only_labels_and_annotations_by_name_render(template: str) -> None:
    rendered = render(template, CONTEXT, for_code=True, language="text")
    assert rendered.startswith("<missing ")
    assert "checkout" not in rendered


def test_links_percent_encode_values() -> None:
    context = make_context({"service": "a b&c=d/e"})
    assert render_url("https://g.example/d?var-s={{ labels.service }}", context) == (
        "https://g.example/d?var-s=a%20b%26c%3Dd%2Fe"
    )


def test_placeholder_names_and_unknown_ones() -> None:
    template = "{{ labels.a }} {{annotations.b}} {{ foo }} {{ labels.x.y }}"
    assert placeholder_names(template) == ["labels.a", "annotations.b", "foo", "labels.x.y"]
    assert unknown_placeholders(template) == ["foo", "labels.x.y"]


_ANY_TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]))


@given(_ANY_TEXT)
def test_any_shell_value_stays_one_argument(value: str) -> None:
    command = render(
        "echo {{ labels.v }} end", make_context({"v": value}), for_code=True, language="shell"
    )
    assert shlex.split(command) == ["echo", value, "end"]


@given(_ANY_TEXT)
def test_any_promql_value_stays_inside_its_string(value: str) -> None:
    query = render(
        'x{l="{{ labels.v }}"}', make_context({"v": value}), for_code=True, language="promql"
    )
    inner = query[len('x{l="') : -len('"}')]
    assert re.fullmatch(r'(?:[^"\\]|\\.)*', inner, flags=re.DOTALL)
    unescaped = re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m[1], m[1]), inner, flags=re.DOTALL)
    assert unescaped == value


@given(_ANY_TEXT)
def test_any_text_value_cannot_open_a_slack_control_sequence(value: str) -> None:
    text = render("{{ labels.v }}", make_context({"v": value}), for_code=False)
    assert "<" not in text and ">" not in text


@pytest.mark.parametrize(
    ("template", "lands", "code"),
    [
        ('echo "{{ labels.x }}"', "shell", "shell-quoting"),
        ("echo '{{ labels.x }}'", "shell", "shell-quoting"),
        ("WHERE a = {{ labels.x }}", "sql", "sql-quoting"),
        ("up{a='{{ labels.x }}'}", "promql", "promql-quoting"),
        ("{{ labels.x }} and {{ x }}", "text", "template"),
        ("{{ labels.x", "text", "template"),
    ],
)
def test_template_problems(template: str, lands: str, code: str) -> None:
    assert [found[0] for found in template_problems(template, lands)] == [code]


@pytest.mark.parametrize(
    ("template", "lands"),
    [
        ("*{{ labels.x }}* is 'down' \"now\"", "text"),
        ("kubectl -n {{ labels.x }} exec -- sh -c 'echo \"$HOME\"' {{ labels.y }}", "shell"),
        ('echo \\"{{ labels.x }}', "shell"),  # an escaped quote opens nothing
        ("WHERE a = '{{ labels.x }}' AND b = 'it''s' AND c = '{{ labels.y }}'", "sql"),
        ('up{a="{{ labels.x }}", b=~"{{ labels.y }}|z"}', "promql"),
    ],
)
def test_well_placed_placeholders_have_no_problems(template: str, lands: str) -> None:
    assert template_problems(template, lands) == []


# -- walking -----------------------------------------------------------------------------


def test_a_walk_starts_at_the_start_node() -> None:
    runbook = make_runbook()
    walk = start(runbook)
    assert walk == Walk(runbook="provider", current="look")
    assert isinstance(current_node(runbook, walk), CheckNode)
    assert not is_finished(runbook, walk)


def test_choose_moves_and_records_node_answer_and_actor() -> None:
    runbook = make_runbook()
    walk = choose(runbook, start(runbook), "look", 0, "U1")
    walk = choose(runbook, walk, "ask", 0, "U2")
    assert walk.current == "fix"
    assert walk.path == (
        Step(node="look", answer="Down", actor="U1"),
        Step(node="ask", answer="Yes", actor="U2"),
    )
    walk = choose(runbook, walk, "fix", 0, "U2")
    assert walk.current == "ok"
    assert walk.path[-1] == Step(node="fix", answer="Run hook failover-llm-provider", actor="U2")
    assert is_finished(runbook, walk)


def test_two_responders_clicking_the_same_step_only_the_first_applies() -> None:
    runbook = make_runbook()
    seen_by_both = start(runbook)
    first = choose(runbook, seen_by_both, "look", 0, "U1")
    with pytest.raises(StaleStep):
        choose(runbook, first, "look", 1, "U2")  # the second click names the old step
    assert first.current == "ask"


def test_an_out_of_date_option_index_is_stale() -> None:
    runbook = make_runbook()
    with pytest.raises(StaleStep):
        choose(runbook, start(runbook), "look", 2, "U1")
    with pytest.raises(StaleStep):
        choose(runbook, start(runbook), "look", -1, "U1")


def test_a_confirmed_final_action_finishes_the_walk() -> None:
    runbook = make_runbook()
    walk = choose(runbook, choose(runbook, start(runbook), "look", 0, "U1"), "ask", 1, "U1")
    assert walk.current == "page" and not is_finished(runbook, walk)
    walk = choose(runbook, walk, "page", 0, "U1")
    assert walk.finished and walk.current == "page"
    assert is_finished(runbook, walk)
    with pytest.raises(StaleStep):
        choose(runbook, walk, "page", 0, "U2")


def test_back_undoes_the_last_answer() -> None:
    runbook = make_runbook()
    walk = choose(runbook, start(runbook), "look", 0, "U1")
    assert back(walk) == start(runbook)
    with pytest.raises(NothingToDo):
        back(start(runbook))
    with pytest.raises(StaleStep):
        back(walk, node_id="look")
    assert back(walk, node_id="ask").current == "look"


def test_back_from_a_finished_walk_reopens_it() -> None:
    runbook = make_runbook()
    walk = start(runbook)
    for node_id, index in (("look", 0), ("ask", 1), ("page", 0)):
        walk = choose(runbook, walk, node_id, index, "U1")
    previous = back(walk)
    assert (previous.current, previous.finished, len(previous.path)) == ("page", False, 2)


def test_restart_goes_back_to_start() -> None:
    runbook = make_runbook()
    walk = choose(runbook, start(runbook), "look", 1, "U1")
    assert restart(runbook, walk) == start(runbook)
    with pytest.raises(RunbookError):
        restart(make_runbook(id="other"), walk)


def test_a_walk_on_a_node_the_runbook_no_longer_has_is_stale() -> None:
    runbook = make_runbook()
    walk = Walk(runbook="provider", current="removed")
    with pytest.raises(StaleStep):
        choose(runbook, walk, "removed", 0, "U1")


def test_a_walk_survives_a_json_round_trip() -> None:
    runbook = make_runbook()
    walk = choose(runbook, start(runbook), "look", 0, "U1")
    assert Walk.model_validate_json(walk.model_dump_json()) == walk


# -- linking -----------------------------------------------------------------------------


def _serving(runbook_id: str, **serves: list[str]) -> Runbook:
    return make_runbook(id=runbook_id, serves=serves)


RUNBOOKS = [
    _serving("by-type", alert_types=["model"]),
    _serving("by-name", alertnames=["FTLHigh"]),
    _serving("labelled", alert_types=["infra"]),
    _serving("routed", alert_types=["cost"]),
]


@pytest.mark.parametrize(
    ("labels", "route_runbook", "expected"),
    [
        (
            {"alertname": "FTLHigh", "alert_type": "model", "runbook": "labelled"},
            "routed",
            "routed",
        ),
        ({"alertname": "FTLHigh", "alert_type": "model", "runbook": "labelled"}, None, "labelled"),
        ({"alertname": "FTLHigh", "alert_type": "model", "runbook": "nope"}, "nope", "by-name"),
        ({"alertname": "FTLHigh", "alert_type": "model"}, None, "by-name"),
        ({"alertname": "Other", "alert_type": "model"}, None, "by-type"),
        ({"alertname": "Other", "alert_type": "tool"}, None, None),
        ({}, None, None),
    ],
)
def test_runbook_for_precedence(
    labels: dict[str, str], route_runbook: str | None, expected: str | None
) -> None:
    found = runbook_for(RUNBOOKS, labels, route_runbook)
    assert (found.id if found else None) == expected


def test_runbook_for_picks_the_first_runbook_serving_a_type() -> None:
    twins = [_serving("first", alert_types=["model"]), _serving("second", alert_types=["model"])]
    found = runbook_for(twins, {"alert_type": "model"}, None)
    assert found is not None and found.id == "first"
