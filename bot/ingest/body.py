"""The raw webhook body -> JSON, with every whole-body problem answered 4xx, never 5xx.

Alertmanager drops a webhook answered 4xx and retries a 5xx forever, so what cannot become
JSON at all is the sender's fault, said once: a wrong content type or coding (415), a false
`Content-Encoding` (400), nesting deep enough to exhaust Python's recursion (400, found by a
bracket scan before parsing). Numbers JSON allows but no column holds (beyond 64 bits, NaN,
Infinity, 1e400) become `BadNumber` markers, so the alert holding one is rejected alone.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import zlib
from dataclasses import dataclass
from typing import Any

from aiohttp import hdrs, web

MAX_DEPTH = 64
PARSE_INLINE_BYTES = 256 * 1024
INT64_MAX = 2**63 - 1
JSON_TYPES = ("application/json",)
#: zlib window bits per coding: gzip only, or zlib-wrapped deflate (what HTTP calls deflate).
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}

_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACES_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")  # depth is all that matters here


class BodyError(ValueError):
    """The body as a whole is unusable: its status (4xx) and what to tell the sender."""

    def __init__(self, status: int, message: str):
        self.status, self.message = status, message
        super().__init__(message)


@dataclass(frozen=True)
class BadNumber:
    """A JSON number we cannot keep, left where it was so its alert alone is rejected."""

    text: str
    why: str


async def read_json(request: web.Request, max_bytes: int) -> Any:
    """Check the headers, read and decompress the body, bound its depth, parse it."""
    coding = _check_headers(request)
    try:
        data = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise BodyError(413, f"body larger than {max_bytes} bytes") from exc
    data = decompress(data, coding, max_bytes)
    if len(data) > PARSE_INLINE_BYTES:  # megabytes of JSON: keep the event loop answering
        return await asyncio.to_thread(parse_json, data)
    return parse_json(data)


def decompress(data: bytes, coding: str, max_bytes: int) -> bytes:
    """Undo `Content-Encoding` ourselves (the server's auto_decompress is off): a body that is
    not what its header says is the sender's 400, and a zip bomb stops at `max_bytes`."""
    if coding in ("", "identity"):
        return data
    inflater = zlib.decompressobj(wbits=_WBITS[coding])
    try:
        plain = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise BodyError(400, f"body is not {coding} as its Content-Encoding says: {exc}") from exc
    if len(plain) > max_bytes:
        raise BodyError(413, f"body larger than {max_bytes} bytes once decompressed")
    if not inflater.eof:
        raise BodyError(400, f"body is a cut-off {coding} stream")
    return plain


def parse_json(data: bytes) -> Any:
    if too_deep(data):
        raise BodyError(400, f"body is nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(data, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise BodyError(400, f"body is not valid JSON: {exc}") from exc


def too_deep(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than `limit` (a scan, no recursion).

    Each pass deletes every innermost pair at C speed, so balanced brackets d deep are gone
    after d passes; an opener still there after `limit` passes is deeper than the limit (or
    unbalanced, which json.loads would refuse anyway)."""
    brackets = _STRING.sub(b"", data).translate(_BRACES_AS_BRACKETS, _NOT_BRACKETS)
    for _ in range(limit):
        shorter = brackets.replace(b"[]", b"")
        if shorter == brackets:
            break
        brackets = shorter
    return b"[" in brackets


def _check_headers(request: web.Request) -> str:
    if hdrs.CONTENT_TYPE in request.headers and not (
            request.content_type in JSON_TYPES or request.content_type.endswith("+json")):
        raise BodyError(415, f"Content-Type must be application/json, not "
                             f"{request.content_type!r}")
    coding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    if coding not in ("", "identity", *_WBITS):
        raise BodyError(415, f"unsupported Content-Encoding {coding!r} "
                             "(use gzip, deflate or none)")
    return coding


def _int(text: str) -> int | BadNumber:
    if len(text.lstrip("-")) > 19 or not -INT64_MAX - 1 <= (number := int(text)) <= INT64_MAX:
        return BadNumber(text[:32], "a number beyond 64 bits")
    return number


def _float(text: str) -> float | BadNumber:
    number = float(text)
    return number if math.isfinite(number) else BadNumber(text[:32], "a number beyond float range")


def _constant(text: str) -> BadNumber:
    return BadNumber(text, "NaN and Infinity are not JSON numbers")
