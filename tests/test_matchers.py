"""Alertmanager label matchers: parsing, matching, rendering and Go regex semantics.

The parse table follows Alertmanager 0.25's pkg/labels/parse_test.go; the regex cases
are the places where Go's RE2 and Python's `re` disagree unless translated.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.domain.matchers import (
    Matcher,
    MatcherError,
    MatchOp,
    compile_regex,
    matchers_from_route,
    parse_matcher,
    parse_matchers,
)

EQ, NE, RE, NRE = MatchOp.EQUAL, MatchOp.NOT_EQUAL, MatchOp.REGEX, MatchOp.NOT_REGEX


def m(name: str, op: MatchOp, value: str) -> Matcher:
    return Matcher(name=name, op=op, value=value)


# -- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{foo="bar"}', [m("foo", EQ, "bar")]),
        ('{foo=~"bar.*"}', [m("foo", RE, "bar.*")]),
        ('{foo!="bar"}', [m("foo", NE, "bar")]),
        ('{foo!~"bar.*"}', [m("foo", NRE, "bar.*")]),
        ('{foo="bar", baz!="quux"}', [m("foo", EQ, "bar"), m("baz", NE, "quux")]),
        (
            '{foo="bar",baz!~".*quux", derp="wat"}',
            [m("foo", EQ, "bar"), m("baz", NRE, ".*quux"), m("derp", EQ, "wat")],
        ),
        ('{foo=""}', [m("foo", EQ, "")]),
        ("job=", [m("job", EQ, "")]),
        ('{foo="bar,quux", job="job1"}', [m("foo", EQ, "bar,quux"), m("job", EQ, "job1")]),
        ('{foo = "bar", dings != "bums", }', [m("foo", EQ, "bar"), m("dings", NE, "bums")]),
        ("foo=bar,dings!=bums", [m("foo", EQ, "bar"), m("dings", NE, "bums")]),
        ("foo=bar, dings!=bums", [m("foo", EQ, "bar"), m("dings", NE, "bums")]),
        (
            r'{quote="She said: \"Hi, ladies! That' "'" r's gender-neutral…\""}',
            [m("quote", EQ, 'She said: "Hi, ladies! That\'s gender-neutral…"')],
        ),
        ('statuscode=~"5.."', [m("statuscode", RE, "5..")]),
        ("tricky=~~~", [m("tricky", RE, "~~")]),
        (r"trickier==\\=\=\"", [m("trickier", EQ, '=\\=\\="')]),
        (
            r'contains_quote != "\"" , contains_comma !~ "foo,bar" , ',
            [m("contains_quote", NE, '"'), m("contains_comma", NRE, "foo,bar")],
        ),
        (r'a="line\nbreak"', [m("a", EQ, "line\nbreak")]),
        (r'a="back\\slash"', [m("a", EQ, "back\\slash")]),
        (r'a="spurious\qescape"', [m("a", EQ, "spurious\\qescape")]),
        ("a=trailing\\", [m("a", EQ, "trailing\\")]),
        ('  a  =  "  padded  "  ', [m("a", EQ, "  padded  ")]),
        ("ns:name=x", [m("ns:name", EQ, "x")]),
        ("", []),
        ("{}", []),
    ],
)
def test_parses_like_alertmanager(text: str, expected: list[Matcher]) -> None:
    assert parse_matchers(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('job="value', "unescaped double quote"),
        ('job=value"', "unescaped double quote"),
        (r'trickier==\\=\=\""', "unescaped double quote"),
        ('contains_unescaped_quote = foo"bar', "unescaped double quote"),
        ('{invalid-name = "valid label"}', "bad matcher format"),
        ('{foo=~"invalid[regexp"}', "missing closing ]"),
        (r'"{foo=\"bar"}', "bad matcher format"),
        (r'"foo=\"bar\""', "bad matcher format"),
        ('"foo="bar""', "bad matcher format"),
        ("foo", "bad matcher format"),
        ("a=b,,c=d", "bad matcher format"),
        ("1abc=x", "bad matcher format"),
        ("a=~(", "missing closing \\)"),
    ],
)
def test_refuses_what_alertmanager_refuses(text: str, problem: str) -> None:
    with pytest.raises(MatcherError, match=problem):
        parse_matchers(text)


def test_bad_format_message_says_what_is_expected() -> None:
    with pytest.raises(MatcherError) as caught:
        parse_matcher("severity critical")
    message = str(caught.value)
    assert "'severity critical'" in message
    assert "=, !=, =~, !~" in message


def test_a_lone_surrogate_is_not_utf8() -> None:
    with pytest.raises(MatcherError, match="UTF-8"):
        parse_matcher('a="\ud800"')


# -- matching --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        ('severity="critical"', {"severity": "critical"}, True),
        ('severity="critical"', {"severity": "Critical"}, False),
        ('severity!="critical"', {}, True),
        ('team=""', {}, True),
        ('team=""', {"team": ""}, True),
        ('team!=""', {}, False),
        ('team=~".*"', {}, True),
        ('team=~".+"', {}, False),
        ('team!~".+"', {}, True),
        ('env=~"prod|staging"', {"env": "staging"}, True),
        ('env=~"prod|staging"', {"env": "prod-eu"}, False),  # anchored at both ends
        ('env=~"prod"', {"env": "preprod"}, False),
        ('env=~"prod.*"', {"env": "production"}, True),
        ('env!~"prod.*"', {"env": "production"}, False),
    ],
)
def test_matches_like_alertmanager(matcher: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(matcher).matches(labels) is expected


@pytest.mark.parametrize(
    ("regex", "value", "expected"),
    [
        ("(?i)critical", "CRITICAL", True),
        ("warn|(?i)crit", "CRIT", True),  # a bare flag lasts to the end of its group
        ("(?i)a(?-i)b", "Ab", True),
        ("(?i)a(?-i)b", "AB", False),
        ("(a(?i)b)c", "aBc", True),
        ("(a(?i)b)c", "aBC", False),  # ...and no further
        ("foo", "foo\n", False),  # Go's $ is the end of text, Python's also before a final \n
        ("foo$", "foo\n", False),
        ("(?m)foo$\n", "foo\n", True),
        ("x)|(y", "x-anything", True),  # Go wraps the text in ^(?:...)$ before parsing
        ("x)|(y", "anything-y", True),
        ("x)|(y", "anything", False),
        (r"\d+", "123", True),
        (r"\d+", "١٢٣", False),  # Go's \d is ASCII only
        (r"\w+", "héllo", False),
        (r"\s", "\u00a0", False),
        (r"[\D]", "١", True),
        ("[[:alpha:]]+", "abcXYZ", True),
        ("[[:^digit:]]", "a", True),
        ("[[:^digit:]]", "5", False),
        (r"\Qa.b\E", "a.b", True),
        (r"\Qa.b\E", "axb", False),
        (r"\x41\x{42}\103", "ABC", True),
        ("a{,3}", "a{,3}", True),  # not a repeat in Go: a literal brace
        ("a{2,3}", "aaa", True),
        ("^*a", "a", True),
        ("\\B", "", True),  # Python's own \B never matches an empty string
        ("\\b", "", False),
        ("a(?i)*", "aaa", True),  # a repetition after a bare flag applies to the atom before
        ("(ab)+(?i)?c", "C", True),
        ("(ab)+(?i)?c", "abC", True),
        ("[[:alpha:]]+(?s)?(a|b)\n", "a\n", True),
        ("(?i)\\W", "k", False),  # Go folds \w (k, K, Kelvin sign) before negating it
        ("(?i)\\W", "\u212a", False),
        ("(?i)\\w", "\u212a", True),
        ("[a\\W]+", "a-", True),
        ("[^a\\W]+", "bc", True),
        ("[^a\\W]+", "ba", False),
        ("[[:^alpha:]]+", "1-", True),
        (".", "\n", False),
        ("(?s).", "\n", True),
        ("[^a]", "\n", True),
        ("(?P<svc>api)-.*", "api-1", True),
        (r"\.", ".", True),
        ("[]a]+", "]a", True),
        ("[a-]+", "-a", True),
        (r"\pL+", "héllo", True),  # Unicode classes, as Go has them
        (r"\pL+", "h3llo", False),
        (r"\p{Greek}+", "αβγ", True),
        (r"\p{Greek}+", "abc", False),
        (r"[\p{Lu}\d]+", "A1B", True),
        (r"\PL", "1", True),
        ("(?U)a+", "aaa", True),  # ungreedy changes which match, never whether
        ("(?U)a+?b", "aab", True),
    ],
)
def test_regexes_follow_go_semantics(regex: str, value: str, expected: bool) -> None:
    assert m("x", RE, regex).matches({"x": value}) is expected


@pytest.mark.parametrize(
    ("regex", "problem"),
    [
        ("a**", "invalid nested repetition operator: `\\*\\*`"),
        ("a*+", "nested repetition"),
        ("a{2}{3}", "nested repetition"),
        ("(?=a)", "unsupported Perl syntax: `\\(\\?=`"),
        ("(?<name>a)", "unsupported Perl syntax"),  # RE2 takes it; Go 1.19 does not
        ("(?P<naïve>a)", "invalid named capture"),  # likewise
        (r"\C", "invalid escape sequence: `\\\\C`"),  # likewise
        (r"\p{Kawi}", "invalid character class range"),  # Unicode 15: newer than Go 1.19
        ("(?x)a", "unsupported Perl syntax"),
        ("(?i-)a", "unsupported Perl syntax"),
        (r"(a)\1", "invalid escape sequence"),
        (r"\Z", "invalid escape"),
        (r"\é", "invalid escape"),
        (r"[\b]", "invalid escape"),
        ("a{1001}", "invalid repeat count"),
        ("a{3,2}", "repeat count"),
        ("[z-a]", "character class range"),
        ("[[:nope:]]", "character class range"),
        ("(a", "missing closing \\): `\\^\\(\\?:\\(a\\)\\$`"),
        ("a)", "unexpected \\)"),
        ("[a", "missing closing ]"),
        ("*", "missing argument to repetition operator"),
        ("(" * 999 + ")" * 999, "expression nests too deeply"),
        (r"\pL{1000}", "expression too large"),  # Go takes it after seconds; we refuse it
    ],
)
def test_refuses_regexes_go_refuses(regex: str, problem: str) -> None:
    with pytest.raises(MatcherError, match=problem):
        compile_regex(regex)


@pytest.mark.parametrize("regex", ["(a+)+", "(a|a)+", "(a*)*b", "(.*a){20}"])
def test_pathological_regexes_match_in_linear_time(regex: str) -> None:
    """Backtracking engines take seconds (or years) here; RE2 takes microseconds."""
    value = "a" * 4096 + "!"
    started = time.perf_counter()  # wall clock ok: measuring the regex engine itself
    assert not m("x", RE, regex).matches({"x": value})
    assert time.perf_counter() - started < 0.05  # wall clock ok


def test_a_regex_is_compiled_once() -> None:
    assert compile_regex("crit.*") is compile_regex("crit.*")
    assert m("x", RE, "crit.*")._regex is m("y", NRE, "crit.*")._regex


def test_unanchored_regexes_search_and_replace_for_redaction() -> None:
    secret = compile_regex(r"sk-[A-Za-z0-9]{8}", anchored=False)
    assert secret.matches("key sk-ABCDEFGH here")
    assert not compile_regex(r"sk-[A-Za-z0-9]{8}").matches("key sk-ABCDEFGH here")
    assert secret.sub("[redacted]", "a sk-ABCDEFGH b sk-12345678") == "a [redacted] b [redacted]"


def test_sub_takes_a_function_of_each_match() -> None:
    """Credit-card redaction decides per match (Luhn): the function sees the matched text."""
    digits = compile_regex(r"[0-9]+", anchored=False)
    seen: list[str] = []

    def keep_odd(match) -> str:
        seen.append(match.group(0))
        return match.group(0) if int(match.group(0)) % 2 else "<even>"

    assert digits.sub(keep_odd, "a 12 b 7 c 100 d") == "a <even> b 7 c <even> d"
    assert seen == ["12", "7", "100"]
    assert digits.sub(lambda _match: r"\1 $0", "x1") == r"x\1 $0"  # replacement is literal


def test_sub_turns_a_lone_surrogate_into_a_replacement_character() -> None:
    """A JSON `\\ud800` label value cannot crash redaction (Go's decoder makes it U+FFFD)."""
    secret = compile_regex(r"sk-[a-z]{4}", anchored=False)
    assert secret.sub("[r]", "\ud800 sk-abcd") == "\ufffd [r]"


def test_invalid_regex_in_a_model_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="missing closing"):
        Matcher(name="a", op=RE, value="(")


