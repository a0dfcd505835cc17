"""The signature on every outgoing webhook of the bot, so a receiver can trust and dedupe it.

Header: `X-Oncall-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`, with
the raw request body, byte for byte. During a secret rotation the bot signs with both
secrets, one `v1=` entry each; a receiver accepts the request when any entry matches. A
request older (or newer) than five minutes is refused, so a captured request cannot be
replayed later. `Idempotency-Key` carries the same value on every retry of one delivery.

Verifying on the receiving side (Python, standard library only; pass the raw body bytes as
received, not JSON parsed and dumped again)::

    import hashlib
    import hmac
    import re
    import time

    def verify_oncall_signature(header: str, body: bytes, secret: str) -> bool:
        fields = [item.strip().partition("=") for item in header.split(",")]
        stamps = [value for key, _, value in fields if key == "t"]
        signatures = [value for key, _, value in fields if key == "v1"]
        if len(stamps) != 1 or not re.fullmatch(r"[0-9]{1,12}", stamps[0]):
            return False
        if abs(time.time() - int(stamps[0])) > 300:  # wall clock ok: the receiver's
            return False  # too old: a replay, or a clock far off
        signed = stamps[0].encode() + b"." + body
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest().encode()
        return any(hmac.compare_digest(expected, s.encode()) for s in signatures)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence

SIGNATURE_HEADER = "X-Oncall-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE = 300
MAX_HEADER_LENGTH = 2048
MAX_SIGNATURES = 8

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of `<t>.<body>`: binding the time stops replays with a new `t`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str | Sequence[str], now: int) -> str:
    """The header value for `body` sent at `now`; several secrets give several `v1=` entries."""
    secrets = _secrets(secret)
    if not secrets or not all(secrets):
        raise ValueError("signing needs a non-empty secret")
    entries = [f"v1={signature(body, one, now)}" for one in secrets]
    return ",".join([f"t={now}", *entries])


def verify(
    header: str,
    body: bytes,
    secret: str | Sequence[str],
    now: int,
    tolerance: int = DEFAULT_TOLERANCE,
) -> bool:
    """True only for a well-formed, fresh header whose `v1=` matches one of our secrets."""
    parsed = _parse(header)
    if parsed is None:
        return False
    timestamp, candidates = parsed
    if abs(now - timestamp) > tolerance:
        return False
    expected = [signature(body, one, timestamp) for one in _secrets(secret) if one]
    # Compare every pair, so the time taken does not tell which entry came close.
    matches = [hmac.compare_digest(want, got) for want in expected for got in candidates]
    return any(matches)


def _secrets(secret: str | Sequence[str]) -> list[str]:
    return [secret] if isinstance(secret, str) else list(secret)


def _parse(header: object) -> tuple[int, list[str]] | None:
    """(t, v1 signatures) of a header, or None when anything about it is off."""
    if not isinstance(header, str) or len(header) > MAX_HEADER_LENGTH:
        return None
    stamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, equals, value = item.strip().partition("=")
        if not equals:
            return None
        if key == "t":
            stamps.append(value)
        elif key == "v1":
            signatures.append(value)
        # Other schemes (v0, v2...) are skipped, so a newer sender stays readable.
    if len(stamps) != 1 or not _TIMESTAMP.fullmatch(stamps[0]):
        return None
    if not 0 < len(signatures) <= MAX_SIGNATURES:
        return None
    if not all(_HEX_SHA256.fullmatch(one) for one in signatures):
        return None
    return int(stamps[0]), signatures


def idempotency_key(*parts: object) -> str:
    """A stable key for one delivery (e.g. intent id, target), the same on every retry."""
    if not parts:
        raise ValueError("an idempotency key needs at least one part")
    # JSON keeps part boundaries: ("ab", "c") and ("a", "bc") differ.
    canonical = json.dumps([str(part) for part in parts], ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def signed_headers(body: bytes, secret: str | Sequence[str], now: int, key: str,
                   extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Headers for one outgoing webhook: configured ones first, then ours, which always win."""
    return {**(extra or {}), "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, secret, now), IDEMPOTENCY_HEADER: key}
