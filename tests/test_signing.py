"""Outgoing webhook signatures: sign, verify, replays, rotation, the README receiver snippet."""

from __future__ import annotations

import hashlib
import hmac
import textwrap
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import signing
from bot.domain.signing import idempotency_key, sign, signature, verify

SECRET = "whsec-test-secret"
BODY = b'{"event":"trigger","incident":{"id":42}}'
NOW = 1_700_000_000


def test_header_shape_and_value() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET, NOW) == f"t=1700000000,v1={expected}"
    assert signature(BODY, SECRET, NOW) == expected


def test_golden_signature() -> None:
    # Fixed vector, so a receiver in another language can test against it.
    assert sign(b"{}", "secret", 1) == (
        "t=1,v1=" + hmac.new(b"secret", b"1.{}", hashlib.sha256).hexdigest()
    )


def test_verifies_its_own_signature_within_tolerance() -> None:
    header = sign(BODY, SECRET, NOW)
    assert verify(header, BODY, SECRET, NOW)
    assert verify(header, BODY, SECRET, NOW + 300)
    assert verify(header, BODY, SECRET, NOW - 300)  # a receiver clock a little behind


@pytest.mark.parametrize("age", [301, 3600, NOW])
def test_rejects_replays_older_than_tolerance(age: int) -> None:
    assert not verify(sign(BODY, SECRET, NOW), BODY, SECRET, NOW + age)


def test_rejects_timestamps_far_in_the_future() -> None:
    assert not verify(sign(BODY, SECRET, NOW + 301), BODY, SECRET, NOW)


def test_tolerance_is_adjustable() -> None:
    header = sign(BODY, SECRET, NOW)
    assert not verify(header, BODY, SECRET, NOW + 61, tolerance=60)
    assert verify(header, BODY, SECRET, NOW + 60, tolerance=60)


def test_rejects_tampered_body_wrong_secret_and_moved_timestamp() -> None:
    header = sign(BODY, SECRET, NOW)
    assert not verify(header, BODY.replace(b"42", b"43"), SECRET, NOW)
    assert not verify(header, BODY + b" ", SECRET, NOW)
    assert not verify(header, BODY, "another-secret", NOW)
    moved = header.replace(f"t={NOW}", f"t={NOW + 1}")
    assert not verify(moved, BODY, SECRET, NOW)


def test_secret_rotation_both_ways() -> None:
    both = sign(BODY, ["new-secret", "old-secret"], NOW)
    assert both.count("v1=") == 2
    assert verify(both, BODY, "old-secret", NOW)
    assert verify(both, BODY, "new-secret", NOW)
    assert verify(sign(BODY, "old-secret", NOW), BODY, ["new-secret", "old-secret"], NOW)
    assert not verify(both, BODY, "third-secret", NOW)


def test_skips_unknown_schemes_and_spaces() -> None:
    v1 = signature(BODY, SECRET, NOW)
    assert verify(f"t={NOW}, v0=abc, v1={v1}", BODY, SECRET, NOW)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"v1={'0' * 64}",
        f"t={NOW}",
        f"t={NOW},v1=",
        f"t={NOW},v1={'z' * 64}",
        f"t={NOW},v1={'A' * 64}",
        f"t={NOW},v1={'0' * 63}",
        f"t=-{NOW},v1={'0' * 64}",
        f"t=+{NOW},v1={'0' * 64}",
        f"t=١٧٠٠٠٠٠٠٠٠,v1={'0' * 64}",  # Arabic-Indic digits: int() would read them
        f"t={NOW},t={NOW},v1={'0' * 64}",
        f"t={NOW},,v1={'0' * 64}",
        f"t={NOW};v1={'0' * 64}",
        f"t={NOW},v1={'é' * 64}",
        "t=1,v1=" + ",v1=".join(["0" * 64] * 9),
        "t=1," + "x" * 5000,
    ],
)
def test_rejects_malformed_headers(header: str) -> None:
    assert verify(header, BODY, SECRET, NOW) is False


def test_a_valid_entry_among_many_bad_signatures_still_counts() -> None:
    good = signature(BODY, SECRET, NOW)
    assert verify(f"t={NOW},v1={'0' * 64},v1={good}", BODY, SECRET, NOW)


def test_sign_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="non-empty secret"):
        sign(BODY, "", NOW)
    with pytest.raises(ValueError, match="non-empty secret"):
        sign(BODY, [], NOW)
    assert not verify(sign(BODY, SECRET, NOW), BODY, "", NOW)


@given(header=st.text(max_size=300), body=st.binary(max_size=64), now=st.integers(0, 2**40))
def test_verify_never_raises_on_arbitrary_headers(header: str, body: bytes, now: int) -> None:
    assert verify(header, body, SECRET, now) in (True, False)


@given(
    items=st.lists(
        st.tuples(st.sampled_from(["t", "v1", "v0", "", "T"]), st.text(max_size=70)), max_size=6
    ),
    now=st.integers(0, 2**34),
)
def test_verify_never_raises_on_header_shaped_text(items: list[tuple[str, str]], now: int) -> None:
    header = ",".join(f"{key}={value}" for key, value in items)
    assert verify(header, BODY, SECRET, now) in (True, False)


@given(
    body=st.binary(max_size=256), secret=st.text(min_size=1, max_size=40), now=st.integers(0, 2**33)
)
def test_sign_then_verify_round_trips(body: bytes, secret: str, now: int) -> None:
    assert verify(sign(body, secret, now), body, secret, now)


# -- idempotency keys -------------------------------------------------------------------


def test_idempotency_key_is_stable_and_distinct() -> None:
    key = idempotency_key("page", 42, "U0PRIMARY1", 3)
    assert key == idempotency_key("page", 42, "U0PRIMARY1", 3)
    assert len(key) == 64 and int(key, 16) >= 0
    assert key != idempotency_key("page", 42, "U0PRIMARY1", 4)
    assert idempotency_key("ab", "c") != idempotency_key("a", "bc")
    assert idempotency_key("a,b") != idempotency_key("a", "b")


def test_idempotency_key_golden() -> None:
    # A stored key must stay valid across releases: pin the encoding.
    assert idempotency_key("page", 42) == hashlib.sha256(b'["page", "42"]').hexdigest()


def test_idempotency_key_needs_parts() -> None:
    with pytest.raises(ValueError, match="at least one part"):
        idempotency_key()


# -- the receiver snippet the README quotes ---------------------------------------------


def _snippet_verifier():
    doc = signing.__doc__ or ""
    code = textwrap.dedent(doc.split("::", 1)[1])
    namespace: dict[str, object] = {}
    exec(compile(code, "signing-snippet", "exec"), namespace)
    return namespace["verify_oncall_signature"]


def test_the_documented_receiver_snippet_agrees_with_verify() -> None:
    verify_snippet = _snippet_verifier()
    now = int(time.time())
    header = sign(BODY, SECRET, now)
    assert verify_snippet(header, BODY, SECRET)
    assert verify_snippet(sign(BODY, [SECRET, "old"], now), BODY, "old")
    assert not verify_snippet(header, BODY + b"x", SECRET)
    assert not verify_snippet(sign(BODY, SECRET, now - 301), BODY, SECRET)
    assert not verify_snippet("t=abc,v1=00", BODY, SECRET)
    assert not verify_snippet(f"t={now},v1={'é' * 64}", BODY, SECRET)