# -- rendering and route nodes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("matcher", "text"),
    [
        (m("a", EQ, "b"), 'a="b"'),
        (m("a", NRE, "x|y"), 'a!~"x|y"'),
        (m("a", NE, 'say "hi"\nback\\slash'), r'a!="say \"hi\"\nback\\slash"'),
    ],
)
def test_renders_like_alertmanager(matcher: Matcher, text: str) -> None:
    assert str(matcher) == text


def test_route_matchers_merge_legacy_keys_and_sort_like_alertmanager() -> None:
    found = matchers_from_route(
        ['{team="b", severity!="info"}', 'alertname=~"Disk.*"'],
        {"team": "a"},
        {"service": "api|web"},
    )
    assert [str(matcher) for matcher in found] == [
        'alertname=~"Disk.*"',
        'service=~"^(?:api|web)$"',  # match_re is anchored when read: `amtool config routes show`
        'severity!="info"',
        'team="a"',
        'team="b"',
    ]


@pytest.mark.parametrize(
    ("match", "match_re", "problem"),
    [
        ({"bad-name": "x"}, {}, "invalid label name"),
        ({"ns:name": "x"}, {}, "invalid label name"),
        ({}, {"a": "("}, "missing closing"),
    ],
)
def test_route_legacy_keys_are_checked(
    match: dict[str, str], match_re: dict[str, str], problem: str
) -> None:
    with pytest.raises(MatcherError, match=problem):
        matchers_from_route([], match, match_re)


