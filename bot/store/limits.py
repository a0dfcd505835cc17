"""Text longer than its column is cut with a marker before it is written, on every database.

PostgreSQL refuses a value longer than its VARCHAR (a DataError that would fail the whole
webhook); SQLite stores it whole. Cutting at flush makes both behave the same, for every table,
so an alert with a 5,000-character service label is kept, not lost. Identity columns whose cut
would merge two things (an alert's fingerprint, a group key) are bounded before they get here.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

from sqlalchemy import String, event, inspect
from sqlmodel import Session

MARKER = "…"


def fit(text: str, length: int) -> str:
    """`text` cut to `length` characters, the last one the marker, when it is longer."""
    return text if len(text) <= length else text[: length - len(MARKER)] + MARKER


@functools.cache
def _limited(cls: type) -> tuple[tuple[str, int], ...]:
    """(attribute, length) of every length-limited text column of a mapped class."""
    found = []
    for prop in inspect(cls).column_attrs:
        kind = prop.columns[0].type
        kind = getattr(kind, "impl_instance", kind)  # sqlmodel's AutoString wraps a String
        if isinstance(kind, String) and kind.length:
            found.append((prop.key, kind.length))
    return tuple(found)


def _fit_all(session: Session, _context: Any, _instances: Any) -> None:
    for obj in itertools.chain(session.new, session.dirty):
        for attr, length in _limited(type(obj)):
            value = getattr(obj, attr, None)
            if isinstance(value, str) and len(value) > length:
                setattr(obj, attr, fit(value, length))


class FittingSession(Session):
    """The sync half of every AsyncSession the Database hands out."""


event.listen(FittingSession, "before_flush", _fit_all)


def fit_values(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """The same cut for a row written with a Core INSERT (bulk ingest), which no flush sees."""
    for attr, length in _limited(cls):
        value = values.get(attr)
        if isinstance(value, str) and len(value) > length:
            values[attr] = fit(value, length)
    return values
