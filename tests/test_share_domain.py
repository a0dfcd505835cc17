"""What a shared page may show, as pure functions: scrubbing, public rows, tokens."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.domain import share


def test_slack_markup_becomes_plain_words():
    text = ("<@U024BE7LH> and <@U0ALICE01|alice> asked <!subteam^S0123ABCD|@platform> in "
            "<#C0123ABCD> at <!date^1700000000^{time}|03:00 UTC> <!channel> *now* `kubectl`")
    assert share.scrub(text) == ("a responder and alice asked platform in a channel at "
                                 "03:00 UTC now kubectl")


def test_links_and_hosts_go_unless_allow_listed():
    text = ("see <https://grafana.corp.internal/d/1|the board>, <http://10.0.0.7:3000/x>, "
            "https://status.example.com/i/9 and api.eu.status.example.com, redis-0.lan:6379, "
            "[fe80::1:2:3:4] and mail <mailto:ops@corp.example|ops>")
    scrubbed = share.scrub(text, allowed_hosts=["status.example.com"])
    assert scrubbed == ("see the board, [link removed], https://status.example.com/i/9 and "
                        "api.eu.status.example.com, [host removed], [host removed] and mail ops")


def test_hidden_label_values_are_replaced_wherever_they_appear():
    assert share.scrub("Acme calls fail for acme-eu", hidden_values=["acme", "eu"]) == \
        "(hidden) calls fail for (hidden)-eu"


def test_notes_are_internal_unless_marked_public_and_milestones_use_fixed_words():
    assert share.public_text("note", "db creds rotated", {}) is None
    assert share.public_text("note", "Recovering", {"public": True}) == ("update", "Recovering")
    assert share.public_text("status_update", "Fixed", {}) == ("update", "Fixed")
    assert share.public_text("acked", "acknowledged by <@U1>", {}) == (
        "milestone", "A responder acknowledged the incident.")
    for internal in ("routed", "received", "denied", "paged", "shared_link"):
        assert share.public_text(internal, "x", {}) is None


def test_tokens_are_128_bit_hashed_and_compared_by_hash():
    token = share.new_token()
    assert len(token) == 22 and share.plausible_token(token)
    assert share.same_hash(share.token_hash(token), token)
    assert not share.same_hash(share.token_hash(token), share.new_token())
    assert len({share.new_token() for _ in range(1000)}) == 1000
    assert not share.plausible_token("../../etc/passwd") and not share.plausible_token("")


@given(st.text(max_size=300))
def test_no_slack_mention_or_id_survives_scrubbing(text):
    scrubbed = share.scrub(f"{text} <@U024BE7LH> <#C0123ABCD|x> <!everyone> {text}")
    assert "<@" not in scrubbed and "<!" not in scrubbed and "U024BE7LH" not in scrubbed