# -- properties --------------------------------------------------------------------------

label_names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,8}", fullmatch=True)
label_values = st.text(max_size=12)
label_sets = st.dictionaries(st.sampled_from(["a", "b", "severity"]), label_values, max_size=3)
REGEXES = ["", ".*", ".+", "a|b", "(?i)crit.*", r"\d+", "[^a]*", "x)|(y", r"\Qa.b\E", "é?"]


@given(name=st.sampled_from(["a", "b", "severity"]), value=label_values, labels=label_sets)
def test_equal_and_not_equal_are_complements(name: str, value: str, labels: dict[str, str]) -> None:
    assert m(name, EQ, value).matches(labels) is not m(name, NE, value).matches(labels)


@given(name=st.sampled_from(["a", "b"]), regex=st.sampled_from(REGEXES), labels=label_sets)
def test_regex_and_not_regex_are_complements(name: str, regex: str, labels: dict[str, str]) -> None:
    assert m(name, RE, regex).matches(labels) is not m(name, NRE, regex).matches(labels)


@given(name=label_names, op=st.sampled_from([EQ, NE]), value=label_values)
def test_rendering_then_parsing_round_trips(name: str, op: MatchOp, value: str) -> None:
    original = m(name, op, value)
    assert parse_matcher(str(original)) == original
    assert parse_matchers("{" + str(original) + ", " + str(original) + "}") == [original] * 2


@given(name=label_names, op=st.sampled_from([RE, NRE]), regex=st.sampled_from(REGEXES))
def test_rendering_then_parsing_round_trips_regexes(name: str, op: MatchOp, regex: str) -> None:
    original = m(name, op, regex)
    assert parse_matcher(str(original)) == original


@given(value=label_values)
def test_a_literal_regex_matches_only_itself(value: str) -> None:
    escaped = "".join("\\" + c if c in r"\.+*?()|[]{}^$" else c for c in value)
    assert m("x", RE, escaped).matches({"x": value})
    assert not m("x", RE, escaped).matches({"x": value + "!"})


def test_a_stored_matcher_is_parsed_and_compiled_once() -> None:
    """Silences keep matchers as text; checking each alert must not re-parse them."""
    first = parse_matcher('service=~"api|web"')
    assert parse_matcher('service=~"api|web"') is first
    assert first._regex is compile_regex("api|web")
